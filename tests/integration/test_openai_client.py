"""The official `openai` Python client against a live `hearth serve`."""
import concurrent.futures
import json
import subprocess
import time

import openai
import pytest

MODEL = "SmolLM2-135M-Instruct.Q4_1"


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base + "/v1", api_key=server.api_key, max_retries=0, timeout=120)


def ask(client, content, **kw):
    kw.setdefault("max_tokens", 24)
    kw.setdefault("temperature", 0)
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}], **kw)


def test_models_list(client):
    ids = [m.id for m in client.models.list().data]
    assert MODEL in ids and "default" in ids


def test_chat_non_streaming(client):
    r = ask(client, "What is the capital of France?")
    assert r.object == "chat.completion"
    assert r.model == MODEL
    assert r.id.startswith("chatcmpl-")
    assert r.choices[0].message.role == "assistant"
    assert "Paris" in r.choices[0].message.content
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_streaming_matches_non_streaming(client):
    full = ask(client, "Name three colors.").choices[0].message.content
    stream = ask(client, "Name three colors.", stream=True, stream_options={"include_usage": True})
    parts, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                parts.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    assert "".join(parts) == full
    assert finish in ("stop", "length")
    assert usage is not None and usage.completion_tokens > 0


def test_completions(client):
    r = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0)
    assert r.object == "text_completion"
    assert "Paris" in r.choices[0].text
    stream = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in stream if c.choices) == r.choices[0].text


def test_n_greater_than_one_and_seed(client):
    r = ask(client, "Write a word.", n=3, temperature=1.0, seed=7, max_tokens=8)
    assert len(r.choices) == 3
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    again = ask(client, "Write a word.", n=3, temperature=1.0, seed=7, max_tokens=8)
    assert [c.message.content for c in r.choices] == [c.message.content for c in again.choices]


STORY = "Tell me a story about a dragon who lives in an old library and guards its books from mice."


def test_seed_reproducibility(client):
    # The second request reuses the first one's prompt blocks from the prefix cache; the seed
    # must still give the same text.
    ra = ask(client, STORY, temperature=1.0, top_p=0.9, seed=1234, max_tokens=20)
    rb = ask(client, STORY, temperature=1.0, top_p=0.9, seed=1234, max_tokens=20)
    assert rb.usage.prompt_tokens_details.cached_tokens > 0
    assert ra.choices[0].message.content == rb.choices[0].message.content


def test_stop(client):
    r = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=16, temperature=0, stop=[" 7"])
    assert " 7" not in r.choices[0].text
    assert r.choices[0].finish_reason == "stop"


def test_logprobs(client):
    r = ask(client, "Say hi.", logprobs=True, top_logprobs=3, max_tokens=4)
    lp = r.choices[0].logprobs.content
    assert len(lp) >= 1
    assert all(len(t.top_logprobs) == 3 for t in lp)
    assert all(t.logprob <= 0 for t in lp)


def test_json_schema(client):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    for seed in (1, 2):
        r = ask(client, "Give a person's name and age as JSON.", temperature=0.8, seed=seed, max_tokens=60,
                response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}})
        doc = json.loads(r.choices[0].message.content)
        assert set(doc) == {"name", "age"}
        assert isinstance(doc["name"], str) and isinstance(doc["age"], int)
    r = ask(client, "Reply with a JSON object.", max_tokens=40, response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_embeddings(client):
    r = client.embeddings.create(model="minilm", input=["a cat sits on the mat", "a kitten is on the rug", "stock markets fell"])
    v = [d.embedding for d in r.data]
    assert len(v) == 3 and len(v[0]) == 384
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))
    assert abs(dot(v[0], v[0]) - 1) < 1e-3
    assert dot(v[0], v[1]) > dot(v[0], v[2])
    assert r.usage.prompt_tokens > 0


def test_error_classes(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, "x", temperature=5)
    assert "temperature" in str(e.value)
    with pytest.raises(openai.BadRequestError):
        ask(client, "x", max_tokens=10_000_000)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[])


def test_sse_framing_with_curl(server):
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5, "temperature": 0, "stream": True})
    headers = ["-H", "Content-Type: application/json", "-H", f"Authorization: Bearer {server.api_key}"]
    out = subprocess.run(["curl", "-sN", "-D", "-", server.base + "/v1/chat/completions", *headers, "-d", body],
                         capture_output=True, timeout=60).stdout.decode()
    head, _, payload = out.partition("\r\n\r\n")
    assert "text/event-stream" in head.lower()
    events = payload.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    for e in events[:-2]:
        assert e.startswith("data: ") and "\n" not in e
        json.loads(e[len("data: "):])


def test_concurrent_streams_match_sequential(client):
    prompts = [f"Count from {i} to {i + 5}." for i in range(16)]

    def stream(p):
        s = ask(client, p, stream=True, max_tokens=16)
        return "".join(c.choices[0].delta.content or "" for c in s if c.choices)

    sequential = [ask(client, p, max_tokens=16).choices[0].message.content for p in prompts]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        parallel = list(pool.map(stream, prompts))
    assert parallel == sequential


def test_disconnect_frees_kv(server, client):
    ask(client, "warm up", max_tokens=2)
    baseline = server.metric("hearth_kv_cache_usage_ratio", model=MODEL)
    stream = ask(client, "Write a very long essay about the sea.", stream=True, max_tokens=400)
    got = 0
    for chunk in stream:
        got += 1
        if got == 5:
            break
    assert server.metric("hearth_kv_cache_usage_ratio", model=MODEL) > baseline
    stream.response.close()
    deadline = time.time() + 20
    while time.time() < deadline:
        if server.metric("hearth_kv_cache_usage_ratio", model=MODEL) <= baseline:
            break
        time.sleep(0.2)
    assert server.metric("hearth_kv_cache_usage_ratio", model=MODEL) <= baseline
