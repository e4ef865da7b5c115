"""TLS and directory logins against the real binary: `openssl s_client` proves TLS 1.2 is refused by
default and 1.3 works, curl proves mutual TLS refuses a client without a certificate, and a real
OpenLDAP slapd (scripts/ldap-test-server, started by scripts/test) backs POST /v1/auth/login."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from conftest import BIN, ROOT, SMOL, free_port, hearth_cli


def sh(*cmd, check=True, **kw):
    p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{cmd} exited {p.returncode}: {p.stderr}")
    return p


@pytest.fixture(scope="module")
def pki():
    """A CA, a server certificate for 127.0.0.1/localhost, and a client CA with one client certificate."""
    d = tempfile.mkdtemp(prefix="hearth-pki-")

    def ca(name):
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
           "-subj", f"/CN={name}", "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.pem")

    def leaf(name, issuer, ext):
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
           "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr")
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext)
        sh("openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{issuer}.pem", "-CAkey", f"{d}/{issuer}.key",
           "-CAcreateserial", "-days", "2", "-extfile", f"{d}/{name}.ext", "-out", f"{d}/{name}.pem")

    ca("server-ca")
    ca("client-ca")
    leaf("server", "server-ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    leaf("client", "client-ca", "extendedKeyUsage=clientAuth\n")
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Serve:
    """`hearth serve` with extra args over a fresh data dir; ready when `probe()` answers."""

    def __init__(self, args, probe, env=None):
        self.home = tempfile.mkdtemp(prefix="hearth-sec-")
        hearth_cli(self.home, "tenants", "create", "research")
        self.admin = hearth_cli(self.home, "keys", "create", "--name", "admin", "--role", "admin").strip()
        self.port = free_port()
        self.log = open(os.path.join(ROOT, ".build-fixtures", f"serve-sec-{self.port}.log"), "w+")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
        self.proc = subprocess.Popen([BIN, "serve", "--model", SMOL, "--port", str(self.port), *args], stdout=self.log,
                                     stderr=subprocess.STDOUT, env={**clean, "HEARTH_HOME": self.home, **(env or {})})
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, self.output()
            if probe(self.port):
                return
            time.sleep(0.25)
        raise RuntimeError("not ready: " + self.output())

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


def http_ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


def curl(port, path="/health/live", *extra):
    return sh("curl", "-sS", "--max-time", "10", *extra, f"https://127.0.0.1:{port}{path}", check=False)


def s_client(port, version, *extra):
    """True when a TLS handshake with exactly `version` (tls1_2 or tls1_3) completes."""
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", f"-{version}", "-brief", *extra],
                       input="", capture_output=True, text=True, timeout=20)
    return p.returncode == 0 and "CONNECTION ESTABLISHED" in (p.stdout + p.stderr)


def test_tls13_only_by_default(pki):
    cacert = ["--cacert", f"{pki}/server-ca.pem"]
    s = Serve(["--tls-cert", f"{pki}/server.pem", "--tls-key", f"{pki}/server.key"],
              probe=lambda port: curl(port, "/health/ready", *cacert).returncode == 0)
    try:
        assert s_client(s.port, "tls1_3")
        assert not s_client(s.port, "tls1_2")
        r = curl(s.port, "/v1/models", *cacert, "-H", f"Authorization: Bearer {s.admin}")
        assert r.returncode == 0 and json.loads(r.stdout)["data"][0]["id"] == "SmolLM2-135M-Instruct.Q4_1"
        # Plain HTTP on the TLS port gets no answer.
        p = sh("curl", "-sS", "--max-time", "5", f"http://127.0.0.1:{s.port}/health/live", check=False)
        assert p.returncode != 0 or "ok" not in p.stdout
    finally:
        s.stop()


def test_tls12_when_asked(pki):
    s = Serve(["--tls-cert", f"{pki}/server.pem", "--tls-key", f"{pki}/server.key", "--tls-min-version", "1.2"],
              probe=lambda port: curl(port, "/health/ready", "--cacert", f"{pki}/server-ca.pem").returncode == 0)
    try:
        assert s_client(s.port, "tls1_2") and s_client(s.port, "tls1_3")
    finally:
        s.stop()


def test_mutual_tls_refuses_a_client_without_a_certificate(pki):
    mine = ["--cert", f"{pki}/client.pem", "--key", f"{pki}/client.key", "--cacert", f"{pki}/server-ca.pem"]
    s = Serve(["--tls-cert", f"{pki}/server.pem", "--tls-key", f"{pki}/server.key", "--tls-client-ca", f"{pki}/client-ca.pem"],
              probe=lambda port: curl(port, "/health/ready", *mine).returncode == 0)
    try:
        assert curl(s.port, "/health/live", *mine).stdout.strip().startswith("{")
        bare = curl(s.port, "/health/live", "--cacert", f"{pki}/server-ca.pem")
        assert bare.returncode != 0 and "ok" not in bare.stdout
        # A certificate from another CA (the server's own) is refused too.
        other = curl(s.port, "/health/live", "--cert", f"{pki}/server.pem", "--key", f"{pki}/server.key", "--cacert", f"{pki}/server-ca.pem")
        assert other.returncode != 0
    finally:
        s.stop()


def test_bad_tls_files_fail_at_start_with_one_line(pki):
    p = subprocess.run([BIN, "serve", "--model", SMOL, "--port", str(free_port()), "--tls-cert", f"{pki}/nope.pem",
                        "--tls-key", f"{pki}/server.key"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "HEARTH_HOME": tempfile.mkdtemp(prefix="hearth-sec-")})
    assert p.returncode != 0
    assert "--tls-cert" in p.stderr and "nope.pem" in p.stderr
    p = subprocess.run([BIN, "serve", "--model", SMOL, "--tls-cert", f"{pki}/server.pem"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "--tls-key" in p.stderr


LDAP_ENV = ["LDAPS_URL", "LDAP_CA", "LDAP_BIND_DN", "LDAP_BIND_PASSWORD"]
ldap_available = all(os.environ.get(k) for k in LDAP_ENV)
ldap = pytest.mark.skipif(not ldap_available and os.environ.get("HEARTH_REQUIRE_LDAP") != "1",
                          reason="needs scripts/ldap-test-server (scripts/test starts it)")


@pytest.fixture(scope="module")
def directory_server():
    assert ldap_available, "HEARTH_REQUIRE_LDAP=1 but the LDAP test server's variables are not set"
    base = "dc=hearth,dc=test"
    cfg = {
        "url": os.environ["LDAPS_URL"], "ca_file": os.environ["LDAP_CA"],
        "user_search": {"bind_dn": os.environ["LDAP_BIND_DN"], "password_env": "HEARTH_TEST_LDAP_SVC", "base_dn": f"ou=people,{base}"},
        "group_base_dn": f"ou=groups,{base}",
        "group_filter": "(|(&(objectClass=groupOfNames)(member={dn}))(&(objectClass=posixGroup)(memberUid={username})))",
        "mappings": [{"group": "llm-admins", "role": "admin", "tenant": "default"},
                     {"group": "llm-auditors", "role": "auditor", "tenant": "research"},
                     {"group": "llm-developers", "role": "developer", "tenant": "research"}],
        "session_ttl_seconds": 600, "max_failed_logins": 3, "operation_timeout_seconds": 5,
    }
    d = tempfile.mkdtemp(prefix="hearth-ldapcfg-")
    path = os.path.join(d, "ldap.json")
    with open(path, "w") as f:
        json.dump(cfg, f)

    s = Serve(["--ldap-config", path], probe=http_ready, env={"HEARTH_TEST_LDAP_SVC": os.environ["LDAP_BIND_PASSWORD"]})
    s.base = f"http://127.0.0.1:{s.port}"
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


def call(s, method, path, body=None, token=None, headers=None):
    h = {"Content-Type": "application/json", **(headers or {})}
    if token:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(s.base + path, method=method, headers=h, data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), dict(e.headers)


def login(s, user, password, client=None):
    return call(s, "POST", "/v1/auth/login", {"username": user, "password": password})


@ldap
def test_directory_login_gives_a_session_with_the_mapped_role(directory_server):
    s = directory_server
    status, j, _ = login(s, "alice", "alice-Secret-1")
    assert status == 200, j
    assert j["token"].startswith("hs_") and j["role"] == "admin" and j["tenant"] == "default" and j["expires_in"] == 600
    status, who, _ = call(s, "GET", "/v1/admin/whoami", token=j["token"])
    assert status == 200 and who["role"] == "admin" and who["actor"] == "ldap:alice"
    # The session reaches the admin API; bob's developer session does not.
    assert call(s, "GET", "/v1/admin/keys", token=j["token"])[0] == 200
    status, bob, _ = login(s, "bob", "bob-Secret-2")
    assert status == 200 and bob["role"] == "developer"
    research = call(s, "GET", "/v1/admin/tenants/research", token=j["token"])[1]["id"]
    assert bob["tenant"] == research
    assert call(s, "GET", "/v1/admin/keys", token=bob["token"])[0] == 403
    assert call(s, "GET", "/v1/models", token=bob["token"])[0] == 200
    # Logout ends the session at once.
    assert call(s, "POST", "/v1/auth/logout", token=bob["token"])[0] == 200
    assert call(s, "GET", "/v1/models", token=bob["token"])[0] == 401
    # dave is an auditor through a posixGroup.
    status, dave, _ = login(s, "dave", 'd@ve (p4ss)*\\ "wörd",;=#')
    assert status == 200 and dave["role"] == "auditor"


@ldap
def test_bad_logins_are_refused_audited_and_throttled(directory_server):
    s = directory_server
    # No group: 403; wrong password and unknown user: the same 401; injection characters: 401.
    assert login(s, "carol", "carol-Secret-3")[0] == 403
    wrong = login(s, "bob", "not-his-password")
    unknown = login(s, "nobody", "whatever")
    assert wrong[0] == unknown[0] == 401 and wrong[1]["error"]["message"] == unknown[1]["error"]["message"]
    for evil in ["*", "*)(uid=*", "bob)(|(uid=*", "admin\\00", "(&)"]:
        status, j, _ = login(s, evil, "x")
        assert status == 401, (evil, j)
    assert call(s, "POST", "/v1/auth/login", {"username": "bob"})[0] == 401
    assert call(s, "POST", "/v1/auth/login", {"username": 5, "password": "x"})[0] == 400
    # The third failure for a user trips the throttle: 429 with Retry-After, even with the right password.
    for _ in range(3):
        assert login(s, "eve-throttle", "guess")[0] == 401
    status, j, headers = login(s, "eve-throttle", "guess")
    assert status == 429 and int(headers["Retry-After"]) >= 1 and "failed logins" in j["error"]["message"], j
    # Failed logins are in the trail, without the password.
    status, j, _ = call(s, "GET", "/v1/admin/audit?kind=security&limit=1000", headers={"Authorization": f"Bearer {s.admin}"})
    assert status == 200
    actions = [(r["action"], r["actor"]) for r in j["data"]]
    assert ("login.failed", "ldap:bob") in actions and ("login.failed", "ldap:carol") in actions
    assert not any("not-his-password" in json.dumps(r) for r in j["data"])


@ldap
def test_an_unreachable_directory_is_a_prompt_503(tmp_path):
    port = free_port()
    cfg = {"url": f"ldaps://127.0.0.1:{port}", "user_dn_template": "uid={username},ou=people,dc=hearth,dc=test",
           "group_base_dn": "ou=groups,dc=hearth,dc=test", "mappings": [{"group": "g", "role": "viewer", "tenant": "default"}],
           "connect_timeout_seconds": 2}
    path = tmp_path / "ldap.json"
    path.write_text(json.dumps(cfg))

    s = Serve(["--ldap-config", str(path)], probe=http_ready)
    s.base = f"http://127.0.0.1:{s.port}"
    try:
        t0 = time.time()
        status, j, _ = login(s, "alice", "alice-Secret-1")
        assert status == 503 and "directory" in j["error"]["message"] and time.time() - t0 < 10
    finally:
        s.stop()


def test_a_bad_ldap_config_fails_at_start(tmp_path):
    path = tmp_path / "ldap.json"
    path.write_text(json.dumps({"url": "ldap://127.0.0.1:1", "user_dn_template": "uid={username},dc=x", "group_base_dn": "dc=x",
                                "mappings": [{"group": "g", "role": "viewer", "tenant": "default"}]}))
    p = subprocess.run([BIN, "serve", "--model", SMOL, "--port", str(free_port()), "--ldap-config", str(path)],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "HEARTH_HOME": str(tmp_path / "home")})
    # ldap:// without StartTLS would send passwords in clear text.
    assert p.returncode != 0 and "clear text" in p.stderr


def test_oversized_headers_and_keys_are_4xx(server):
    """A 200 KB header is refused by the HTTP parser before any handler runs, with 431 and the same
    OpenAI-style error body as every other refusal; a request line that is not HTTP gets 400 alike;
    a 20 KB key gets the usual 401 without a lookup."""
    import http.client
    import socket
    port = int(server.base.rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/v1/models", headers={"Authorization": f"Bearer {server.api_key}", "X-Big": "a" * 200_000})
    r = c.getresponse()
    assert r.status == 431 and r.getheader("Content-Type") == "application/json"
    err = json.loads(r.read())["error"]
    assert err["code"] == "headers_too_large" and err["type"] == "invalid_request_error" and "too large" in err["message"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GARBAGE\x00\x01 / HTTP/1.1\r\n\r\n")
        raw = b""
        while chunk := s.recv(4096):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and json.loads(body)["error"]["code"] == "malformed_request", raw
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/v1/models", headers={"Authorization": "Bearer hk_" + "A" * 20_000})
    r = c.getresponse()
    assert r.status == 401 and json.loads(r.read())["error"]["code"] == "invalid_api_key"
    # The server is still serving.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/health/live")
    assert c.getresponse().status == 200
