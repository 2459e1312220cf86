"""AnthropicModel against a real local HTTP endpoint that speaks the Messages API wire format."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest
from fake_provider import FakeProvider

from nexthop._exceptions import ConfigError, ModelError
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, Step, ToolCall, Trajectory
from nexthop.models._anthropic import AnthropicModel
from nexthop.models._anthropic_mapping import MISSING_RESULT
from nexthop.models._model import ModelRequest, ModelResponse, ModelSettings

pytestmark = pytest.mark.anyio

READ = ToolDef(
    name="fs__read",
    description="Read a file.",
    input_schema={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


def _message(content: list[dict[str, Any]], **usage: int) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0, **usage},
    }


def _model(fake: FakeProvider, **kw: Any) -> AnthropicModel:
    return AnthropicModel("claude-test", api_key="sk-test", base_url=fake.url, max_retries=0, **kw)


async def _ask(fake: FakeProvider, request: ModelRequest) -> ModelResponse:
    model = _model(fake)
    try:
        return await model.request(request)
    finally:
        await model.aclose()


def _bare(task: str = "t", **kw: Any) -> ModelRequest:
    return ModelRequest(instructions="", trajectory=Trajectory(task=task), tools=[], **kw)


def _auth(headers: dict[str, str]) -> str:
    # SDK versions differ: x-api-key, or a bearer token in authorization.
    return headers.get("x-api-key", "") + headers.get("authorization", "")


def _trajectory() -> Trajectory:
    return Trajectory(
        task="Summarise a.txt and b.txt",
        steps=[
            Step(
                index=1,
                thought="I will read both files.",
                tool_calls=(
                    ToolCall(id="toolu_a", name="fs__read", arguments={"path": "a.txt"}),
                    ToolCall(id="toolu_b", name="fs__read", arguments={"path": "b.txt"}),
                ),
                # Observations deliberately out of call order: pairing is by id.
                observations=(
                    Observation(call_id="toolu_b", content="no such file", is_error=True),
                    Observation(call_id="toolu_a", content="alpha"),
                ),
            ),
            Step(
                index=2,
                thought="",
                tool_calls=(ToolCall(id="toolu_c", name="fs__read", arguments={"path": "c.txt"}),),
                observations=(Observation(call_id="toolu_c", content="gamma"),),
            ),
        ],
    )


async def test_request_sends_tools_system_and_paired_messages(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_message([{"type": "text", "text": "done"}], input_tokens=5, output_tokens=1))
    model = _model(fake_provider)
    request = ModelRequest(
        instructions="You are terse.",
        trajectory=_trajectory(),
        tools=[READ, FINISH_TOOL],
        settings=ModelSettings(max_output_tokens=321),
    )

    await model.request(request)
    await model.aclose()

    [sent] = fake_provider.requests
    assert sent.path == "/v1/messages"
    assert "sk-test" in _auth(sent.headers)
    body = sent.body
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 321
    assert body["system"] == "You are terse."
    assert body["tools"] == [
        {"name": "fs__read", "description": "Read a file.", "input_schema": READ.input_schema},
        {"name": "finish", "description": FINISH_TOOL.description, "input_schema": FINISH_TOOL.input_schema},
    ]
    assert body["messages"] == [
        {"role": "user", "content": "Summarise a.txt and b.txt"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "I will read both files."},
                {"type": "tool_use", "id": "toolu_a", "name": "fs__read", "input": {"path": "a.txt"}},
                {"type": "tool_use", "id": "toolu_b", "name": "fs__read", "input": {"path": "b.txt"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "alpha", "is_error": False},
                {"type": "tool_result", "tool_use_id": "toolu_b", "content": "no such file", "is_error": True},
            ],
        },
        {
            "role": "assistant",
            # An empty thought must not become an (invalid) empty text block.
            "content": [{"type": "tool_use", "id": "toolu_c", "name": "fs__read", "input": {"path": "c.txt"}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_c", "content": "gamma", "is_error": False}],
        },
    ]


async def test_call_without_observation_is_answered_with_an_error_result(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_message([{"type": "text", "text": "ok"}]))
    trajectory = Trajectory(
        task="t", steps=[Step(index=1, tool_calls=(ToolCall(id="toolu_x", name="fs__read", arguments={}),))]
    )
    await _ask(fake_provider, ModelRequest(instructions="", trajectory=trajectory, tools=[]))

    body = fake_provider.requests[0].body
    assert "system" not in body and "tools" not in body
    assert body["messages"][-1] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": MISSING_RESULT, "is_error": True}],
    }


async def test_reply_is_parsed_into_thought_calls_and_usage(fake_provider: FakeProvider) -> None:
    fake_provider.reply(
        _message(
            [
                {"type": "text", "text": "Reading it."},
                {"type": "tool_use", "id": "toolu_1", "name": "fs__read", "input": {"path": "x"}},
                {"type": "text", "text": "And finishing."},
                {"type": "tool_use", "id": "toolu_2", "name": "finish", "input": {"result": "42"}},
            ],
            input_tokens=120,
            output_tokens=33,
            cache_read_input_tokens=100,
        )
    )
    response = await _ask(
        fake_provider, ModelRequest(instructions="i", trajectory=Trajectory(task="t"), tools=[READ, FINISH_TOOL])
    )

    assert response.thought == "Reading it.\nAnd finishing."
    assert response.tool_calls == (
        ToolCall(id="toolu_1", name="fs__read", arguments={"path": "x"}),
        ToolCall(id="toolu_2", name="finish", arguments={"result": "42"}),
    )
    assert (response.usage.input_tokens, response.usage.output_tokens) == (120, 33)
    assert (response.usage.cached_input_tokens, response.usage.requests) == (100, 1)


async def test_text_only_reply_has_no_calls(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_message([{"type": "text", "text": "The answer is 4."}], input_tokens=3, output_tokens=2))
    response = await _ask(fake_provider, _bare("2+2"))
    assert response.thought == "The answer is 4."
    assert response.tool_calls == ()
    assert response.usage.cached_input_tokens == 0


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


async def test_401_becomes_model_error_naming_the_key(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_error("authentication_error", "invalid x-api-key"), status=401)
    with pytest.raises(ModelError) as info:
        await _ask(fake_provider, _bare())
    message = str(info.value)
    assert "401" in message and "invalid x-api-key" in message and "ANTHROPIC_API_KEY" in message
    assert "\n" not in message
    assert info.value.__cause__ is not None


async def test_500_becomes_model_error_with_status_and_no_retry(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_error("api_error", "Internal server error"), status=500)
    with pytest.raises(ModelError, match=r"^anthropic returned HTTP 500: Internal server error$"):
        await _ask(fake_provider, _bare())
    assert len(fake_provider.requests) == 1


async def test_retries_follow_max_retries(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_error("overloaded_error", "Overloaded"), status=529)
    fake_provider.reply(_message([{"type": "text", "text": "second try"}]))
    model = AnthropicModel("claude-test", api_key="k", base_url=fake_provider.url, max_retries=1)
    # The SDK honours retry-after style backoff; keep the test bounded anyway.
    with anyio.fail_after(30):
        response = await model.request(_bare())
    await model.aclose()
    assert response.thought == "second try"
    assert len(fake_provider.requests) == 2


async def test_unreachable_server_becomes_model_error(closed_port_url: str) -> None:
    model = AnthropicModel("claude-test", api_key="k", base_url=closed_port_url, max_retries=0)
    with pytest.raises(ModelError, match=r"^could not reach the Anthropic API at http://127\.0\.0\.1:\d+/v1/messages"):
        await model.request(_bare())
    await model.aclose()


async def test_timeout_becomes_model_error(fake_provider: FakeProvider) -> None:
    fake_provider.hang = threading.Event()
    settings = ModelSettings(timeout_s=0.3)
    with anyio.fail_after(10), pytest.raises(ModelError, match=r"timed out after 0\.3s"):
        await _ask(fake_provider, _bare(settings=settings))
    assert fake_provider.hang.is_set()


def test_missing_api_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"set ANTHROPIC_API_KEY or pass --model local"):
        AnthropicModel("claude-test")


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    model = AnthropicModel("claude-test")
    assert model.name == "anthropic:claude-test"
    anyio.run(model.aclose)


def test_empty_model_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="empty Anthropic model name"):
        AnthropicModel(" ", api_key="k")


async def test_given_client_is_used_and_not_closed(fake_provider: FakeProvider) -> None:
    from anthropic import AsyncAnthropic

    fake_provider.reply(_message([{"type": "text", "text": "hi"}]))
    client = AsyncAnthropic(api_key="sk-own", base_url=fake_provider.url, max_retries=0)
    model = AnthropicModel("claude-test", client=client)
    await model.request(_bare())
    await model.aclose()
    assert not client.is_closed()
    assert "sk-own" in _auth(fake_provider.requests[0].headers)
    await client.close()
