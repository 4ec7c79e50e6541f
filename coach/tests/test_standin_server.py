"""The stand-in model server (coach/testing/standin_server.py) speaks OpenAI to the real SDK."""

from __future__ import annotations

import openai
import pytest

from coach.testing.standin_server import StandinConfig, StandinServer, reply_text, run_in_thread

MESSAGES = [{"role": "user", "content": "Help me sleep better."}]


def sdk(port: int) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="x", base_url=f"http://127.0.0.1:{port}/v1", timeout=10, max_retries=0
    )


def test_streams_and_completes_through_the_sdk_on_one_connection():
    port = run_in_thread(StandinConfig(tokens=6, seconds=0.05))
    client = sdk(port)

    stream = client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    pieces, finish, usage = [], None, None
    for chunk in stream:
        usage = chunk.usage or usage
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
    assert "".join(pieces) == reply_text(6)
    assert len([p for p in pieces if p]) == 6
    assert finish == "stop"
    assert usage.completion_tokens == 6

    # The same (kept-alive) connection serves the next, whole-reply request.
    completion = client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=3)
    assert completion.choices[0].message.content == reply_text(3)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 3
    assert [m.id for m in client.models.list()] == ["standin"]


def test_fail_after_breaks_the_stream_mid_reply():
    server = StandinServer(StandinConfig(tokens=10, instant=True, fail_after=4))
    port = server.start_in_thread()
    try:
        received = []
        with pytest.raises(openai.APIConnectionError):
            for chunk in sdk(port).chat.completions.create(
                model="m", messages=MESSAGES, stream=True
            ):
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)
        assert "".join(received) == reply_text(4)
        assert server.stats.streams_broken == 1
    finally:
        server.stop()
