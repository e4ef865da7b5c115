"""`hearth plan` through the CLI, as an operator types it: a registry model as input (plain and
encrypted at rest), case-insensitive names, a catalogue file, and one-line errors that name the flag."""
import base64
import json
import os
import subprocess
import tempfile

import pytest

from conftest import BIN, SMOL


def plan(*args, home=None, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    if home:
        env["HEARTH_HOME"] = home
    p = subprocess.run([BIN, "plan", *args], capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def error_line(p, code=64):
    """The one line a refused command prints, after checking its exit code and that nothing else was printed."""
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == "" and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith("hearth: error: "), p.stderr
    return p.stderr.strip()


def as_json(p):
    return json.loads(p.stdout)


def test_presets_and_gpus_are_case_insensitive_and_known_figures_hold():
    d = as_json(plan("--preset", "LLAMA-2-70B", "--weights", "f16", "--kv", "f16", "--gpu", "H100-80GB", "--json"))
    # Issue 7's figures: ~140 GB of F16 weights -> 2 x 80 GB; 0.3125 MiB of KV per token.
    assert 136e9 < d["weights_bytes"] < 140e9
    assert d["kv_bytes_per_token"] == 0.3125 * 1024 * 1024
    assert d["gpus"] == 2 and d["tensor_parallel"] == 2
    for key in ("kv_bytes_total", "max_concurrency", "decode_tokens_per_s", "prefill_tokens_per_s", "cost_per_million_tokens"):
        assert key in d, key
    assert d == as_json(plan("--preset", "llama-2-70b", "--weights", "F16", "--gpu", "h100-80gb", "--json"))


@pytest.mark.skipif(not os.path.exists(SMOL), reason="needs the SmolLM2 model (HEARTH_MODELS)")
def test_registry_model_as_input_plain_and_encrypted():
    home = tempfile.mkdtemp(prefix="hearth-plan-")
    keydir = tempfile.mkdtemp(prefix="hearth-plan-key-")
    keyfile = os.path.join(keydir, "master.key")
    with open(keyfile, "w") as f:
        f.write(base64.b64encode(os.urandom(32)).decode())
    os.chmod(keyfile, 0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env["HEARTH_HOME"] = home
    for args in (["--name", "smol", "--version", "1"], ["--name", "vault", "--version", "1", "--encrypt", "--master-key-file", keyfile]):
        p = subprocess.run([BIN, "model", "import", SMOL, *args], capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0, p.stderr

    common = ["--gpu", "l4", "--context", "4096", "--concurrency", "4", "--json"]
    from_file = as_json(plan("--model", SMOL, *common, home=home))
    for ref in ("smol", "smol:1"):
        assert as_json(plan("--model", ref, *common, home=home)) == from_file, ref
    # The same through --data-dir instead of HEARTH_HOME.
    assert as_json(plan("--model", "smol:1", "--data-dir", home, *common)) == from_file

    # Encrypted at rest: it says it needs the key, then plans from the decrypted header.
    line = error_line(plan("--model", "vault", *common, home=home, check=False))
    assert "vault:1 is encrypted at rest" in line and "--master-key-file" in line, line
    assert as_json(plan("--model", "vault:1", "--master-key-file", keyfile, *common, home=home)) == from_file

    line = error_line(plan("--model", "smol:7", *common, home=home, check=False))
    assert line.startswith("hearth: error: --model 'smol:7': no such file, and no registry model smol:7"), line
    line = error_line(plan("--model", "../etc/passwd", *common, home=home, check=False), code=2)
    assert line.startswith("hearth: error: --model ../etc/passwd:"), line


def test_errors_name_the_field():
    cases = [
        (["--preset", "llama-2-70", "--gpu", "h100-80gb"], "--preset: unknown model 'llama-2-70'; did you mean 'llama-2-70b'"),
        (["--preset", "llama-2-7b", "--gpu", "h100-8gb"], "--gpu: unknown hardware 'h100-8gb'; did you mean 'h100-80gb'"),
        (["--preset", "llama-2-7b", "--gpu", "h100-80gb", "--concurrency", "-3"], "--concurrency must be a positive number"),
        (["--preset", "llama-2-7b", "--gpu", "h100-80gb", "--concurrency", "0"], "--concurrency must be a positive number"),
        (["--preset", "llama-2-7b", "--gpu", "h100-80gb", "--context", "-1"], "--context must be a positive number"),
        (["--preset", "llama-2-7b", "--gpu", "h100-80gb", "--context", "100000"], "--context 100000 is above llama-2-7b's maximum context of 4096"),
        (["--preset", "llama-2-7b", "--gpu", "h100-80gb", "--weights", "q3"], "--weights 'q3' is not a weight format"),
        (["--preset", "llama-2-7b", "--gpu", "h100-80gb", "--kv", "int2"], "--kv 'int2' is not a KV cache type"),
        (["--preset", "llama-2-7b", "--gpu", "h100-80gb", "--price-per-hour", "-2"], "--price-per-hour"),
        (["--preset", "llama-2-7b", "--gpu", "h100-80gb", "--cpu"], "--gpu NAME or --cpu [NAME] is required (exactly one)"),
        (["--gpu", "h100-80gb"], "--preset NAME or --model PATH is required (exactly one)"),
    ]
    for args, want in cases:
        line = error_line(plan(*args, check=False))
        assert line.startswith("hearth: error: " + want), (args, line)


def test_catalogue_file_adds_a_device(tmp_path):
    cat = tmp_path / "gpus.json"
    cat.write_text(json.dumps({"hardware": [
        {"name": "MI300X", "kind": "gpu", "memory_gib": 192, "bandwidth_gbps": 5300, "fp16_tflops": 1307.4,
         "int8_tops": 2614.9, "price_per_hour": 3.5, "spot_price_per_hour": 1.75, "source": "AMD Instinct MI300X datasheet"}]}))
    d = as_json(plan("--preset", "llama-2-70b", "--weights", "F16", "--gpu", "mi300x", "--catalog", str(cat), "--json"))
    assert d["gpus"] == 1  # 138 GB of weights fit one 192 GiB device
    assert d["cost_per_million_tokens"] > 0 and d["cost_per_million_tokens_spot"] == pytest.approx(d["cost_per_million_tokens"] / 2, rel=1e-3)  # printed rounded
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "x", "kind": "gpu", "memory_gib": 0, "bandwidth_gbps": 1, "fp16_tflops": 1, "int8_tops": 1, "source": "s"}]))
    line = error_line(plan("--preset", "llama-2-7b", "--gpu", "x", "--catalog", str(bad), check=False))
    assert line.startswith(f"hearth: error: --catalog {bad}: entry 1 ('x'): memory_gib must be positive"), line
