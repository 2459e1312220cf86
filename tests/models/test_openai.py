"""OpenAIModel against a real local HTTP endpoint that speaks the Chat Completions wire format."""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import pytest
from fake_provider import FakeProvider, llama_cpp_server_check, serve

from nexthop._exceptions import ConfigError, ModelError
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, Step, ToolCall, Trajectory
from nexthop.models._model import ModelRequest, ModelResponse, ModelSettings
from nexthop.models._openai import OpenAIModel
from nexthop.models._openai_mapping import MISSING_RESULT, parse_arguments

pytestmark = pytest.mark.anyio

READ = ToolDef(
    name="fs__read",
    description="Read a file.",
    input_schema={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


def _completion(
    content: str | None = None, tool_calls: list[dict[str, Any]] | None = None, usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-test",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop", "logprobs": None}
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def _fn(id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _model(fake: FakeProvider, **kw: Any) -> OpenAIModel:
    kw.setdefault("api_key", "sk-test")
    return OpenAIModel("gpt-test", base_url=f"{fake.url}/v1", max_retries=0, **kw)


async def _ask(fake: FakeProvider, request: ModelRequest, **kw: Any) -> ModelResponse:
    model = _model(fake, **kw)
    try:
        return await model.request(request)
    finally:
        await model.aclose()


def _bare(task: str = "t", **kw: Any) -> ModelRequest:
    return ModelRequest(instructions="", trajectory=Trajectory(task=task), tools=[], **kw)


def _trajectory() -> Trajectory:
    return Trajectory(
        task="Summarise a.txt and b.txt",
        steps=[
            Step(
                index=1,
                thought="I will read both files.",
                tool_calls=(
                    ToolCall(id="call_a", name="fs__read", arguments={"path": "a.txt"}),
                    ToolCall(id="call_b", name="fs__read", arguments={"path": "b.txt"}),
                ),
                # Out of call order on purpose: pairing is by id.
                observations=(
                    Observation(call_id="call_b", content="no such file", is_error=True),
                    Observation(call_id="call_a", content="alpha"),
                ),
            ),
            Step(
                index=2,
                tool_calls=(ToolCall(id="call_c", name="fs__read", invalid_arguments="{path: c"),),
                observations=(Observation(call_id="call_c", content="invalid arguments", is_error=True),),
            ),
        ],
    )


async def test_request_sends_tools_and_paired_messages(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_completion("done"))
    request = ModelRequest(
        instructions="You are terse.",
        trajectory=_trajectory(),
        tools=[READ, FINISH_TOOL],
        settings=ModelSettings(max_output_tokens=321, temperature=0.25, seed=7),
    )

    await _ask(fake_provider, request)

    [sent] = fake_provider.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    body = sent.body
    assert body["model"] == "gpt-test"
    # A compatible server (base_url set) gets the widely understood max_tokens.
    assert body["max_tokens"] == 321 and "max_completion_tokens" not in body
    assert (body["temperature"], body["seed"]) == (0.25, 7)  # a redraw's sample, say
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "fs__read", "description": "Read a file.", "parameters": READ.input_schema},
        },
        {
            "type": "function",
            "function": {
                "name": "finish",
                "description": FINISH_TOOL.description,
                "parameters": FINISH_TOOL.input_schema,
            },
        },
    ]
    messages = body["messages"]
    assert messages[:2] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Summarise a.txt and b.txt"},
    ]
    assistant = messages[2]
    assert assistant["role"] == "assistant" and assistant["content"] == "I will read both files."
    assert [(c["id"], c["type"], c["function"]["name"]) for c in assistant["tool_calls"]] == [
        ("call_a", "function", "fs__read"),
        ("call_b", "function", "fs__read"),
    ]
    # Arguments travel as JSON strings.
    assert [json.loads(c["function"]["arguments"]) for c in assistant["tool_calls"]] == [
        {"path": "a.txt"},
        {"path": "b.txt"},
    ]
    assert messages[3:5] == [
        {"role": "tool", "tool_call_id": "call_a", "content": "alpha"},
        {"role": "tool", "tool_call_id": "call_b", "content": "ERROR: no such file"},
    ]
    second = messages[5]
    # A step without a thought sends "", never null: llama-cpp-python's server refuses null.
    assert second["content"] == ""
    assert json.loads(second["tool_calls"][0]["function"]["arguments"]) == {}
    assert messages[6:] == [{"role": "tool", "tool_call_id": "call_c", "content": "ERROR: invalid arguments"}]


async def test_call_without_observation_gets_an_error_tool_message(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_completion("ok"))
    trajectory = Trajectory(task="t", steps=[Step(index=1, tool_calls=(ToolCall(id="call_x", name="fs__read"),))])
    await _ask(fake_provider, ModelRequest(instructions="", trajectory=trajectory, tools=[]))

    body = fake_provider.requests[0].body
    assert "tools" not in body and "temperature" not in body and "seed" not in body
    assert body["messages"][0] == {"role": "user", "content": "t"}
    assert body["messages"][-1] == {"role": "tool", "tool_call_id": "call_x", "content": f"ERROR: {MISSING_RESULT}"}


