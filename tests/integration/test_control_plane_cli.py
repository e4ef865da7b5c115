"""`hearth keys|tenants|users|audit` against a fresh data dir: the commands a person runs, their
output and exit codes, tampering caught by `audit verify`, and master key rotation."""
import base64
import json
import os
import re
import sqlite3
import subprocess

import pytest

from conftest import BIN

KEY = re.compile(r"^hk_[0-9A-Za-z]{12}_[0-9A-Za-z]{32}$")


def hearth(home, *args, env=None, check=True):
    e = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    e["HEARTH_HOME"] = str(home)
    e.update(env or {})
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=e, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"hearth {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def one_line_error(p):
    assert p.returncode != 0
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("hearth: error: "), p.stderr
    return lines[0]


def test_keys_tenants_users(tmp_path):
    home = tmp_path / "data"
    assert "no Hearth data" in one_line_error(hearth(home, "keys", "list", check=False))
    tid = hearth(home, "tenants", "create", "acme", "--rpm", "100", "--budget", "5000/day").stdout.strip()
    assert tid.startswith("tn_")
    hearth(home, "users", "create", "ada", "--tenant", "acme", "--role", "developer")
    p = hearth(home, "keys", "create", "--tenant", "acme", "--name", "ci", "--user", "ada", "--model", "llama", "--expires", "30d")
    key = p.stdout.strip()
    assert KEY.match(key), p.stdout
    key_id = key[3:15]
    assert key_id in p.stderr and key not in p.stderr

    keys = json.loads(hearth(home, "keys", "list", "--json").stdout)
    assert [k["id"] for k in keys] == [key_id]
    assert keys[0]["models"] == ["llama"] and keys[0]["tenant"] == tid and keys[0]["revoked"] is False
    listing = hearth(home, "keys", "list").stdout
    assert key_id in listing and key[16:] not in listing

    rotated = hearth(home, "keys", "rotate", key_id).stdout.strip()
    assert KEY.match(rotated) and rotated[3:15] == key_id and rotated != key
    hearth(home, "keys", "revoke", key_id)
    assert json.loads(hearth(home, "keys", "list", "--json").stdout)[0]["revoked"] is True

    assert "not a key id" in one_line_error(hearth(home, "keys", "revoke", "nope", check=False))
    assert "not found" in one_line_error(hearth(home, "keys", "revoke", "AAAAAAAAAAAA", check=False))
    assert "not found" in one_line_error(hearth(home, "keys", "create", "--tenant", "ghost", "--name", "x", check=False))
    assert "already exists" in one_line_error(hearth(home, "tenants", "create", "acme", check=False))
    assert "encryption" in one_line_error(hearth(home, "tenants", "update", "acme", "--store-prompts", "true", check=False))

    hearth(home, "tenants", "update", "acme", "--rpm", "0", "--key-tpm", "1000", "--budget", "none")
    shown = json.loads(hearth(home, "tenants", "show", "acme", "--json").stdout)
    assert shown["tenant"]["policy"]["defaultKeyLimits"] == {"tokensPerMinute": 1000}
    assert "budget" not in shown["tenant"]["policy"] and shown["keys"] == 1 and shown["users"] == 1

    sql = "Robert'); DROP TABLE tenants;--"
    hearth(home, "tenants", "create", sql)
    names = [t["name"] for t in json.loads(hearth(home, "tenants", "list", "--json").stdout)]
    assert names == ["default", "acme", sql]

    hearth(home, "users", "remove", "ada", "--tenant", "acme")
    assert json.loads(hearth(home, "users", "list", "--json").stdout) == []
    assert json.loads(hearth(home, "keys", "list", "--json").stdout) == []  # the user's key went with it

    # The data dir keeps no secret in the clear.
    blob = b"".join(p.read_bytes() for p in home.iterdir() if p.is_file())
    for k in (key, rotated):
        assert k.encode() not in blob and k[16:].encode() not in blob


def test_audit_verify_export_and_tampering(tmp_path):
    home = tmp_path / "data"
    hearth(home, "tenants", "create", "acme")
    for i in range(5):
        hearth(home, "keys", "create", "--tenant", "acme", "--name", f"k{i}")
    out = hearth(home, "audit", "checkpoint").stdout
    assert re.match(r"checkpoint 1 signs record 7 ", out), out
    assert hearth(home, "audit", "checkpoint").stdout.strip() == "nothing new to checkpoint"
    ok = hearth(home, "audit", "verify").stdout
    assert ok.startswith("audit trail ok: 7 records, 1 signed checkpoints, signed through record 7"), ok

    lines = hearth(home, "audit", "export", "--since", "1h").stdout.splitlines()
    records = [json.loads(l) for l in lines]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6, 7]
    assert all(len(r["hash"]) == 64 for r in records) and records[1]["prev_hash"] == records[0]["hash"]
    assert [r["action"] for r in records] == ["tenant.create"] * 2 + ["key.create"] * 5
    pem = hearth(home, "audit", "public-key").stdout
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "audit.pem").write_text(pem)

    db = sqlite3.connect(home / "hearth.sqlite")
    db.execute("DROP TRIGGER audit_records_no_update")
    db.execute("UPDATE audit_records SET actor = 'someone else' WHERE seq = 4")
    db.commit()
    db.close()
    err = one_line_error(hearth(home, "audit", "verify", "--public-key", str(tmp_path / "audit.pem"), check=False))
    assert "record 4 was modified" in err


def test_master_key_rotation(tmp_path):
    home = tmp_path / "data"
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    for f in (old, new):
        f.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
        f.chmod(0o600)
    hearth(home, "tenants", "create", "keeps", "--store-prompts", "true", "--master-key-file", str(old))
    assert (home / "server-secret").read_text().startswith("hearth-secret v1 sealed ")
    assert "encrypted" in one_line_error(hearth(home, "keys", "list", check=False))

    hearth(home, "keys", "rotate-master", "--master-key-file", str(old), "--new-master-key-file", str(new))
    assert "wrapped by master key" in one_line_error(hearth(home, "keys", "list", "--master-key-file", str(old), check=False))
    env = {"HEARTH_MASTER_KEY": new.read_text().strip()}
    assert hearth(home, "audit", "verify", env=env).stdout.startswith("audit trail ok")
    export = hearth(home, "audit", "export", env=env).stdout.splitlines()
    assert json.loads(export[-1])["action"] == "master-key.rotate"

    new.chmod(0o644)
    assert "readable by others" in one_line_error(hearth(home, "keys", "list", "--master-key-file", str(new), check=False))
