"""Natively, on a CPU with AVX512-VNNI (+F, +BW, +VL) the release binary takes the avx512vnni kernel level,
and that level generates what the AVX2 level does: its Q16 kernels compute the same integer sums with
`vpdpwssd`, and its 512-bit decode kernels (Q4_1, Q5_0) add the same per-group products in another
float order, a difference of rounding only (docs/kernels.md). QEMU cannot emulate AVX-512, so this
runs only where the CPU has it."""
import os

import pytest

from conftest import BIN, SMOL
from test_portable_binary import BENCH, run  # the same short bench and environment-clean runner

pytestmark = pytest.mark.skipif(not os.path.exists(SMOL), reason="needs the SmolLM2 model (HEARTH_MODELS)")


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        return next((set(l.split(":", 1)[1].split()) for l in f if l.startswith("flags")), set())


# A prompt long enough for the prefill gemm (not only the decode dots) to run.
LONG = ["generate", "--model", SMOL, "--raw", "--max-tokens", "24", "--temperature", "0", "--prompt",
        "Here is a short list of the capitals of European countries, with one line for each country: "
        "France, Paris. Germany, Berlin. Spain, Madrid. Italy,"]


@pytest.mark.skipif(not {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"} <= cpu_flags(), reason="needs a CPU with AVX512-VNNI")
def test_takes_the_vnni_kernels_where_the_cpu_has_them_and_they_change_nothing():
    header = run([BIN, *BENCH]).splitlines()[0]
    assert "kernels: avx512vnni (" in header, header
    vnni = run([BIN, *LONG])
    avx2 = run([BIN, *LONG], env={"HEARTH_KERNELS": "avx2"})
    assert vnni == avx2 and "Rome" in vnni, (vnni, avx2)
