"""LlamaCppModel: reply schema, grammar fallback and prompt rendering (fast), plus one
run of the real embedded model (``-m embedded``)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
from array import array
from pathlib import Path
from typing import Any, Literal, cast

import anyio
import anyio.to_thread
import jsonschema
import pytest
from pydantic import BaseModel, Field

from nexthop._exceptions import ConfigError, MissingExtraError, ModelError
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, Step, ToolCall, Trajectory, Usage
from nexthop.host._tools import tool
from nexthop.models import _llama, _llama_prefix, _llama_runtime
from nexthop.models._llama import LlamaCppModel
from nexthop.models._llama_kv import PrefixCache, prefix_key
from nexthop.models._llama_prompt import (
    ANY_OBJECT,
    EXEMPLAR,
    THOUGHT_KEY,
    avoided_opening,
    build_messages,
    build_reply_schema,
    observation_message,
    opening_thought,
    parse_reply,
    signature,
    simplify_schema,
    system_prompt,
)
from nexthop.models._model import ModelRequest

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


def test_the_first_reply_states_the_task_as_its_remaining_work() -> None:
    task = 'Save settings.json with this content:\n{"theme": "dark"}'
    first = Trajectory(task=task)
    thought = opening_thought(first)
    assert thought == 'Save settings.json with this content: {"theme": "dark"}'
    schema = build_reply_schema(TOOLS, thought=thought)
    jsonschema.validate({THOUGHT_KEY: thought, "tool": "read_file", "arguments": {"path": "a"}}, schema)
    with pytest.raises(jsonschema.ValidationError):  # a description copied as the thought no longer fits
        jsonschema.validate({THOUGHT_KEY: "Read a text file.", "tool": "read_file", "arguments": {"path": "a"}}, schema)

    later = Trajectory(task=task, steps=[Step(index=1, thought=thought)])
    assert opening_thought(later) is None  # from step 2 on, the model says what is left
    retried = Trajectory(task=task, memory=Trajectory(task=task))
    assert opening_thought(retried) is None  # an earlier attempt may have done part of it
    assert opening_thought(Trajectory(task="x" * 301)) is None  # longer than the thought's cap
    assert opening_thought(Trajectory(task=" \n")) is None


def _after(thought: str, *observations: Observation, tool: str = "write_file") -> Trajectory:
    call = ToolCall(id="c1", name=tool, arguments={"path": "errors.txt", "content": "x"})
    return Trajectory(task="t", steps=[Step(index=1, thought=thought, tool_calls=(call,), observations=observations)])


def test_after_a_write_that_succeeded_the_thought_may_not_open_with_the_same_word() -> None:
    thought = "Copy only the ERROR lines of log.txt into errors.txt, then move log.txt into old."
    wrote = Observation(call_id="c1", content="Successfully wrote to errors.txt")
    avoid = avoided_opening(_after(thought, wrote), TOOLS)
    assert avoid == "Copy"
    schema = build_reply_schema(TOOLS, avoid=avoid)
    call = {"tool": "read_file", "arguments": {"path": "a"}}
    # The verbatim copy, and the evasions a 1.5B model made of a three-word ban.
    for copy in (thought, "Copy only the.ERROR lines", "copy the lines", "COPYING", " Copy it", ".Copy"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({THOUGHT_KEY: copy, **call}, schema)
    for fresh in ("Move log.txt into old.", "Cope", "Cop", "Write the ERROR lines, then copy it"):
        jsonschema.validate({THOUGHT_KEY: fresh, **call}, schema)

    # A read leaves the work as it was; so does a call that failed, was skipped or did not run.
    read = Observation(call_id="c1", content="09:02 ERROR disk full")
    assert avoided_opening(_after(thought, read, tool="read_file"), TOOLS) is None
    assert avoided_opening(_after(thought, wrote, tool="gone__write_file"), TOOLS) is None  # a tool not listed
    assert (
        avoided_opening(_after(thought, Observation(call_id="c1", content="Error: denied", is_error=True)), TOOLS)
        is None
    )
    assert avoided_opening(_after(thought, Observation(call_id="c1", content="Error: no such file")), TOOLS) is None
    skipped = Observation(call_id="c1", content="not run: known failure", is_error=True, skipped=True)
    assert avoided_opening(_after(thought, skipped), TOOLS) is None
    assert avoided_opening(_after(thought), TOOLS) is None
    assert avoided_opening(Trajectory(task="t"), TOOLS) is None
    assert avoided_opening(_after('"Quoted" first', wrote), TOOLS) is None
    assert avoided_opening(_after("  step2: done", wrote), TOOLS) == "step2"


@pytest.mark.embedded
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed: pip install 'nexthop[local]'")
def test_the_reply_grammar_forbids_the_avoided_word_and_nothing_else() -> None:
    from grammar_check import grammar_accepts

    from nexthop.models._llama_gbnf import schema_grammar

    grammar = schema_grammar(build_reply_schema(TOOLS, avoid="Copy"))

    def reply(thought: str) -> str:
        return json.dumps({THOUGHT_KEY: thought, "tool": "read_file", "arguments": {"path": "a.txt"}})

    for copy in ("Copy only the ERROR lines.", "Copy only the.ERROR", "copy", "COPYING", " Copy", ".Copy", ""):
        assert not grammar_accepts(grammar, reply(copy)), copy
    for fresh in ("Move log.txt into old.", "Cope", "Cop", 'Say "hi" to Ana', "Write it\n then copy", "x" * 290):
        assert grammar_accepts(grammar, reply(fresh)), fresh
    assert not grammar_accepts(grammar, reply("x" * 301))  # the cap still holds
    # Without a word to avoid, the copy is a valid reply: the grammar above is what refused it.
    assert grammar_accepts(schema_grammar(build_reply_schema(TOOLS)), reply("Copy only the ERROR lines."))


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


class Edit(BaseModel):
    old_text: str
    new_text: str


class EditArgs(BaseModel):
    path: str = Field(description="The file.")
    edits: list[Edit]
    mode: Literal["fast", "safe"]
    to: Point
    dry_run: bool = False


def test_signature_types_every_required_argument_and_drops_optional_ones() -> None:
    assert signature(EditArgs.model_json_schema()) == (
        'path: string, edits: [{old_text: string, new_text: string}], mode: "fast"|"safe", to: {x: integer, y: integer}'
    )
    assert signature(MoveArgs.model_json_schema()) == "to: {x: integer, y: integer}"
    assert signature({"type": "object", "properties": {}}) == ""
    # Every argument optional: all are kept, as the grammar keeps them, or the tool could not be used.
    assert signature(Point.model_json_schema()) == "x: integer, y: integer"
    # A value the grammar leaves free (a cut recursive $ref, no schema) is "any".
    assert signature({"type": "object", "properties": {"a": {}}, "required": ["a"]}) == "a: any"


def test_system_prompt_with_signatures_lists_one_line_per_tool_and_is_stable() -> None:
    text = system_prompt("You are careful.", TOOLS, signatures=True)
    lines = text.splitlines()
    assert "- read_file(path: string): Read a text file." in lines
    assert "- write_file(path: string, content: string): Write a text file, replacing it." in lines
    assert "arguments:" not in text and '"properties"' not in text
    assert "call finish" in text
    assert system_prompt("You are careful.", TOOLS, signatures=True) == text
    assert len(text) < len(system_prompt("You are careful.", TOOLS))


def test_the_exemplar_follows_the_reply_format_and_is_written_as_replies_and_observations_are() -> None:
    plain = system_prompt("You are careful.", TOOLS)
    shown = system_prompt("You are careful.", TOOLS, exemplar=True)
    assert EXEMPLAR not in plain and shown == plain + "\n\n" + EXEMPLAR
    assert system_prompt("You are careful.", TOOLS, exemplar=True) == shown  # stable, so its KV state is cached
    lines = EXEMPLAR.splitlines()
    made_up = [ToolDef(name=n) for n in ("calendar__get_event", "calendar__list_events", "mail__send")]
    replies = [parse_reply(line, [*made_up, FINISH_TOOL], who="exemplar") for line in lines if line.startswith("{")]
    assert [action[0] for _, action in replies if action] == [*(t.name for t in made_up), "finish"]
    # The first reply's work is the task, as opening_thought fixes it in a real run.
    assert replies[0][0] == lines[1].removeprefix("Task: ")
    # Each result reads as observation_message writes a real one.
    failed = _step(1, "calendar__get_event", {"title": "team lunch"}, "no event is named 'team lunch'", True)
    sent = _step(3, "mail__send", {"to": "Dana"}, "sent")
    assert observation_message(failed) in lines and observation_message(sent) in lines
    # Its tools are not anyone's: none of them is on offer here.
    assert not {t.name for t in made_up} & {t.name for t in TOOLS}


def test_system_prompt_descriptions_are_one_clean_line_cut_at_a_sentence() -> None:
    odd = ToolDef(
        name="odd",
        description="Reads\u200b a file and returns its text.\u202e\n\nIt never writes. " + "More words " * 30,
    )
    lines = system_prompt("You are careful.", [odd]).splitlines()
    assert "- odd: Reads a file and returns its text. It never writes." in lines


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
    monkeypatch.setattr(_llama_runtime, "import_llama_cpp", lambda: None)
    with pytest.raises(ConfigError, match="not found"):
        LlamaCppModel(tmp_path / "nope.gguf")


def _unloaded_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LlamaCppModel:
    monkeypatch.setattr(_llama_runtime, "import_llama_cpp", lambda: None)
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    return LlamaCppModel(tmp_path / "model.gguf")


@pytest.mark.anyio
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed: pip install 'nexthop[local]'")
async def test_prepare_keeps_a_failed_load_for_the_first_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _unloaded_model(tmp_path, monkeypatch)  # b"GGUF" is no model: llama.cpp refuses it
    await model.prepare()  # best effort: no error here, nothing loaded
    assert model._llm is None
    request = ModelRequest(instructions="Be brief.", trajectory=Trajectory(task="Read a.txt"), tools=TOOLS)
    with pytest.raises(ModelError, match="could not load GGUF"):
        await model.request(request)


@pytest.mark.anyio
async def test_prepare_loads_the_gguf_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _unloaded_model(tmp_path, monkeypatch)
    loads: list[str] = []

    def load_now() -> None:
        loads.append("load")
        model._llm = cast(Any, object())

    monkeypatch.setattr(model, "_load_now", load_now)
    await model.prepare()
    await model.prepare()
    assert loads == ["load"] and model._llm is not None


def test_tool_list_share_is_the_listings_estimated_tokens_over_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_llama_runtime, "import_llama_cpp", lambda: None)
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    wide, narrow = LlamaCppModel(tmp_path / "model.gguf"), LlamaCppModel(tmp_path / "model.gguf", n_ctx=4096)
    brief = LlamaCppModel(tmp_path / "model.gguf", catalog="signatures")
    listing = system_prompt("", TOOLS)
    assert wide.tool_list_share(TOOLS) == pytest.approx(len(listing) / 4.5 / 8192)
    assert narrow.tool_list_share(TOOLS) == pytest.approx(2 * (wide.tool_list_share(TOOLS) or 0))
    assert (brief.tool_list_share(TOOLS) or 1) < (wide.tool_list_share(TOOLS) or 0)
    assert (wide.tool_list_share(TOOLS[:1]) or 1) < (wide.tool_list_share(TOOLS) or 0)


def test_parse_reply_into_a_tool_call_and_keep_its_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _unloaded_model(tmp_path, monkeypatch)
    text = '{"remaining_work": "done", "tool": "finish", "arguments": {"result": "ok"}}'
    response = model._replies.action(text, TOOLS, Usage(requests=1))
    assert response.thought == "done"
    assert response.tool_calls == (ToolCall(id="l1", name="finish", arguments={"result": "ok"}),)
    assert model._replies.texts == {"l1": text}
    assert model.name == "llama-cpp:model.gguf"

    with pytest.raises(ModelError, match="not JSON"):
        model._replies.action('{"remaining_work": "cut', TOOLS, Usage())
    with pytest.raises(ModelError, match="no tool on offer"):
        model._replies.action('{"remaining_work": "", "tool": "rm", "arguments": {}}', TOOLS, Usage())


def test_a_raw_control_character_in_a_string_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Seen in the task benchmark (os_edit_port): the grammar let a raw tab through inside
    # file content, and json.loads' strict mode ended a run whose work was done as an error.
    model = _unloaded_model(tmp_path, monkeypatch)
    text = '{"remaining_work": "done", "tool": "finish", "arguments": {"result": "a\tb\nc"}}'
    assert model._replies.action(text, TOOLS, Usage()).tool_calls[0].arguments == {"result": "a\tb\nc"}


@pytest.mark.embedded
@pytest.mark.anyio
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed: pip install 'nexthop[local]'")
async def test_embedded_model_makes_valid_calls_and_reuses_its_kv_cache(tmp_path: Path) -> None:
    # An empty prefix cache, so the first request evaluates its whole prompt.
    model = LlamaCppModel(n_ctx=4096, prefix_cache_dir=tmp_path)
    traj = Trajectory(task="Read notes.txt, then write its first line in upper case to out.txt, then finish.")
    instructions = "You are an agent that completes file tasks by calling tools."
    observations = ["buy milk\ncall Alice about the MCP demo on Friday\n" * 4, "wrote 9 bytes to out.txt"]
    usages: list[Usage] = []
    prompts: list[str] = []
    try:
        for i in range(3):
            request = ModelRequest(instructions=instructions, trajectory=traj, tools=TOOLS)
            response = await model.request(request)
            messages = build_messages(instructions, TOOLS, traj, model._replies.texts)
            prompts.append(model._formatter(messages=messages).prompt)
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


@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed: pip install 'nexthop[local]'")
def test_grammar_literals_escape_quotes_and_backslashes() -> None:
    from nexthop.models._llama_gbnf import schema_grammar

    text = 'a "b" \\c'
    grammar = schema_grammar({"type": "object", "properties": {"t": {"const": text}}, "required": ["t"]})
    # JSON form "a \"b\" \\c", then every quote and backslash of it escaped for GBNF
    assert '"\\"a \\\\\\"b\\\\\\" \\\\\\\\c\\""' in grammar, grammar


@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed: pip install 'nexthop[local]'")
def test_grammar_keeps_the_schema_order_of_properties() -> None:
    # The thought must be written before the tool is chosen: the reply schema lists it first.
    from nexthop.models._llama_gbnf import schema_grammar

    schema = build_reply_schema([ToolDef(name="fs__read", input_schema={"type": "object"})])
    root = next(line for line in schema_grammar(schema).splitlines() if line.startswith("root ::="))
    kvs = [f"{THOUGHT_KEY.replace('_', '-')}-kv", "tool-kv", "arguments-kv"]
    assert sorted(kvs, key=root.index) == kvs, root


@pytest.mark.embedded
@pytest.mark.anyio
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed: pip install 'nexthop[local]'")
async def test_a_task_with_quotes_and_backslashes_is_the_first_thought(tmp_path: Path) -> None:
    # Before the grammar's literals were escaped whole, this task made llama.cpp fail to
    # parse the grammar and then crash the process (SIGSEGV) while sampling.
    task = 'Save C:\\temp\\a.json with this content: {"theme": "dark"}'
    model = LlamaCppModel(n_ctx=4096, prefix_cache_dir=tmp_path)
    try:
        request = ModelRequest(instructions="Be brief.", trajectory=Trajectory(task=task), tools=TOOLS)
        response = await model.request(request)
    finally:
        await model.aclose()
    assert response.thought == task
    assert response.tool_calls[0].name in {t.name for t in TOOLS}


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


# --- The on-disk prefix cache, driven through a fake llama.cpp context (no model needed) ---


class FakeLlama:
    """Tokens are bytes of the prompt; ``eval`` records what it was asked to evaluate."""

    def __init__(self) -> None:
        self.held: list[int] = []
        self.evaluated: list[list[int]] = []

    @property
    def _input_ids(self) -> array[int]:  # llama_cpp's is a numpy array; both have tolist()
        return array("i", self.held)

    def tokenize(self, text: bytes, add_bos: bool = False, special: bool = True) -> list[int]:
        return list(text)

    def reset(self) -> None:
        self.held = []

    def eval(self, tokens: list[int]) -> None:
        self.held += tokens
        self.evaluated.append(list(tokens))


def _fake_format(messages: list[dict[str, str]]) -> Any:
    text = "".join(f"<{m['role']}>{m['content']}</>" for m in messages) + "<assistant>"
    return type("Rendered", (), {"prompt": text})()


@pytest.fixture
def fake_state(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Stand-ins for llama.cpp's state export/import: the state is the held tokens, as JSON."""
    restored: list[bytes] = []

    def read(llm: FakeLlama) -> bytes:
        return json.dumps(llm._input_ids.tolist()).encode()

    def restore(llm: FakeLlama, prefix: list[int], state: bytes) -> bool:
        restored.append(state)
        llm.reset()
        llm.eval(json.loads(state))
        llm.evaluated.pop()  # restored, not evaluated
        return True

    monkeypatch.setattr(_llama_prefix, "read_seq_state", read)
    monkeypatch.setattr(_llama_prefix, "restore_seq_state", restore)
    monkeypatch.setattr(_llama_runtime, "runtime_version", lambda: "0.3.36")
    return restored


