"""Deployments against a live server: two registry versions of SmolLM2 imported with the CLI, a
deployment switched by the CLI (another process) under continuous load from parallel clients, canary,
promote and rollback with zero failed requests and the version in every response's headers; then a
corrupted stored version, refused with a clear error while the previous version keeps serving."""
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import BIN, SMOL, Server

pytestmark = pytest.mark.skipif(not os.path.exists(SMOL), reason="needs the SmolLM2 model (HEARTH_MODELS)")


def hearth(home, *args, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env["HEARTH_HOME"] = str(home)
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"hearth {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def variant_of(src, dst, letter):
    """A byte-different copy of `src` that serves the same: one letter of general.name changed."""
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        head = f.read(1 << 16)
        i = head.index(b"general.name")
        (n,) = struct.unpack("<Q", head[i + 16:i + 24])
        assert n > 0
        f.seek(i + 24)
        f.write(letter)
    return dst


def call(base, key, path, body=None, method=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method or ("POST" if data else "GET"),
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, json.loads(e.read() or b"null")


class Load:
    """Parallel clients sending chat requests to `model` until stopped; keeps every outcome."""

    def __init__(self, server, model, clients=4):
        self.server, self.model = server, model
        self.results = []  # (start, end, status, version header)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(clients)]
        for t in self.threads:
            t.start()

    def client(self, i):
        n = 0
        while not self.stopping.is_set():
            body = {"model": self.model, "messages": [{"role": "user", "content": f"Say a number: {i}.{n}"}],
                    "max_tokens": 3, "temperature": 0, "user": f"u{i}"}
            start = time.time()
            try:
                status, headers, _ = call(self.server.base, self.server.api_key, "/v1/chat/completions", body)
                version = headers.get("x-hearth-model-version")
            except Exception as e:  # a refused connection or a reset counts as a failure too
                status, version = repr(e), None
            with self.lock:
                self.results.append((start, time.time(), status, version))
            n += 1

    def since(self, t):
        with self.lock:
            return [r for r in self.results if r[0] >= t]

    def wait_for(self, predicate, timeout=20):
        """Waits until the responses started after now satisfy `predicate`; returns them."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            rs = self.since(t0)
            if predicate(rs):
                return rs
            time.sleep(0.05)
        raise AssertionError(f"timed out; versions seen: {sorted(set(r[3] for r in self.since(t0)), key=str)}")

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=60)


def serving(server, key):
    status, _, body = call(server.base, key, "/v1/admin/deployments/chat")
    assert status == 200, body
    return body["serving"], body["deployment"]["state"]


def test_canary_promote_rollback_under_load_and_corrupt_version():
    home = tempfile.mkdtemp(prefix="hearth-dep-")
    work = tempfile.mkdtemp(prefix="hearth-dep-files-")
    server = Server(["--model", SMOL, "--kv-cache-tokens", "4096", "--max-sequences", "16", "--max-queue", "64"], home=home)
    load = None
    try:
        op = server.metrics_key  # an operator key of tenant "integration"
        hearth(home, "model", "import", SMOL, "--name", "smol", "--version", "1")
        hearth(home, "model", "import", variant_of(SMOL, os.path.join(work, "v2.gguf"), b"T"), "--name", "smol", "--version", "2")
        out = hearth(home, "deploy", "chat", "--tenant", "integration", "--model", "smol", "--version", "1").stdout
        assert out.strip() == "deployed chat: single smol:1 (revision 1)"

        # The server picks up the CLI's change from the shared store (poll, verify, load); until then
        # "chat" is an unknown model. The load starts once it is served, and from then on nothing may fail.
        t = time.time()
        while True:
            status, headers, _ = call(server.base, server.api_key, "/v1/chat/completions",
                                      {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1})
            if status == 200:
                break
            assert status == 404 and time.time() - t < 30, status
            time.sleep(0.05)
        assert headers.get("x-hearth-model-version") == "smol:1" and headers.get("x-hearth-deployment") == "chat", headers
        load = Load(server, "chat")
        load.wait_for(lambda rs: len(rs) >= 4 and all(r[3] == "smol:1" for r in rs), timeout=30)

        out = hearth(home, "deploy", "chat", "--tenant", "integration", "--version", "2", "--strategy", "canary", "--weight", "30").stdout
        assert out.strip() == "deployed chat: canary smol:1 + smol:2 at 30% (revision 2)"
        rs = load.wait_for(lambda rs: {"smol:1", "smol:2"} <= {r[3] for r in rs} and len(rs) >= 12, timeout=30)

        hearth(home, "promote", "chat", "--tenant", "integration")
        t = time.time()
        while serving(server, op)[0] != {"strategy": "single", "primary": {"model": "smol", "version": "2"}, "weight": 0, "sticky": "user"}:
            assert time.time() - t < 2, "the promotion was not served within 2 s"
            time.sleep(0.02)
        load.wait_for(lambda rs: len(rs) >= 8 and all(r[3] == "smol:2" for r in rs), timeout=10)

        # Rollback: back to the canary, switched within a second (both versions are still loaded).
        hearth(home, "rollback", "chat", "--tenant", "integration")
        t = time.time()
        while True:
            live, stored = serving(server, op)
            if live == stored and live["strategy"] == "canary":
                break
            assert time.time() - t < 1.0, "the rollback was not served within a second"
            time.sleep(0.02)
        load.wait_for(lambda rs: "smol:1" in {r[3] for r in rs}, timeout=10)

        # A corrupt stored version is refused by the CLI and by the admin API; the canary keeps serving.
        imported = hearth(home, "model", "import", variant_of(SMOL, os.path.join(work, "v3.gguf"), b"U"), "--name", "smol", "--version", "3").stdout
        digest = re.search(r"sha256:([0-9a-f]{64})", imported).group(1)
        blob = os.path.join(home, "blobs", "sha256", digest)
        os.chmod(blob, 0o644)
        with open(blob, "r+b") as f:
            f.seek(os.path.getsize(blob) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0xFF]))
        p = hearth(home, "deploy", "chat", "--tenant", "integration", "--version", "3", check=False)
        assert p.returncode == 2, p
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and "model smol:3 is corrupt" in lines[0] and "refusing to use it" in lines[0], p.stderr
        status, _, body = call(server.base, op, "/v1/admin/deployments", {"name": "chat", "version": "3"})
        assert status == 422 and "model smol:3 is corrupt" in body["error"]["message"], body
        rs = load.wait_for(lambda rs: len(rs) >= 8, timeout=10)
        assert {r[3] for r in rs} <= {"smol:1", "smol:2"}
        assert serving(server, op)[1]["strategy"] == "canary"

        load.stop()
        failed = [r for r in load.results if r[2] != 200]
        assert not failed, f"{len(failed)} of {len(load.results)} requests failed: {failed[:5]}"
        assert all(r[3] in ("smol:1", "smol:2") for r in load.results)
        assert len(load.results) > 40

        # Feedback on a response, and the A/B report that counts it.
        status, headers, body = call(server.base, server.api_key, "/v1/chat/completions",
                                     {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
        assert status == 200 and headers.get("x-hearth-deployment") == "chat"
        status, _, fb = call(server.base, server.api_key, "/v1/feedback", {"response_id": body["id"], "score": 1, "comment": "ok"})
        assert status == 201 and fb["deployment"] == "chat", fb
        report = json.loads(hearth(home, "ab", "report", "chat", "--tenant", "integration", "--json").stdout)
        assert sum(r["requests"] for r in report) >= len(load.results)
        assert sum(r["feedbackCount"] for r in report) == 1
        metrics = server.metrics()
        assert 'hearth_deployment_requests_total{deployment="chat",version="smol:2"' in metrics
    finally:
        if load:
            load.stop()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
