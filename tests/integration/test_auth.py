"""API keys on a live `hearth serve`: what is refused without one, and the audit trail that the
calls made with one leave in the data dir, read back with `hearth audit`."""
import json
import urllib.error
import urllib.request

import openai
import pytest

from conftest import hearth_cli

MODEL = "SmolLM2-135M-Instruct.Q4_1"


def status_of(url, headers=None, data=None):
    req = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_unauthenticated_requests_are_refused(server):
    bad = openai.OpenAI(base_url=server.base + "/v1", api_key="hk_not_a_real_key", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], max_tokens=2)
    assert e.value.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()

    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}]}).encode()
    for path, data in (("/v1/chat/completions", body), ("/v1/models", None), ("/metrics", None)):
        code, headers, raw = status_of(server.base + path, {"Content-Type": "application/json"}, data)
        assert code == 401, path
        assert headers.get("WWW-Authenticate", "").startswith("Bearer"), path
        assert json.loads(raw)["error"]["code"] == "invalid_api_key", path
    for path in ("/health/live", "/health/ready"):
        assert status_of(server.base + path)[0] == 200, path


def test_developer_key_cannot_read_metrics(server):
    code, _, raw = status_of(server.base + "/metrics", {"Authorization": f"Bearer {server.api_key}"})
    assert code == 403 and json.loads(raw)["error"]["code"] == "permission_denied"


def test_inference_is_audited(server):
    client = openai.OpenAI(base_url=server.base + "/v1", api_key=server.api_key, max_retries=0, timeout=120)
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Say hi."}], max_tokens=4, temperature=0)
    parts = list(client.completions.create(model=MODEL, prompt="One, two,", max_tokens=3, temperature=0, stream=True))
    assert parts
    client.embeddings.create(model="minilm", input="audited")

    verified = hearth_cli(server.home, "audit", "verify")
    assert verified.startswith("audit trail ok: "), verified
    records = [json.loads(l) for l in hearth_cli(server.home, "audit", "export", "--since", "1h").splitlines()]
    calls = [x for x in records if x["kind"] == "inference"]
    key_id = server.api_key[3:15]
    assert all(x["key_id"] == key_id and x["actor"] == f"key:{key_id}" for x in calls)
    by_route = {x["route"]: x for x in calls}
    assert {"/v1/chat/completions", "/v1/completions", "/v1/embeddings"} <= set(by_route)
    chat = [x for x in calls if x["route"] == "/v1/chat/completions" and x["completion_tokens"] == r.usage.completion_tokens
            and x["prompt_tokens"] == r.usage.prompt_tokens]
    assert chat and chat[0]["status"] == 200 and chat[0]["model"] == MODEL
    assert by_route["/v1/completions"]["completion_tokens"] >= 1
    assert by_route["/v1/embeddings"]["model"] == "minilm" and by_route["/v1/embeddings"]["prompt_tokens"] > 0
    # The trail keeps an HMAC of each prompt, never the key.
    dump = "\n".join(json.dumps(x) for x in records)
    assert server.api_key not in dump and server.api_key[16:] not in dump
