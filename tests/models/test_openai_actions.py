"""OpenAIModel with JSON actions (``actions=json_object|json_schema``) against a local HTTP endpoint."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fake_provider import FakeProvider

from nexthop._exceptions import ConfigError, ModelError
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, Step, Trajectory
from nexthop.models._llama_prompt import THOUGHT_KEY
from nexthop.models._model import ModelRequest
from nexthop.models._openai import OpenAIModel
from nexthop.models._select import model_from_string

pytestmark = pytest.mark.anyio

READ = ToolDef(
    name="fs__read_text_file",
    description="Read the complete contents of a file from the file system as text.",
    input_schema={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    annotations={"readOnlyHint": True},
)
WRITE = ToolDef(
    name="fs__write_file",
    description="Create a new file or completely overwrite an existing file with new content.",
    input_schema={
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
    annotations={"readOnlyHint": False},
)
QUERY = ToolDef(
    name="db__write_query",
    description="Execute an INSERT, UPDATE, or DELETE query on the SQLite database",
    input_schema={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
TABLES = ToolDef(name="db__list_tables", description="List all tables in the SQLite database")
TOOLS = [READ, WRITE, QUERY, TABLES, FINISH_TOOL]


def _content(text: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "qwen",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": None}
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def _reply(thought: str, tool: str, arguments: dict[str, Any]) -> str:
    return json.dumps({THOUGHT_KEY: thought, "tool": tool, "arguments": arguments})


def _model(fake: FakeProvider, **kw: Any) -> OpenAIModel:
    return OpenAIModel("qwen", base_url=f"{fake.url}/v1", api_key="x", max_retries=0, **kw)


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return schema.get("anyOf", [schema])


async def test_json_object_sends_the_schema_and_no_tools(fake_provider: FakeProvider) -> None:
    text = _reply("Read orders.csv, then load it.", "fs__read_text_file", {"path": "orders.csv"})
    fake_provider.reply(_content(text, {"prompt_tokens": 900, "completion_tokens": 30, "total_tokens": 930}))
    model = _model(fake_provider, actions="json_object")
    response = await model.request(
        ModelRequest(instructions="Be brief.", trajectory=Trajectory(task="Load orders.csv"), tools=TOOLS)
    )
    await model.aclose()

    body = fake_provider.requests[0].body
    assert "tools" not in body and "tool_choice" not in body
    assert body["response_format"]["type"] == "json_object"
    branches = _branches(body["response_format"]["schema"])
    assert [b["properties"]["tool"]["const"] for b in branches] == [t.name for t in TOOLS]
    assert list(branches[0]["properties"]) == [THOUGHT_KEY, "tool", "arguments"]
    system, task = body["messages"]
    assert system["role"] == "system" and system["content"].startswith("Be brief.")
    # The descriptions reach the model, which the stock chatml-function-calling handler does not do.
    assert "Execute an INSERT, UPDATE, or DELETE query" in system["content"]
    assert task == {"role": "user", "content": "Load orders.csv"}

    assert response.thought == "Read orders.csv, then load it."
    [call] = response.tool_calls
    assert (call.name, call.arguments) == ("fs__read_text_file", {"path": "orders.csv"})
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.requests) == (900, 30, 1)


async def test_json_schema_uses_openais_structured_output_form(fake_provider: FakeProvider) -> None:
    fake_provider.reply(_content(_reply("Done.", "finish", {"result": "ok"})))
    model = _model(fake_provider, actions="json_schema")
    response = await model.request(ModelRequest(instructions="", trajectory=Trajectory(task="t"), tools=TOOLS))
    await model.aclose()
    fmt = fake_provider.requests[0].body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "next_action"
    assert len(_branches(fmt["json_schema"]["schema"])) == len(TOOLS)
    assert [c.name for c in response.tool_calls] == ["finish"]


async def test_a_withheld_tool_stays_listed_in_the_prompt_but_not_in_the_reply_schema(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.reply(_content(_reply("Done.", "finish", {"result": "ok"})))
    fake_provider.reply(_content(_reply("Done.", "finish", {"result": "ok"})))
    model = _model(fake_provider, actions="json_object")
    allowed = [READ, QUERY, TABLES, FINISH_TOOL]  # fs__write_file sits out this step
    await model.request(ModelRequest(instructions="", trajectory=Trajectory(task="t"), tools=allowed, listed=TOOLS))
    await model.request(ModelRequest(instructions="", trajectory=Trajectory(task="t"), tools=TOOLS))
    await model.aclose()
    withheld, whole = (r.body for r in fake_provider.requests)
    assert [b["properties"]["tool"]["const"] for b in _branches(withheld["response_format"]["schema"])] == [
        t.name for t in allowed
    ]
    # The system prompt is byte-identical, so a server's prompt cache of the prefix survives.
    assert "fs__write_file" in withheld["messages"][0]["content"]
    assert withheld["messages"][0] == whole["messages"][0]


async def test_past_steps_replay_the_exact_reply_then_the_observation(fake_provider: FakeProvider) -> None:
    # Odd spacing on purpose: the replay must be byte-identical, not re-serialized.
    first = f'{{"{THOUGHT_KEY}": "Read it.",  "tool": "fs__read_text_file", "arguments": {{"path": "a.txt"}}}}'
    fake_provider.reply(_content(first))
    model = _model(fake_provider, actions="json_object")
    request = ModelRequest(instructions="", trajectory=Trajectory(task="t"), tools=TOOLS)
    response = await model.request(request)
    [call] = response.tool_calls
    step = Step(
        index=1,
        thought=response.thought,
        tool_calls=(call,),
        observations=(Observation(call_id=call.id, content="alpha"),),
    )
    fake_provider.replies[:] = [(200, _content(_reply("Done.", "finish", {"result": "alpha"})))]
    await model.request(request.model_copy(update={"trajectory": Trajectory(task="t", steps=[step])}))
    await model.aclose()

    messages = fake_provider.requests[1].body["messages"]
    assert messages[2] == {"role": "assistant", "content": first}
    assert messages[3] == {"role": "user", "content": "Observation from fs__read_text_file: alpha"}


async def test_a_write_that_misses_its_thought_is_asked_again(fake_provider: FakeProvider) -> None:
    # The embedded model's measured failure (see _llama_recheck), now over the wire.
    thought = "Insert every row into the orders table."
    fake_provider.reply(_content(_reply(thought, "fs__write_file", {"path": "orders.csv", "content": "x"})))
    fake_provider.reply(_content(_reply(thought, "db__write_query", {"query": "INSERT INTO orders VALUES (1)"})))
    model = _model(fake_provider, actions="json_object")
    response = await model.request(ModelRequest(instructions="", trajectory=Trajectory(task="t"), tools=TOOLS))
    await model.aclose()

    assert [c.name for c in response.tool_calls] == ["db__write_query"]
    assert response.usage.requests == 2
    second = _branches(fake_provider.requests[1].body["response_format"]["schema"])
    assert {b["properties"]["tool"]["const"] for b in second} <= {"db__write_query", "db__list_tables"}
    assert all(b["properties"][THOUGHT_KEY] == {"const": thought} for b in second)
    [recheck] = model.rechecks
    assert (recheck.chosen, recheck.picked) == ("fs__write_file", "db__write_query")


async def test_a_recheck_leaves_a_thought_with_quotes_free_for_the_servers_converter(
    fake_provider: FakeProvider,
) -> None:
    # llama-cpp-python's server would turn a const holding a quote into a grammar llama.cpp cannot parse.
    thought = 'Insert the row ("pen", 3) into the orders table.'
    fake_provider.reply(_content(_reply(thought, "fs__write_file", {"path": "orders.csv", "content": "x"})))
    fake_provider.reply(_content(_reply("Insert it.", "db__write_query", {"query": "INSERT INTO orders VALUES (1)"})))
    model = _model(fake_provider, actions="json_object")
    response = await model.request(ModelRequest(instructions="", trajectory=Trajectory(task="t"), tools=TOOLS))
    await model.aclose()

    assert [c.name for c in response.tool_calls] == ["db__write_query"]
    second = _branches(fake_provider.requests[1].body["response_format"]["schema"])
    assert all(
        b["properties"][THOUGHT_KEY]["type"] == "string" and "const" not in b["properties"][THOUGHT_KEY] for b in second
    )


async def test_recheck_off_keeps_the_first_pick(fake_provider: FakeProvider) -> None:
    thought = "Insert every row into the orders table."
    fake_provider.reply(_content(_reply(thought, "fs__write_file", {"path": "orders.csv", "content": "x"})))
    model = _model(fake_provider, actions="json_object", recheck=False)
    response = await model.request(ModelRequest(instructions="", trajectory=Trajectory(task="t"), tools=TOOLS))
    await model.aclose()
    assert [c.name for c in response.tool_calls] == ["fs__write_file"]
    assert len(fake_provider.requests) == 1 and model.rechecks == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("I will read the file first.", "not JSON"),
        (f'{{"{THOUGHT_KEY}": "x", "tool": "rm", "arguments": {{}}}}', "no tool"),
    ],
)
async def test_a_reply_outside_the_schema_is_a_model_error(
    fake_provider: FakeProvider, content: str, problem: str
) -> None:
    # A server that ignores response_format must fail loudly, not run a made-up action.
    fake_provider.reply(_content(content))
    model = _model(fake_provider, actions="json_object")
    with pytest.raises(ModelError, match=f"model openai:qwen@.* reply .*{problem}"):
        await model.request(ModelRequest(instructions="", trajectory=Trajectory(task="t"), tools=TOOLS))
    await model.aclose()


def test_the_model_string_selects_json_actions() -> None:
    model = model_from_string("openai:qwen@http://127.0.0.1:9/v1?actions=json_object&recheck=off")
    assert isinstance(model, OpenAIModel) and model.actions == "json_object"
    assert model_from_string("openai:qwen@http://127.0.0.1:9/v1").actions == "tools"  # pyright: ignore[reportAttributeAccessIssue]
    with pytest.raises(ConfigError, match="actions=.*tools, json_object or json_schema"):
        model_from_string("openai:qwen@http://127.0.0.1:9/v1?actions=json")
    penalized = model_from_string("openai:qwen@http://127.0.0.1:9/v1?repeat_penalty=1")
    assert isinstance(penalized, OpenAIModel) and penalized.repeat_penalty == 1.0
    with pytest.raises(ConfigError, match="repeat_penalty=.*from 0 to 2"):
        model_from_string("openai:qwen@http://127.0.0.1:9/v1?repeat_penalty=3")
