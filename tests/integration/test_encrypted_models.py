"""Model files encrypted at rest: `hearth model import --encrypt` stores only ciphertext, `model verify`
needs the master key to check it, a deployment serves it (decrypted into memory at load), and a
tampered file is refused."""
import base64
import json
import os
import shutil
import tempfile
import time

import pytest

from conftest import SMOL, Server
from test_deployments import call, hearth

pytestmark = pytest.mark.skipif(not os.path.exists(SMOL), reason="needs the SmolLM2 model (HEARTH_MODELS)")


def test_encrypted_import_verify_serve_and_tamper():
    home = tempfile.mkdtemp(prefix="hearth-enc-")
    keydir = tempfile.mkdtemp(prefix="hearth-enc-key-")  # the master key is never kept in the data dir
    keyfile = os.path.join(keydir, "master.key")
    with open(keyfile, "w") as f:
        f.write(base64.b64encode(os.urandom(32)).decode())
    os.chmod(keyfile, 0o600)
    server = Server(["--model", SMOL, "--master-key-file", keyfile], home=home)
    try:
        # Without a master key, --encrypt is refused in one line before anything is stored.
        p = hearth(home, "model", "import", SMOL, "--name", "smol", "--encrypt", check=False)
        assert p.returncode == 64 and "needs a master key" in p.stderr and p.stderr.count("\n") == 1, p.stderr
        out = hearth(home, "model", "import", SMOL, "--name", "smol", "--version", "1", "--encrypt", "--master-key-file", keyfile).stdout
        assert "stored encrypted (envelope-aes-256-gcm)" in out, out
        digest = out.split("sha256:")[1].split()[0]
        blobs = os.listdir(os.path.join(home, "blobs", "sha256"))
        assert blobs == [digest + ".sealed"], blobs
        sealed = os.path.join(home, "blobs", "sha256", digest + ".sealed")
        data = open(sealed, "rb").read()
        for plain in (b"GGUF", b"general.architecture", b"tokenizer.ggml.tokens", b"<|im_start|>"):
            assert plain not in data, plain
        # The import is an audited admin change, with the manifest it recorded.
        export = hearth(home, "audit", "export", "--format", "jsonl", "--master-key-file", keyfile).stdout.splitlines()
        imports = [json.loads(l) for l in export if '"model.import"' in l]
        assert len(imports) == 1 and imports[0]["target"] == "model:smol:1" and digest in imports[0]["after"], imports
        listing = hearth(home, "model", "list").stdout
        assert "ENCRYPTED" in listing and " yes " in listing.splitlines()[1], listing

        # Verifying means decrypting: without the key it fails and says what it needs.
        p = hearth(home, "model", "verify", "smol:1", check=False)
        assert p.returncode == 1 and "needs the master key" in p.stdout, p.stdout + p.stderr
        assert hearth(home, "model", "verify", "smol:1", "--master-key-file", keyfile).stdout.startswith("ok    smol:1 sha256:" + digest)

        # A deployment serves it: the running server decrypts it into memory when it loads the version.
        hearth(home, "deploy", "chat", "--tenant", "integration", "--model", "smol", "--version", "1", "--master-key-file", keyfile)
        deadline = time.time() + 60
        while True:
            status, headers, body = call(server.base, server.api_key, "/v1/chat/completions",
                                         {"model": "chat", "messages": [{"role": "user", "content": "What is the capital of France?"}],
                                          "max_tokens": 8, "temperature": 0})
            if status == 200 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert status == 200 and headers.get("x-hearth-model-version") == "smol:1", (status, body)
        assert "Paris" in body["choices"][0]["message"]["content"], body

        # One flipped byte in the ciphertext: verification names the model and refuses it.
        os.chmod(sealed, 0o644)
        with open(sealed, "r+b") as f:
            f.seek(len(data) // 2)
            b = f.read(1)
            f.seek(len(data) // 2)
            f.write(bytes([b[0] ^ 1]))
        p = hearth(home, "model", "verify", "smol:1", "--master-key-file", keyfile, check=False)
        assert p.returncode == 1 and "FAIL  smol:1" in p.stdout and "encrypted file refused" in p.stdout, p.stdout
        # The version already loaded keeps serving from memory.
        status, headers, _ = call(server.base, server.api_key, "/v1/chat/completions",
                                  {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
        assert status == 200 and headers.get("x-hearth-model-version") == "smol:1"
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(keydir, ignore_errors=True)
