"""The model registry and the compression/evaluation commands, through the release binary:
`hearth model import|list|show|verify|remove`, `hearth quantize`, `hearth eval perplexity|compare`,
checked against llama.cpp's own tools (built by scripts/install-llamacpp): the quantized files are
the ones llama-quantize writes, they load and generate in llama-simple, and Hearth's perplexity is
within 1 % of llama-perplexity's on the same corpus file, context and chunks.

Environment: HEARTH_BIN, HEARTH_MODELS (see conftest.py)."""
import json
import os
import re
import subprocess

import numpy as np
import pytest
from gguf import GGUFReader

from conftest import BIN, ROOT, SMOL

# llama-perplexity settings shared with `hearth eval perplexity`: windows of CTX tokens, the first
# CHUNKS of them (CHUNKS * (CTX/2 - 1) scored tokens); about half a minute each on 2 cores.
CTX, CHUNKS = 512, 4
# A prefix of the corpus: enough tokens for CHUNKS windows, so both tools tokenize little.
PREFIX_CHARS = 16_000


def hearth(home, *args, check=True, timeout=600):
    e = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    e["HEARTH_HOME"] = str(home)
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=e, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"hearth {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def one_line_error(p):
    assert p.returncode != 0, p.stdout
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("hearth: error: "), p.stderr
    return lines[0]


def last_error_line(p):
    """The one error line of a command that worked for a while first: everything else on stderr is a
    plain progress line (stderr is not a terminal here), and the error comes last."""
    assert p.returncode != 0, p.stdout
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert lines and lines[-1].startswith("hearth: error: "), p.stderr
    assert all(re.match(r"^hearth: [a-z]+ \d+% \(", l) for l in lines[:-1]), p.stderr
    return lines[-1]