def _fake_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> tuple[LlamaCppModel, FakeLlama]:
    monkeypatch.setattr(_llama_runtime, "import_llama_cpp", lambda: None)
    if not (tmp_path / "model.gguf").exists():  # rewriting it would change its identity, hence the key
        (tmp_path / "model.gguf").write_bytes(b"GGUF")
    model = LlamaCppModel(tmp_path / "model.gguf", prefix_cache_dir=tmp_path / "kv", **kwargs)
    llm = FakeLlama()
    model._llm, model._formatter = cast(Any, llm), _fake_format
    model._identity = _llama.model_identity(tmp_path / "model.gguf")
    return model, llm


def _prime(model: LlamaCppModel, llm: FakeLlama, tools: list[ToolDef], task: str = "Uppercase a.txt") -> list[int]:
    request = ModelRequest(instructions="Be brief.", trajectory=Trajectory(task=task), tools=tools)
    tokens = model.prompt_tokens(request)
    model._prime_prefix(cast(Any, llm), request, tokens)
    return tokens


def test_prefix_ends_before_the_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = _fake_loaded(tmp_path, monkeypatch)
    a = ModelRequest(instructions="Be brief.", trajectory=Trajectory(task="Read a"), tools=TOOLS)
    b = ModelRequest(instructions="Be brief.", trajectory=Trajectory(task="Write b"), tools=TOOLS)
    tokens_a, tokens_b = model.prompt_tokens(a), model.prompt_tokens(b)
    prefix = model.prefix_tokens(a, tokens_a)
    assert prefix == model.prefix_tokens(b, tokens_b) == tokens_a[: len(prefix)] == tokens_b[: len(prefix)]
    assert bytes(prefix).decode().endswith("</><")  # the system message, up to the next message's role
    assert bytes(prefix).decode().startswith("<system>Be brief.\n\nTools:\n- read_file")