async def test_reply_is_parsed_into_thought_calls_and_usage(fake_provider: FakeProvider) -> None:
    fake_provider.reply(
        _completion(
            "Reading two files.",
            [_fn("call_1", "fs__read", '{"path": "x"}'), _fn("call_2", "finish", '{"result": "42"}')],
            {
                "prompt_tokens": 120,
                "completion_tokens": 33,
                "total_tokens": 153,
                "prompt_tokens_details": {"cached_tokens": 64},
            },
        )
    )
    response = await _ask(fake_provider, _bare())

    assert response.thought == "Reading two files."
    assert response.tool_calls == (
        ToolCall(id="call_1", name="fs__read", arguments={"path": "x"}),
        ToolCall(id="call_2", name="finish", arguments={"result": "42"}),
    )
    assert (response.usage.input_tokens, response.usage.output_tokens) == (120, 33)
    assert (response.usage.cached_input_tokens, response.usage.requests) == (64, 1)


async def test_malformed_arguments_do_not_crash(fake_provider: FakeProvider) -> None:
    fake_provider.reply(
        _completion(None, [_fn("call_1", "fs__read", '{"path": "x"'), _fn("call_2", "fs__read", "[1, 2]")])
    )
    response = await _ask(fake_provider, _bare())

    assert response.thought == ""
    assert response.tool_calls == (
        ToolCall(id="call_1", name="fs__read", invalid_arguments='{"path": "x"'),
        ToolCall(id="call_2", name="fs__read", invalid_arguments="[1, 2]"),
    )
    # No usage from the server (some compatible servers send none) still counts the request.
    assert response.usage.requests == 1 and response.usage.total_tokens == 0


def test_parse_arguments_edge_cases() -> None:
    assert parse_arguments("") == ({}, None)
    assert parse_arguments(None) == ({}, None)
    assert parse_arguments('{"a": [1, {"b": null}]}') == ({"a": [1, {"b": None}]}, None)
    assert parse_arguments("null") == ({}, "null")
    assert parse_arguments("{'a': 1}") == ({}, "{'a': 1}")


async def test_call_without_id_gets_a_generated_one(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_completion(None, [_fn("", "fs__read", "{}"), _fn("", "fs__read", "{}")]))
    response = await _ask(fake_provider, _bare())
    ids = [c.id for c in response.tool_calls]
    assert all(ids) and len(set(ids)) == 2


async def test_no_choices_is_a_model_error(fake_provider: FakeProvider) -> None:
    body = _completion("x")
    body["choices"] = []
    fake_provider.reply(body)
    with pytest.raises(ModelError, match="returned no choices"):
        await _ask(fake_provider, _bare())


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


async def test_401_becomes_model_error_naming_the_key(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_error("Incorrect API key provided: sk-test.", "invalid_request_error"), status=401)
    with pytest.raises(ModelError) as info:
        await _ask(fake_provider, _bare())
    message = str(info.value)
    assert "401" in message and "Incorrect API key provided" in message and "OPENAI_API_KEY" in message
    assert fake_provider.url in message and "\n" not in message
    assert info.value.__cause__ is not None


async def test_500_becomes_model_error_with_status_and_no_retry(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_error("The server had an error", "server_error"), status=500)
    with pytest.raises(ModelError, match=r"returned HTTP 500: The server had an error$"):
        await _ask(fake_provider, _bare())
    assert len(fake_provider.requests) == 1


async def test_unreachable_server_becomes_model_error(closed_port_url: str) -> None:
    model = OpenAIModel("gpt-test", base_url=f"{closed_port_url}/v1", max_retries=0)
    with pytest.raises(ModelError, match=r"^could not reach the server at http://127\.0\.0\.1:\d+/v1 "):
        await model.request(_bare())
    await model.aclose()


async def test_timeout_becomes_model_error(fake_provider: FakeProvider) -> None:
    fake_provider.hang = threading.Event()
    with anyio.fail_after(10), pytest.raises(ModelError, match=r"timed out after 0\.3s"):
        await _ask(fake_provider, _bare(settings=ModelSettings(timeout_s=0.3)))
    assert fake_provider.hang.is_set()


async def test_base_url_needs_no_api_key(fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake_provider.reply(_completion("hi"))
    model = OpenAIModel("llama3.2", base_url=f"{fake_provider.url}/v1", max_retries=0)
    assert model.name == f"openai:llama3.2@{fake_provider.url}/v1"
    await model.request(_bare())
    await model.aclose()
    assert fake_provider.requests[0].headers["authorization"] == "Bearer not-needed"


def test_missing_api_key_without_base_url_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"^no OpenAI API key: set OPENAI_API_KEY.*--model local"):
        OpenAIModel("gpt-4o")


async def test_openai_itself_gets_max_completion_tokens(fake_provider: FakeProvider) -> None:
    from openai import AsyncOpenAI

    # A caller's client pointed at the fake stands in for api.openai.com (no base_url on the model).
    fake_provider.reply(_completion("hi"))
    client = AsyncOpenAI(api_key="sk-own", base_url=f"{fake_provider.url}/v1", max_retries=0)
    model = OpenAIModel("gpt-test", client=client)
    await model.request(_bare(settings=ModelSettings(max_output_tokens=77)))
    await model.aclose()
    assert not client.is_closed()
    await client.close()
    body = fake_provider.requests[0].body
    assert body["max_completion_tokens"] == 77 and "max_tokens" not in body