@pytest.fixture(scope="module")
def llama_bin():
    tools = "llama-perplexity llama-quantize llama-simple"
    env = {**os.environ, "LLAMACPP_TOOLS": tools}
    out = subprocess.run([os.path.join(ROOT, "scripts", "install-llamacpp")], capture_output=True, text=True, env=env,
                         timeout=3600, check=True).stdout.strip()
    for t in tools.split():
        assert os.access(os.path.join(out, t), os.X_OK), f"{t} missing from {out}"
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The first PREFIX_CHARS characters of Pride and Prejudice (scripts/eval-corpus)."""
    full = subprocess.run([os.path.join(ROOT, "scripts", "eval-corpus")], capture_output=True, text=True, check=True,
                          timeout=600).stdout.strip()
    # The script prints a path relative to the repository root (or an absolute one).
    text = open(os.path.join(ROOT, full), encoding="utf-8").read()[:PREFIX_CHARS]
    path = tmp_path_factory.mktemp("corpus") / "pride-and-prejudice-prefix.txt"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """SmolLM2 Q4_1 re-quantized by Hearth to Q8_0 and Q4_0: {type: path}."""
    d = tmp_path_factory.mktemp("quantized")
    out = {}
    for t in ["Q8_0", "Q4_0"]:
        path = str(d / f"smollm2.{t}.gguf")
        p = hearth(d, "quantize", SMOL, path, "--type", t, "--threads", "2")
        assert p.stdout.startswith(f"wrote {path}: {t}, 272 tensors"), p.stdout
        out[t] = path
    return out


@pytest.mark.parametrize("t", ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"])
def test_quantized_files_are_what_llama_quantize_writes(t, quantized, llama_bin, tmp_path):
    """Same tensor types (llama-quantize's Q4_K/Q5_K are its _M mixes) and the same bytes."""
    ours = quantized.get(t)
    if ours is None:
        ours = str(tmp_path / f"hearth.{t}.gguf")
        hearth(tmp_path, "quantize", SMOL, ours, "--type", t, "--threads", "2")
    theirs = str(tmp_path / f"llama-quantize.{t}.gguf")
    p = subprocess.run([os.path.join(llama_bin, "llama-quantize"), "--allow-requantize", SMOL, theirs, t, "2"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    a, b = GGUFReader(ours), GGUFReader(theirs)
    # llama-quantize writes the tensors in its own order (Hearth keeps the input's); compare by name.
    ta, tb = {x.name: x for x in a.tensors}, {x.name: x for x in b.tensors}
    assert sorted(ta) == sorted(tb)
    types = {n: (ta[n].tensor_type.name, tb[n].tensor_type.name) for n in ta}
    assert all(x == y for x, y in types.values()), {n: v for n, v in types.items() if v[0] != v[1]}
    for key in ["general.file_type", "general.quantization_version"]:
        assert a.fields[key].parts[-1][0] == b.fields[key].parts[-1][0], key
    # The same reference quantizers (ggml's quantize_row_*_ref, no importance matrix): the same bytes.
    differing = total = 0
    for name, x in ta.items():
        y = tb[name]
        da, db = np.asarray(x.data).view(np.uint8).ravel(), np.asarray(y.data).view(np.uint8).ravel()
        assert da.size == db.size, name
        total += da.size
        differing += int(np.count_nonzero(da != db))
    assert differing == 0, f"{t}: {differing} of {total} bytes differ from llama-quantize"
    if t == "Q8_0":
        # The metadata is kept: every key of the input, with its value (the file type aside).
        src = GGUFReader(SMOL)
        for key, f in src.fields.items():
            if key.startswith("GGUF.") or key == "general.file_type":
                continue
            g = a.fields[key]
            assert len(f.data) == len(g.data) and all(
                np.array_equal(f.parts[i], g.parts[j]) for i, j in zip(f.data, g.data)), key


def test_quantized_files_load_and_generate_in_llama_cpp(quantized, llama_bin):
    for t, path in quantized.items():
        p = subprocess.run([os.path.join(llama_bin, "llama-simple"), "-m", path, "-n", "12", "The capital of France is"],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        assert f"file type   = {t}" in p.stderr, p.stderr[-2000:]
        reply = p.stdout.split("The capital of France is", 1)[-1]
        assert len(reply.strip()) > 0, f"{t}: llama-simple generated nothing: {p.stdout!r}"


def test_quantized_files_load_and_generate_in_hearth(quantized, tmp_path):
    for t, path in quantized.items():
        p = hearth(tmp_path, "generate", "--model", path, "--prompt", "The capital of France is", "--raw",
                   "--max-tokens", "12", "--temperature", "0", "--threads", "2")
        assert p.stdout.strip(), f"{t}: hearth generated nothing"


def parse_ppl(text):
    m = re.search(r"PPL = ([0-9.]+)", text)
    assert m, text
    return float(m.group(1))


def test_perplexity_is_within_one_percent_of_llama_perplexity(llama_bin, corpus, tmp_path):
    ours = hearth(tmp_path, "eval", "perplexity", SMOL, "--text", corpus, "--ctx", str(CTX), "--chunks", str(CHUNKS),
                  "--threads", "2")
    assert f"{CHUNKS} windows of {CTX} tokens, {CHUNKS * (CTX // 2 - 1)} scored tokens" in ours.stdout, ours.stdout
    p = subprocess.run([os.path.join(llama_bin, "llama-perplexity"), "-m", SMOL, "-f", corpus, "-c", str(CTX),
                        "--chunks", str(CHUNKS), "-t", "2"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    final = [l for l in (p.stdout + p.stderr).splitlines() if "Final estimate: PPL = " in l]
    assert final, p.stderr[-2000:]
    a, b = parse_ppl(ours.stdout), parse_ppl(final[0])
    print(f"measured: SmolLM2 Q4_1 perplexity, ctx {CTX} x {CHUNKS}: hearth {a:.4f}, llama-perplexity {b:.4f} "
          f"({(a / b - 1) * 100:+.3f} %)")
    assert abs(a / b - 1) < 0.01, (a, b)


def test_eval_compare_reports_the_change(quantized, corpus, tmp_path):
    for t, path in quantized.items():
        p = hearth(tmp_path, "eval", "compare", SMOL, path, "--text", corpus, "--ctx", "256", "--chunks", "4", "--threads", "2",
                   check=False)
        print(f"measured: eval compare Q4_1 -> {t}:\n{p.stdout}")
        assert re.search(r"^base +PPL = [0-9.]+", p.stdout, re.M), p.stdout
        assert re.search(r"^candidate +PPL = [0-9.]+", p.stdout, re.M), p.stdout
        assert re.search(r"^KL divergence: mean [0-9.]+, p99 [0-9.]+", p.stdout, re.M), p.stdout
        assert re.search(r"^top-1 agreement: [0-9.]+ %", p.stdout, re.M), p.stdout
        verdict = re.search(r"^perplexity ([+-][0-9.]+) % \(limit 2 %\) (PASS|FAIL)$", p.stdout, re.M)
        assert verdict, p.stdout
        assert p.returncode == (0 if verdict.group(2) == "PASS" else 1), (p.returncode, p.stdout, p.stderr)
    # Q8_0 holds Q4_1's values almost exactly: well inside a 2 % limit. A limit nothing can meet fails.
    assert hearth(tmp_path, "eval", "compare", SMOL, quantized["Q8_0"], "--text", corpus, "--ctx", "256", "--chunks", "2",
                  "--threads", "2").stdout.rstrip().endswith("PASS")
    p = hearth(tmp_path, "eval", "compare", SMOL, quantized["Q4_0"], "--text", corpus, "--ctx", "256", "--chunks", "2",
               "--threads", "2", "--min-top1", "100%", check=False)
    assert p.returncode == 1 and re.search(r"^top-1 agreement [0-9.]+ % \(limit 100 %\) FAIL$", p.stdout, re.M), p.stdout


def test_registry_import_list_show_verify_remove(tmp_path):
    home = tmp_path / "data"
    p = hearth(home, "model", "import", SMOL, "--name", "smollm2")
    assert re.match(r"^imported smollm2:1 sha256:[0-9a-f]{64} \(93\.81 MiB, llama, 134\.5M params, Q4_1\+Q8_0\+F32\)", p.stdout), p.stdout
    digest = re.search(r"sha256:[0-9a-f]{64}", p.stdout).group(0)
    expected = subprocess.run(["sha256sum", SMOL], capture_output=True, text=True, check=True).stdout.split()[0]
    assert digest == "sha256:" + expected
    blob = home / "blobs" / "sha256" / expected
    # Stored read-only: nothing rewrites a blob in place.
    assert blob.is_file() and (blob.stat().st_mode & 0o777) == 0o444

    # A pinned digest: the right one imports, another is refused after hashing and stores nothing new.
    hearth(home, "model", "import", SMOL, "--name", "smollm2", "--version", "v2", "--digest", digest)
    line = last_error_line(hearth(home, "model", "import", SMOL, "--name", "smollm2", "--digest", "sha256:" + "0" * 64,
                                  check=False))
    assert line == f"hearth: error: {SMOL} hashes to {digest}, not the expected sha256:{'0' * 64}; not imported"
    assert os.listdir(home / "blobs" / "sha256") == [expected] and os.listdir(home / "blobs" / "tmp") == []
    listing = hearth(home, "model", "list").stdout.splitlines()
    assert listing[0].split()[:4] == ["NAME", "VERSION", "ARCH", "PARAMS"]
    assert [l.split()[:2] for l in listing[1:]] == [["smollm2", "1"], ["smollm2", "v2"]]
    m = json.loads(hearth(home, "model", "show", "smollm2:1").stdout)
    assert m["digest"] == digest and m["architecture"] == "llama" and m["context_length"] == 8192
    assert m["license"] == "apache-2.0" and m["chat_template"]["present"] is True
    assert {q["type"] for q in m["quant_types"]} == {"Q4_1", "Q8_0", "F32"}
    assert "ok    smollm2:1 " + digest in hearth(home, "model", "verify").stdout

    # Corrupt the stored file: verify re-hashes, refuses it, and says which model and why.
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as f:
        f.seek(50_000_000)
        b = f.read(1)
        f.seek(50_000_000)
        f.write(bytes([b[0] ^ 1]))
    p = hearth(home, "model", "verify", "smollm2:1", check=False)
    assert p.returncode == 1
    assert re.search(r"^FAIL  smollm2:1 model smollm2:1 is corrupt: its stored bytes hash to sha256:[0-9a-f]{64}, not "
                     + digest + "; refusing to use it$", p.stdout, re.M), p.stdout
    assert last_error_line(p) == "hearth: error: 1 of 1 model versions failed verification"

    # Re-importing the same file stores intact bytes again; remove deletes the file with its last version.
    hearth(home, "model", "import", SMOL, "--name", "smollm2", "--version", "v3")
    assert "ok    smollm2:1" in hearth(home, "model", "verify", "smollm2:1").stdout
    assert "file kept" in hearth(home, "model", "remove", "smollm2:1").stdout
    assert "file kept" in hearth(home, "model", "remove", "smollm2:v2").stdout
    assert "file deleted" in hearth(home, "model", "remove", "smollm2:v3").stdout
    assert not blob.exists()
    assert "no models in" in hearth(home, "model", "list").stdout


@pytest.mark.parametrize("args,needle", [
    (["model", "import", SMOL, "--name", "../etc"], "invalid model name '../etc': it contains a path separator"),
    (["model", "import", SMOL, "--name", "a/b"], "it contains a path separator"),
    (["model", "import", SMOL, "--name", ".."], "it contains '..'"),
    (["model", "import", SMOL, "--name", "bad\x01name"], "invalid model name 'bad\\u{1}name': it contains a control character"),
    (["model", "import", SMOL, "--name", "ok", "--version", "1/../../x"], "invalid model version"),
    (["model", "import", SMOL, "--name", "ok", "--digest", "sha256:../../etc/passwd"], "invalid digest 'sha256:../../etc/passwd'"),
    (["model", "import", SMOL, "--name", "ok", "--digest", "sha256:" + "A" * 64], "invalid digest"),
    (["model", "import", "/nonexistent/model.gguf", "--name", "ok"], "cannot read /nonexistent/model.gguf"),
    (["model", "show", "../x"], "it contains a path separator"),
    (["model", "show", "absent"], "no model absent in the registry"),
    (["model", "verify", "absent:1"], "no model absent version 1 in the registry"),
    (["model", "remove", "absent"], "give the version to remove"),
    (["quantize", SMOL, "/tmp/hearth-never-written.gguf", "--type", "Q3_K"], "--type must be one of"),
    (["quantize", "/nonexistent/in.gguf", "/tmp/hearth-never-written.gguf", "--type", "Q8_0"], "no such file: /nonexistent/in.gguf"),
    (["quantize", SMOL, SMOL, "--type", "Q8_0"], "is the input file"),
    (["eval", "perplexity", SMOL, "--text", "/nonexistent/text.txt"], "no such file: /nonexistent/text.txt"),
    (["eval", "perplexity", "/nonexistent/m.gguf", "--text", os.path.join(ROOT, "README.md")], "no such file: /nonexistent/m.gguf"),
    (["prune", SMOL, "/tmp/hearth-never-written.gguf", "--drop-layers", "3-1"], "--drop-layers '3-1'"),
    (["prune", SMOL, "/tmp/hearth-never-written.gguf", "--drop-layers", "30"], "layer 30 does not exist"),
])
def test_bad_input_is_one_line_and_non_zero(tmp_path, args, needle):
    home = tmp_path / "data"
    p = hearth(home, *args, check=False)
    line = one_line_error(p)
    assert needle in line, line
    assert not os.path.exists("/tmp/hearth-never-written.gguf")
    # Nothing was stored for a refused import.
    assert not (home / "blobs" / "sha256").exists() or not any((home / "blobs" / "sha256").iterdir())


def test_a_text_too_short_for_two_windows_is_refused(tmp_path):
    text = tmp_path / "short.txt"
    text.write_text("It is a truth universally acknowledged.")
    line = one_line_error(hearth(tmp_path, "eval", "perplexity", SMOL, "--text", str(text), check=False))
    assert "needs at least 1024" in line, line