def test_prefix_state_is_saved_once_then_restored_by_another_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_state: list[bytes]
) -> None:
    first, llm1 = _fake_loaded(tmp_path, monkeypatch)
    tokens = _prime(first, llm1, TOOLS)
    (saved,) = first.prefix_events
    prefix = tokens[: saved.tokens]
    assert saved.kind == "saved" and saved.path.parent == tmp_path / "kv" and saved.path.is_file()
    assert llm1.evaluated == [prefix]  # evaluated once, before generation (which reuses it)

    _prime(first, llm1, TOOLS, task="another task")  # same context, prefix already held: nothing to do
    assert len(first.prefix_events) == 1 and len(llm1.evaluated) == 1

    second, llm2 = _fake_loaded(tmp_path, monkeypatch)  # a new process, in effect
    _prime(second, llm2, TOOLS)
    (loaded,) = second.prefix_events
    assert (loaded.kind, loaded.path, loaded.tokens) == ("loaded", saved.path, saved.tokens)
    assert llm2.evaluated == [] and llm2._input_ids.tolist() == prefix
    assert fake_state == [json.dumps(prefix).encode()]
    assert [p.name for p in (tmp_path / "kv").iterdir()] == [saved.path.name]  # no temporary files left


def test_changed_tools_make_a_new_key_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_state: list[bytes]
) -> None:
    model, llm = _fake_loaded(tmp_path, monkeypatch)
    _prime(model, llm, TOOLS)
    _prime(model, llm, [read_file.definition, FINISH_TOOL])  # the tools changed mid-process
    other, llm2 = _fake_loaded(tmp_path, monkeypatch)
    _prime(other, llm2, [write_file.definition, FINISH_TOOL])
    kinds = [e.kind for e in (*model.prefix_events, *other.prefix_events)]
    paths = {e.path for e in (*model.prefix_events, *other.prefix_events)}
    assert kinds == ["saved", "saved", "saved"] and len(paths) == 3
    assert fake_state == []
    assert sorted(p for p in (tmp_path / "kv").iterdir()) == sorted(paths)


