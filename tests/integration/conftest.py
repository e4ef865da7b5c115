"""Starts a real `hearth serve` (the release binary) on a free loopback port for the tests, over a
fresh data dir (HEARTH_HOME) in which the fixture first makes a tenant and API keys with the CLI, as an
operator would.

Environment: HEARTH_BIN (default .build/release/hearth), HEARTH_MODELS (default models/).
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("HEARTH_BIN", os.path.join(ROOT, ".build", "release", "hearth"))
MODELS = os.environ.get("HEARTH_MODELS", os.path.join(ROOT, "models"))
SMOL = os.path.join(MODELS, "SmolLM2-135M-Instruct.Q4_1.gguf")
MINILM = os.path.join(MODELS, "all-minilm-l6-v2")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hearth_cli(home, *args):
    """Runs `hearth ARGS` on the data dir `home`; returns its stdout, raising with stderr on failure."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env["HEARTH_HOME"] = str(home)
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"hearth {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p.stdout


def make_keys(home):
    """A tenant with a developer key (for the API) and an operator key (for /metrics) in `home`."""
    hearth_cli(home, "tenants", "create", "integration")
    api_key = hearth_cli(home, "keys", "create", "--tenant", "integration", "--name", "client").strip()
    metrics_key = hearth_cli(home, "keys", "create", "--tenant", "integration", "--name", "scraper", "--role", "operator").strip()
    return api_key, metrics_key


class Server:
    def __init__(self, args, env=None, home=None):
        self.home = home
        self.api_key = self.metrics_key = None
        if home is not None:
            self.api_key, self.metrics_key = make_keys(home)
            env = {**(env or {}), "HEARTH_HOME": str(home)}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(ROOT, ".build-fixtures", f"serve-{self.port}.log"), "w+")
        cmd = [BIN, "serve", "--port", str(self.port)] + args
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hearth serve exited with {self.proc.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(self.base + "/health/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError("hearth serve did not become ready: " + self.output())

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def metrics(self, headers=None):
        if headers is None and self.metrics_key:
            headers = {"Authorization": f"Bearer {self.metrics_key}"}
        req = urllib.request.Request(self.base + "/metrics", headers=headers or {})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read().decode()

    def metric(self, name, headers=None, **labels):
        """Sum of a metric's samples whose labels include `labels`."""
        total, found = 0.0, False
        for line in self.metrics(headers).splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            m = re.match(r"^(\w+)(\{[^}]*\})?\s+(\S+)$", line)
            if not m or m.group(1) != name:
                continue
            lab = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            if all(lab.get(k) == v for k, v in labels.items()):
                total += float(m.group(3))
                found = True
        return total if found else None

    def stop(self, sig=None):
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def server():
    args = ["--model", SMOL, "--model", f"minilm={MINILM}", "--alias", "default=SmolLM2-135M-Instruct.Q4_1",
            "--kv-cache-tokens", "8192", "--max-sequences", "16", "--max-queue", "64"]
    home = tempfile.mkdtemp(prefix="hearth-it-")
    s = Server(args, home=home)
    yield s
    s.stop()
    shutil.rmtree(home, ignore_errors=True)