async def test_tool_choice_auto_is_sent_whenever_tools_are(fake_provider: FakeProvider) -> None:
    # llama-cpp-python's server reads a missing tool_choice as "none" and hides the tools.
    fake_provider.reply(_completion("ok"))
    model = _model(fake_provider)
    await model.request(ModelRequest(instructions="", trajectory=Trajectory(task="t"), tools=[READ, FINISH_TOOL]))
    await model.request(_bare())
    await model.aclose()

    with_tools, without_tools = (r.body for r in fake_provider.requests)
    assert with_tools["tool_choice"] == "auto"
    assert "tool_choice" not in without_tools and "tools" not in without_tools


async def test_a_callers_tool_choice_is_kept(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_completion("ok"))
    request = ModelRequest(instructions="", trajectory=Trajectory(task="t"), tools=[READ])
    await _ask(fake_provider, request, tool_choice="required")
    assert fake_provider.requests[0].body["tool_choice"] == "required"


def _thoughtless_tool_step() -> Trajectory:
    return Trajectory(
        task="Read a.txt",
        steps=[
            Step(
                index=1,
                tool_calls=(ToolCall(id="call_a", name="fs__read", arguments={"path": "a.txt"}),),
                observations=(Observation(call_id="call_a", content="alpha"),),
            )
        ],
    )


def test_the_fake_refuses_null_content_as_llama_cpp_python_does() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    refused = llama_cpp_server_check({"messages": [{"role": "assistant", "content": None, "tool_calls": [call]}]})
    assert refused is not None and refused[0] == 500
    assert "content" in refused[1]["error"]["message"]
    for content in ({"content": ""}, {}):
        assert llama_cpp_server_check({"messages": [{"role": "assistant", **content, "tool_calls": [call]}]}) is None


async def test_a_tool_call_step_passes_llama_cpp_pythons_request_schema() -> None:
    with serve(check=llama_cpp_server_check) as fake:
        fake.reply(_completion(None, [_fn("call_b", "finish", '{"result": "alpha"}')]))
        request = ModelRequest(instructions="Be brief.", trajectory=_thoughtless_tool_step(), tools=[READ, FINISH_TOOL])
        response = await _ask(fake, request)
    assert [c.name for c in response.tool_calls] == ["finish"]
    assert fake.requests[0].body["messages"][2] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "fs__read", "arguments": '{"path": "a.txt"}'}}
        ],
    }


async def test_tool_results_as_user_messages(fake_provider: FakeProvider) -> None:
    # For servers whose chat template renders no tool messages (chatml-function-calling).
    fake_provider.reply(_completion("ok"))
    trajectory = _trajectory()
    trajectory.steps[1] = trajectory.steps[1].model_copy(update={"hint": "Try another path."})
    await _ask(fake_provider, _bare().model_copy(update={"trajectory": trajectory}), tool_results="user")

    messages = fake_provider.requests[0].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user", "user"]
    assert messages[2]["content"] == (
        "Result of fs__read (call call_a):\nalpha\n\nResult of fs__read (call call_b):\nERROR: no such file"
    )
    assert messages[4]["content"] == "Result of fs__read (call call_c):\nERROR: invalid arguments"
    assert messages[5] == {"role": "user", "content": "Note from the host: Try another path."}


async def test_model_temperature_applies_when_the_run_sets_none(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_completion("ok"))
    model = _model(fake_provider, temperature=0.0)
    await model.request(_bare())
    await model.request(_bare(settings=ModelSettings(temperature=0.7)))
    await model.aclose()
    assert [r.body["temperature"] for r in fake_provider.requests] == [0.0, 0.7]


async def test_an_empty_reply_sends_no_turn_but_its_nudge(fake_provider: FakeProvider) -> None:
    # The text-replies policy nudges after a reply without a tool call; the nudge must reach
    # the model, or the next prompt is the same and so, at temperature 0, is the reply.
    fake_provider.reply(_completion("ok"))
    trajectory = Trajectory(task="t", steps=[Step(index=1, hint="Call a tool, or finish with your answer.")])
    await _ask(fake_provider, _bare().model_copy(update={"trajectory": trajectory}))
    assert fake_provider.requests[0].body["messages"] == [
        {"role": "user", "content": "t"},
        {"role": "user", "content": "Note from the host: Call a tool, or finish with your answer."},
    ]


async def test_repeat_penalty_is_sent_only_when_set(fake_provider: FakeProvider) -> None:
    # llama-cpp-python's server applies 1.1 when a request names none (docs/models.md).
    fake_provider.reply(_completion("ok"))
    await _ask(fake_provider, _bare())
    await _ask(fake_provider, _bare(), repeat_penalty=1.0)
    assert "repeat_penalty" not in fake_provider.requests[0].body
    assert fake_provider.requests[1].body["repeat_penalty"] == 1.0