def test_a_corrupt_or_refused_file_is_ignored_and_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_state: list[bytes]
) -> None:
    model, llm = _fake_loaded(tmp_path, monkeypatch)
    _prime(model, llm, TOOLS)
    path = model.prefix_events[0].path
    good = path.read_bytes()
    path.write_bytes(good[:-3])  # truncated

    again, llm2 = _fake_loaded(tmp_path, monkeypatch)
    _prime(again, llm2, TOOLS)
    assert again.prefix_events[0].kind == "saved" and path.read_bytes() == good
    assert fake_state == []

    monkeypatch.setattr(_llama_prefix, "restore_seq_state", lambda *_: False)  # llama.cpp rejects the bytes
    third, llm3 = _fake_loaded(tmp_path, monkeypatch)
    _prime(third, llm3, TOOLS)
    assert third.prefix_events[0].kind == "saved" and len(llm3.evaluated) == 1


def test_prefix_cache_off_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_state: list[bytes]
) -> None:
    model, llm = _fake_loaded(tmp_path, monkeypatch, prefix_cache_bytes=0)
    _prime(model, llm, TOOLS)
    assert model.prefix_events == [] and llm.evaluated == [] and not (tmp_path / "kv").exists()


def test_key_covers_model_context_tokens_and_runtime() -> None:
    base = prefix_key("m:1:2", 8192, [1, 2, 3], "0.3.36")
    assert base == prefix_key("m:1:2", 8192, [1, 2, 3], "0.3.36")
    others = [
        prefix_key("m:1:3", 8192, [1, 2, 3], "0.3.36"),
        prefix_key("m:1:2", 4096, [1, 2, 3], "0.3.36"),
        prefix_key("m:1:2", 8192, [1, 2, 4], "0.3.36"),
        prefix_key("m:1:2", 8192, [1, 2, 3], "0.3.37"),
    ]
    assert len({base, *others}) == 5


