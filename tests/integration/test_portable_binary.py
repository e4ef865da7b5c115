"""The release binary is built for plain x86-64 (no -march=native) and picks its kernels at run time:
under QEMU as an x86-64-v2 CPU (Nehalem: SSE4.2, no AVX) it runs the portable kernels and gives the
same text as those kernels do natively; as a Haswell (AVX2, FMA, F16C) it takes the AVX2 kernels."""
import os
import shutil
import subprocess

import pytest

from conftest import BIN, SMOL

QEMU = shutil.which("qemu-x86_64")
pytestmark = [
    pytest.mark.skipif(QEMU is None, reason="needs qemu-x86_64 (scripts/test installs qemu-user)"),
    pytest.mark.skipif(not os.path.exists(SMOL), reason="needs the SmolLM2 model (HEARTH_MODELS)"),
]
GENERATE = ["generate", "--model", SMOL, "--prompt", "The capital of France is", "--raw", "--max-tokens", "4", "--temperature", "0"]
BENCH = ["bench", "--model", SMOL, "--pp", "4", "--tg", "2", "--reps", "1", "--threads", "1"]


def run(cmd, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    e.update(env or {})
    p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=300)
    assert p.returncode == 0, (cmd, p.stderr)
    return p.stdout


def test_runs_on_x86_64_v2_with_the_portable_kernels():
    header = run([QEMU, "-cpu", "Nehalem", BIN, *BENCH]).splitlines()[0]
    assert "kernels: scalar (sse4.2)" in header, header
    emulated = run([QEMU, "-cpu", "Nehalem", BIN, *GENERATE])
    native = run([BIN, *GENERATE], env={"HEARTH_KERNELS": "scalar"})
    assert emulated == native and "Paris" in emulated, (emulated, native)


def test_takes_the_avx2_kernels_where_the_cpu_has_them():
    header = run([QEMU, "-cpu", "Haswell", BIN, *BENCH]).splitlines()[0]
    assert "kernels: avx2 (sse4.2 avx avx2 fma f16c" in header, header
