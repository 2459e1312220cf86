"""LlamaCppModel: reply schema, grammar fallback and prompt rendering (fast), plus one
run of the real embedded model (``-m embedded``)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, Field

from nexthop._exceptions import ConfigError, MissingExtraError, ModelError
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, Step, ToolCall, Trajectory, Usage
from nexthop.models import _llama
from nexthop.models._llama import LlamaCppModel
from nexthop.models._llama_prompt import (
    ANY_OBJECT,
    THOUGHT_KEY,
    build_messages,
    build_reply_schema,
    simplify_schema,
    system_prompt,
)
from nexthop.models._model import ModelRequest
from nexthop.host._tools import tool

HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None


class Point(BaseModel):
    x: int = Field(0, description="Horizontal.")
    y: int = 0


class Node(BaseModel):
    name: str
    children: list[Node] = []


@tool
def read_file(path: str) -> str:
    """Read a text file.

    Args:
        path: The file's path.
    """
    return path


@tool
def write_file(path: str, content: str) -> str:
    """Write a text file, replacing it.

    Args:
        path: The file's path.
        content: The new text.
    """
    return path


TOOLS = [read_file.definition, write_file.definition, FINISH_TOOL]


class MoveArgs(BaseModel):
    to: Point = Field(description="Where to.")
    note: str | None = None


def test_simplify_inlines_refs_and_drops_what_the_grammar_does_not_need() -> None:
    simple = simplify_schema(MoveArgs.model_json_schema())
    assert simple == {
        "type": "object",
        "required": ["to"],
        "properties": {
            "to": {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}}},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    }
    described = simplify_schema(MoveArgs.model_json_schema(), descriptions=True)
    assert described["properties"]["to"]["properties"]["x"]["description"] == "Horizontal."


def test_simplify_cuts_recursive_refs() -> None:
    # The top level is itself a $ref to Node; its children refer back to Node.
    assert simplify_schema(Node.model_json_schema()) == {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {}}},
    }


def test_reply_schema_has_one_branch_per_tool_in_order() -> None:
    schema = build_reply_schema(TOOLS)
    branches = schema["anyOf"]
    assert [b["properties"]["tool"] for b in branches] == [
        {"const": "read_file"},
        {"const": "write_file"},
        {"const": "finish"},
    ]
    for b in branches:
        assert list(b["properties"]) == [THOUGHT_KEY, "tool", "arguments"]
        assert b["required"] == [THOUGHT_KEY, "tool", "arguments"]
    assert branches[1]["properties"]["arguments"] == {
        "type": "object",
        "required": ["path", "content"],
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
    }
    jsonschema.validate({THOUGHT_KEY: "t", "tool": "finish", "arguments": {"result": "x"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({THOUGHT_KEY: "t", "tool": "finish", "arguments": {"path": "x"}}, schema)


def test_reply_schema_without_tools_is_a_plain_answer() -> None:
    assert build_reply_schema([]) == {
        "type": "object",
        "properties": {THOUGHT_KEY: {"type": "string"}},
        "required": [THOUGHT_KEY],
    }
    assert build_reply_schema([FINISH_TOOL])["properties"]["tool"] == {"const": "finish"}


def test_a_tool_whose_schema_fails_conversion_falls_back_to_any_object() -> None:
    def check(branch: dict[str, Any]) -> None:
        if branch["properties"]["tool"]["const"] == "write_file":
            raise ValueError("unsupported")

    branches = build_reply_schema(TOOLS, check=check)["anyOf"]
    assert branches[1]["properties"]["arguments"] == ANY_OBJECT
    assert branches[0]["properties"]["arguments"]["required"] == ["path"]


@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="needs llama-cpp-python: pip install 'nexthop[local]'")
def test_real_converter_rejects_unknown_type_and_we_fall_back() -> None:
    odd = ToolDef(name="odd", input_schema={"type": "object", "properties": {"when": {"type": "date"}}})
    with pytest.raises(Exception):  # noqa: B017 - the converter raises AssertionError here
        _llama._grammar_check(build_reply_schema([odd]))
    schema = build_reply_schema([read_file.definition, odd], check=_llama._grammar_check)
    assert schema["anyOf"][1]["properties"]["arguments"] == ANY_OBJECT
    _llama._grammar_check(schema)


def test_system_prompt_lists_tools_compactly_and_is_stable() -> None:
    text = system_prompt("You are careful.", TOOLS)
    assert text.startswith("You are careful.\n\nTools:\n- read_file: Read a text file.\n")
    assert '  arguments: {"type":"object","required":["path"],"properties":{"path":{"type":"string",' in text
    assert "call finish" in text
    assert system_prompt("You are careful.", TOOLS) == text


def _step(index: int, name: str, args: dict[str, Any], content: str, is_error: bool = False) -> Step:
    call = ToolCall(id=f"l{index}", name=name, arguments=args)
    return Step(
        index=index,
        thought=f"t{index}",
        tool_calls=(call,),
        observations=(Observation(call_id=call.id, content=content, is_error=is_error),),
    )


def test_messages_replay_generated_text_and_are_append_only() -> None:
    traj = Trajectory(task="Uppercase a.txt")
    generated = {"l1": '{"remaining_work": "read it", "tool": "read_file", "arguments": {"path": "a.txt"}}'}
    before = build_messages("Be brief.", TOOLS, traj, generated)
    assert [m["role"] for m in before] == ["system", "user"]
    assert before[1]["content"] == "Uppercase a.txt"

    traj.steps.append(_step(1, "read_file", {"path": "a.txt"}, "hello"))
    traj.steps.append(_step(2, "write_file", {"path": "/x", "content": "HELLO"}, "permission denied", True))
    after = build_messages("Be brief.", TOOLS, traj, generated)

    assert after[: len(before)] == before
    assert after[2:] == [
        {"role": "assistant", "content": generated["l1"]},
        {"role": "user", "content": "Observation from read_file: hello"},
        # not generated here: rendered canonically
        {
            "role": "assistant",
            "content": json.dumps(
                {THOUGHT_KEY: "t2", "tool": "write_file", "arguments": {"path": "/x", "content": "HELLO"}}
            ),
        },
        {"role": "user", "content": "ERROR from write_file: permission denied"},
    ]


def test_missing_llama_cpp_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(MissingExtraError, match=r"llama-cpp-python: pip install 'nexthop\[local\]'"):
        LlamaCppModel("model.gguf")


def test_missing_model_file_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_llama, "_import_llama_cpp", lambda: None)
    with pytest.raises(ConfigError, match="not found"):
        LlamaCppModel(tmp_path / "nope.gguf")


def _unloaded_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LlamaCppModel:
    monkeypatch.setattr(_llama, "_import_llama_cpp", lambda: None)
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    return LlamaCppModel(tmp_path / "model.gguf")


def test_parse_reply_into_a_tool_call_and_keep_its_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _unloaded_model(tmp_path, monkeypatch)
    text = '{"remaining_work": "done", "tool": "finish", "arguments": {"result": "ok"}}'
    response = model._parse(text, TOOLS, Usage(requests=1))
    assert response.thought == "done"
    assert response.tool_calls == (ToolCall(id="l1", name="finish", arguments={"result": "ok"}),)
    assert model._replies == {"l1": text}
    assert model.name == "llama-cpp:model.gguf"

    with pytest.raises(ModelError, match="not JSON"):
        model._parse('{"remaining_work": "cut', TOOLS, Usage())
    with pytest.raises(ModelError, match="no tool on offer"):
        model._parse('{"remaining_work": "", "tool": "rm", "arguments": {}}', TOOLS, Usage())


@pytest.mark.embedded
@pytest.mark.anyio
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed: pip install 'nexthop[local]'")
async def test_embedded_model_makes_valid_calls_and_reuses_its_kv_cache() -> None:
    model = LlamaCppModel(n_ctx=4096)
    traj = Trajectory(task="Read notes.txt, then write its first line in upper case to out.txt, then finish.")
    instructions = "You are an agent that completes file tasks by calling tools."
    observations = ["buy milk\ncall Alice about the MCP demo on Friday\n" * 4, "wrote 9 bytes to out.txt"]
    usages: list[Usage] = []
    prompts: list[str] = []
    try:
        for i in range(3):
            request = ModelRequest(instructions=instructions, trajectory=traj, tools=TOOLS)
            response = await model.request(request)
            prompts.append(model._formatter(messages=build_messages(instructions, TOOLS, traj, model._replies)).prompt)
            usages.append(response.usage)
            (call,) = response.tool_calls
            offered = {t.name: t for t in TOOLS}
            assert call.name in offered
            jsonschema.validate(call.arguments, offered[call.name].input_schema)
            content = observations[i] if i < len(observations) else "ok"
            traj.steps.append(
                Step(
                    index=i + 1,
                    thought=response.thought,
                    tool_calls=(call,),
                    observations=(Observation(call_id=call.id, content=content),),
                )
            )
    finally:
        await model.aclose()

    assert model.load_time_s is not None
    # The chat template only appends: each prompt, minus the trailing generation header, is a prefix of the next.
    header = "<|im_start|>assistant\n"
    for earlier, later in zip(prompts, prompts[1:], strict=False):
        assert earlier.endswith(header) and later.startswith(earlier)
    first, second, third = usages
    assert first.cached_input_tokens == 0
    full_third = third.input_tokens + third.cached_input_tokens
    # Everything already evaluated at request 2 is reused at request 3.
    assert third.cached_input_tokens >= second.input_tokens + second.cached_input_tokens
    assert third.input_tokens < full_third / 4, usages


def test_optional_arguments_are_dropped_only_when_some_are_required() -> None:
    from nexthop.models._llama_prompt import required_only

    read = {
        "type": "object",
        "properties": {"path": {"type": "string"}, "tail": {"type": "integer"}},
        "required": ["path"],
    }
    assert required_only(read)["properties"] == {"path": {"type": "string"}}
    search = {"type": "object", "properties": {"query": {"type": "string"}}}
    assert required_only(search) == search  # all optional: keep them, or the tool is unusable