def test_cache_folder_stays_bounded_least_recently_used_first(tmp_path: Path) -> None:
    cache = PrefixCache(tmp_path, max_bytes=2500)
    paths = [cache.store(k, [1], b"x" * 1000) for k in ("a", "b")]
    for age, p in enumerate(reversed(paths)):  # "a" older than "b"
        os.utime(p, (1000.0 - age * 10, 1000.0 - age * 10))
    assert cache.load("a", [1]) == b"x" * 1000  # a hit makes "a" the most recent
    assert cache.load("a", [2]) is None and not paths[0].exists()  # other tokens: deleted as stale
    paths[0] = cache.store("a", [1], b"x" * 1000)
    os.utime(paths[1], (900.0, 900.0))
    c = cache.store("c", [1], b"y" * 1000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.kv", "c.kv"] and c.exists()
    big = cache.store("d", [1], b"z" * 5000)  # larger than the bound alone: kept, the rest go
    assert [p.name for p in tmp_path.iterdir()] == [big.name]


@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed: pip install 'nexthop[local]'")
def test_only_a_runs_first_request_fixes_the_thought(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, llm = _fake_loaded(tmp_path, monkeypatch, prefix_cache_bytes=0)
    asked: list[str | None] = []
    schemas = model._schemas

    def spy(tools: Any, thought: str | None = None, avoid: str | None = None) -> dict[str, Any]:
        asked.append(thought)
        return schemas(tools, thought, avoid)

    replies = iter(
        [
            '{"remaining_work": "Uppercase a.txt", "tool": "read_file", "arguments": {"path": "a.txt"}}',
            '{"remaining_work": "write A", "tool": "write_file", "arguments": {"path": "a.txt", "content": "A"}}',
        ]
    )

    def complete(llm: Any, tokens: list[int], grammar: str, **_: Any) -> dict[str, Any]:
        return {"choices": [{"text": next(replies), "finish_reason": "stop"}], "usage": {"completion_tokens": 9}}

    monkeypatch.setattr(model, "_schemas", spy)
    monkeypatch.setattr(_llama, "complete_under_grammar", complete)
    traj = Trajectory(task="Uppercase a.txt")
    first = model._generate(ModelRequest(instructions="Be brief.", trajectory=traj, tools=TOOLS))
    traj.steps.append(Step(index=1, thought="Uppercase a.txt"))
    model._generate(ModelRequest(instructions="Be brief.", trajectory=traj, tools=TOOLS))
    assert asked == ["Uppercase a.txt", None]
    assert first.text.startswith('{"remaining_work": "Uppercase a.txt"')


@pytest.mark.anyio
@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed: pip install 'nexthop[local]'")
async def test_closing_waits_for_an_abandoned_generation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A request whose task was torn down by a signal (Ctrl-C, pytest-timeout) leaves its
    # worker thread decoding; freeing the context under it crashed the process (SIGSEGV).
    model, llm = _fake_loaded(tmp_path, monkeypatch, prefix_cache_bytes=0)
    decoding, events = threading.Event(), list[str]()

    def complete(llm: Any, tokens: list[int], grammar: str, *, should_stop: Any, **_: Any) -> dict[str, Any]:
        decoding.set()
        tokens_made = 0
        while tokens_made < 10_000_000 and not should_stop(None, None):  # one check per token
            tokens_made += 1
        events.append("decoding ended")
        return {"choices": [{"text": "{", "finish_reason": "stop"}], "usage": {"completion_tokens": tokens_made}}

    monkeypatch.setattr(_llama, "complete_under_grammar", complete)
    monkeypatch.setattr(llm, "close", lambda: events.append("closed"), raising=False)
    monkeypatch.setattr(_llama, "_host_task_cancelled", lambda: False)  # the abandoned thread's task is gone
    request = ModelRequest(instructions="Be brief.", trajectory=Trajectory(task="Uppercase a.txt"), tools=TOOLS)
    worker = threading.Thread(target=model._generate, args=(request,))
    worker.start()
    with anyio.fail_after(10):
        await anyio.to_thread.run_sync(decoding.wait)
        await model.aclose()
    worker.join()
    assert events == ["decoding ended", "closed"]
    assert model._llm is None and not model._closing


def test_a_result_that_starts_with_an_error_label_reaches_the_model_as_an_error() -> None:
    # The SQLite reference server answers bad SQL as a success; the policies read it as
    # a failure (Observation.failed), and the model must be told the same.
    call = ToolCall(id="c1", name="write_query", arguments={"query": "INSERT INTO x VALUES (1)"})
    step = Step(
        index=1,
        thought="insert",
        tool_calls=(call,),
        observations=(Observation(call_id="c1", content="Database error: no such table: x"),),
    )
    assert observation_message(step).startswith("ERROR from write_query: Database error")
    read_back = step.model_copy(update={"observations": (Observation(call_id="c1", content="ERROR disk full"),)})
    assert observation_message(read_back).startswith("Observation from write_query:")
