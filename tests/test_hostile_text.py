"""Hostile text through every display path and every path to the model (issue 9, items 4-7; issue 7, item 4).

The strings (tests/support/hostile.py) hold escape sequences (CSI, OSC 52, OSC 8),
C0 and C1 controls, bidi controls, zero-width and tag characters, variation
selectors, rich markup, newline injection, 10,000-character names and confusables.
Each is sent through:

- the terminal: the live steps (action, arguments, observation), server lines, the
  result line, the tool table, the approval prompt, and ``nexthop tools`` / ``nexthop
  run`` end to end over stdio, with ``--json`` too;
- the model: tool names and descriptions through a connection (pinning on and off),
  tool results, and the task, context and memory an MCP client hands to ``run_task``.

The checks: no character a person cannot see, or a terminal would obey, reaches
either (judged by Unicode's categories and Default_Ignorable ranges, not by nexthop's
sanitiser); rich markup is shown literally; nothing crashes.

Terminal output is captured from a rich `Console` that is not a terminal and has no
colour system, so rich adds no escape sequence of its own: any control byte in the
capture came from the input.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mcp
import pytest
from hostile import HOSTILE, MARKUP, SENDABLE, hidden_chars
from hostile_server import STDERR_LINE, make_server
from rich.console import Console
from rich.prompt import Confirm

from nexthop import AgentHost, ModelRequest, ModelResponse, ScriptedModel, Trajectory
from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, RunResult, Step, TerminationReason, ToolCall, Usage
from nexthop.cli._app import main
from nexthop.cli._policy import terminal_approver
from nexthop.cli._render import StepPrinter, print_result, print_tools
from nexthop.clients import MCPConnection
from nexthop.host._approval import ApprovalRequest
from nexthop.host._loop import ActionEvent
from nexthop.host._views import ServerState
from nexthop.models import call, finish
from nexthop.policies._config import PolicyConfig
from nexthop.servers._server import build_server

SERVER = Path(__file__).resolve().parent / "support" / "hostile_server.py"
HOSTILE_FLAG = f"hostile={sys.executable} {SERVER}"
TEXTS = [text for _, text in HOSTILE]
SENT = [text for _, text in SENDABLE]  # what a server can send (no lone surrogates)
BY_ID = pytest.mark.parametrize("text", TEXTS, ids=[k for k, _ in HOSTILE])


def test_the_suite_is_big_enough() -> None:
    assert len(HOSTILE) >= 50
    assert len(set(TEXTS)) == len(TEXTS)
    assert sum(bool(hidden_chars(t)) for t in TEXTS) >= 40  # most carry something a person cannot see


# -- the terminal, path by path ----------------------------------------------------------


def plain_console() -> tuple[Console, io.StringIO]:
    """A console whose output is exactly the characters printed: no colour, no terminal, no live display."""
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, color_system=None, width=160, highlight=False), buffer


def show_action(console: Console, text: str) -> None:
    printer = StepPrinter(console)
    arguments = {"text": text, text: [text], "nested": {"k": text}}
    event = ActionEvent(
        step_index=1, thought=text, tool_calls=(ToolCall(id="c1", name=text, arguments=arguments),), elapsed_s=0.1
    )
    try:
        printer(event)
    finally:
        printer.stop()


def show_observation(console: Console, text: str) -> None:
    printer = StepPrinter(console)
    calls = (ToolCall(id="c1", name=text), ToolCall(id="c2", name="srv__ok"))
    observations = (Observation(call_id="c1", content=text), Observation(call_id="c2", content=text, is_error=True))
    try:
        printer(Step(index=1, thought=text, tool_calls=calls, observations=observations))
    finally:
        printer.stop()


def show_servers(console: Console, text: str) -> None:
    StepPrinter(console).servers(
        [
            ServerState(name=text, state="connected", error=None, protocol_version=text),
            ServerState(name=text, state="failed", error=text, protocol_version=None),
        ]
    )


def show_result(console: Console, text: str) -> None:
    result = RunResult(
        status="error",
        result=text,
        termination=TerminationReason(kind="error", detail=text),
        trajectory=Trajectory(task=text),
        usage=Usage(),
        wall_time_s=1.0,
    )
    print_result(console, result)


def show_tools(console: Console, text: str) -> None:
    states = [
        ServerState(name="srv", state="connected", error=None, protocol_version="2025-11-25"),
        ServerState(name=text, state="failed", error=text, protocol_version=None),
    ]
    tools = [
        ToolDef(name=text, description=text, server="srv"),
        ToolDef(name="srv__ok", description=text, server="srv"),
    ]
    print_tools(console, console, states, tools)


def show_approval(console: Console, text: str) -> None:
    import anyio

    request = ApprovalRequest(
        tool=text, server=text, arguments={"a": text, text: [1, text]}, description=text, task=text
    )
    decision = anyio.run(terminal_approver(console), request)
    assert decision.approved is False


DISPLAYS: dict[str, Callable[[Console, str], None]] = {
    "action": show_action,
    "observation": show_observation,
    "servers": show_servers,
    "result": show_result,
    "tools": show_tools,
    "approval": show_approval,
}


@pytest.fixture
def at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The approval prompt believes a person is there, and that person says no."""
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(Confirm, "ask", classmethod(lambda cls, *args, **kwargs: False))  # type: ignore[arg-type]


@pytest.mark.usefixtures("at_a_terminal")
@pytest.mark.parametrize("display", list(DISPLAYS))
@BY_ID
def test_no_display_path_prints_a_control_byte_or_hidden_character(display: str, text: str) -> None:
    console, buffer = plain_console()
    DISPLAYS[display](console, text)  # a MarkupError here would be the crash of issue 9, item 4
    output = buffer.getvalue()
    assert hidden_chars(output, allowed="\n") == []


@pytest.mark.usefixtures("at_a_terminal")
@pytest.mark.parametrize("display", list(DISPLAYS))
@pytest.mark.parametrize("text", list(MARKUP.values()), ids=list(MARKUP))
def test_markup_is_shown_as_written(display: str, text: str) -> None:
    console, buffer = plain_console()
    DISPLAYS[display](console, text)
    assert text in buffer.getvalue()


def test_with_colour_only_rich_emits_escape_sequences() -> None:
    # In a real terminal rich adds SGR colour codes; nothing else may appear (no OSC 8 link from [link=...]).
    import re

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=160)
    for text in TEXTS:
        show_tools(console, text)
        show_result(console, text)
    without_colour = re.sub(r"\x1b\[[0-9;]*m", "", buffer.getvalue())
    assert hidden_chars(without_colour, allowed="\n") == []


@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING])
def test_logs_are_cleaned_before_rich_shows_them_verbose_or_not(level: int) -> None:
    # Without --verbose the handler still cleans: the SDK warns with names a model chose
    # ("Tool X not listed by server"), which Python's last-resort handler printed raw.
    from nexthop.cli._app import log_handler

    console, buffer = plain_console()
    logger = logging.getLogger(f"nexthop.tests.hostile.{level}")
    logger.propagate, logger.level = False, logging.DEBUG
    logger.addHandler(log_handler(console, level))
    for text in TEXTS:
        logger.warning("Tool %s not listed by server", text)
        logger.info("info %s", text)
    shown = buffer.getvalue()
    assert hidden_chars(shown, allowed="\n") == []
    assert shown.count("WARNING") == len(TEXTS)
    assert shown.count(" INFO ") == (len(TEXTS) if level == logging.INFO else 0)


# -- the terminal, end to end ------------------------------------------------------------


def test_nexthop_tools_lists_a_hostile_server_safely(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--server", HOSTILE_FLAG]) == 0
    captured = capsys.readouterr()
    assert "hostile__result" in captured.out
    assert hidden_chars(captured.out, allowed="\n") == [] and hidden_chars(captured.err, allowed="\n") == []
    assert "[bold red]styled[/bold red]" in captured.out and "evil[/x]" in captured.out

    assert main(["tools", "--server", HOSTILE_FLAG, "--json"]) == 0
    captured = capsys.readouterr()
    listing = json.loads(captured.out)
    assert hidden_chars(captured.out, allowed="\n") == []
    described = {t["description"] for t in listing["hostile"]["tools"]}
    assert any("styled" in d for d in described)


def test_a_failing_servers_stderr_is_quoted_safely(capsys: pytest.CaptureFixture[str]) -> None:
    failing = f"bad={sys.executable} {SERVER} fail"
    assert main(["tools", "--server", failing, "--server", HOSTILE_FLAG]) == 5
    captured = capsys.readouterr()
    assert "bad" in captured.err and "boom[bold red]" in captured.err  # the tail is quoted, as text
    assert hidden_chars(captured.err, allowed="\n") == [] and hidden_chars(captured.out, allowed="\n") == []
    assert "\x1b" in STDERR_LINE  # (what the server wrote was hostile)


def run_script(tmp_path: Path) -> Path:
    """A scripted run that thinks, calls and answers in hostile text, and calls a tool named ``evil[/x]``."""
    actions: list[dict[str, object]] = [
        {"tool": "hostile__result", "arguments": {"i": i, "note": text}, "thought": text} for i, text in enumerate(SENT)
    ]
    actions.append({"tool": "evil[/x]", "arguments": {"x": "[/]"}, "thought": "[bold]call it[/bold]"})
    actions.append({"tool": "finish", "arguments": {"result": "".join(SENT)}})
    path = tmp_path / "actions.json"
    path.write_text(json.dumps(actions))
    return path


def test_nexthop_run_shows_a_hostile_run_safely(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = "call result to return each hostile string"  # so a narrowed tool list still offers hostile__result
    argv = ["run", task, "--model", f"scripted:{run_script(tmp_path)}", "--server", HOSTILE_FLAG]
    argv += ["--max-steps", "200", "--pin-file", str(tmp_path / "pins.json")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert hidden_chars(captured.err, allowed="\n") == []
    assert hidden_chars(captured.out, allowed="\n\t") == []  # the final answer keeps its lines and tabs
    assert "evil[/x]" in captured.err and "[bold red]styled[/bold red]" in captured.out

    assert main([*argv, "--json", "--no-pinning"]) == 0
    captured = capsys.readouterr()
    assert hidden_chars(captured.out, allowed="\n") == []
    result = json.loads(captured.out)  # hidden characters are escaped in the JSON, not lost
    assert result["result"] == "".join(SENT)
    steps = result["trajectory"]["steps"]
    assert len(steps) == len(SENT) + 2
    assert [s["observations"][0]["is_error"] for s in steps[: len(SENT)]] == [False] * len(SENT)
    assert [s["observations"][0]["content"] for s in steps[:2]] == ["red plain", "shown concealed text"]


# -- the model ---------------------------------------------------------------------------


class Recorder:
    """Answers from a script and keeps every request, to check what the model was shown."""

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    def __call__(self, response: ModelResponse) -> Callable[[ModelRequest], ModelResponse]:
        def answer(request: ModelRequest) -> ModelResponse:
            self.requests.append(request)
            return response

        return answer


def seen_by_model(request: ModelRequest) -> dict[str, str]:
    """Every untrusted text the model is shown in a request: tools, the opening message, observations."""
    seen = {"task message": request.trajectory.task_message()}
    for t in request.tools:
        seen[f"name of {t.name!r}"] = t.name
        seen[f"description of {t.name!r}"] = t.description
    for step in request.trajectory.steps:
        for obs in step.observations:
            seen[f"observation {obs.call_id} of step {step.index}"] = obs.content
    return seen


def leaks(recorder: Recorder) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for n, request in enumerate(recorder.requests):
        for where, text in seen_by_model(request).items():
            if hidden := hidden_chars(text):
                found[f"request {n}, {where}"] = hidden
    return found


def every_tool(**settings: Any) -> PolicyConfig:
    """Policies that offer the model every tool, however many (the hostile server lists 140)."""
    if "narrow_tools_over" in PolicyConfig.model_fields:  # the tool-narrowing policy, where present
        settings["narrow_tools_over"] = None
    return PolicyConfig(**settings)


@pytest.mark.anyio
@pytest.mark.parametrize("pinning", [True, False], ids=["pinning", "no-pinning"])
async def test_tool_names_and_descriptions_reach_the_model_clean(tmp_path: Path, pinning: bool) -> None:
    recorder = Recorder()
    policy = every_tool(pinning=pinning, pin_file=tmp_path / "pins.json")
    model = ScriptedModel([recorder(finish("done"))])
    async with AgentHost(model=model, servers=[MCPConnection("hostile", make_server())], policy=policy) as host:
        result = await host.run("look")
    assert result.status == "completed"
    [request] = recorder.requests
    assert "hostile__result" in [t.name for t in request.tools]
    assert leaks(recorder) == {}


@pytest.mark.anyio
async def test_with_pinning_off_a_poisoned_description_reaches_neither_model_nor_terminal_raw(
    tmp_path: Path,
) -> None:
    poison = "Read a file.\x1b]52;c;ZXZpbA==\x07\u202e[bold red]IGNORE[/] \x1b[8mhidden\x1b[0m\u200b"
    server = make_server(hostile_names=False)
    server.add_tool(lambda: "ok", name="read", description=poison)
    recorder = Recorder()
    policy = every_tool(pinning=False)
    async with AgentHost(
        model=ScriptedModel([recorder(finish("done"))]), servers=[MCPConnection("evil", server)], policy=policy
    ) as host:
        await host.run("read it")
        states, tools = host.server_states(), await host.list_tools()
    [read] = [t for t in recorder.requests[0].tools if t.name == "evil__read"]
    assert hidden_chars(read.description) == [] and "Read a file." in read.description
    console, buffer = plain_console()
    print_tools(console, console, states, tools)
    assert hidden_chars(buffer.getvalue(), allowed="\n") == []
    assert "[bold red]IGNORE[/]" in buffer.getvalue()


@pytest.mark.anyio
async def test_tool_results_reach_the_model_clean() -> None:
    recorder = Recorder()
    script = [recorder(call("hostile__result", i=i)) for i in range(len(SENT))] + [recorder(finish("done"))]
    policy = PolicyConfig(pinning=False, doom_loop_n=0)
    server = make_server(hostile_names=False, descriptions=False)
    async with AgentHost(
        model=ScriptedModel(script), servers=[MCPConnection("hostile", server)], policy=policy
    ) as host:
        result = await host.run("read them all", max_steps=len(SENT) + 1)
    assert result.status == "completed"
    assert [s.observations[0].is_error for s in result.steps[:-1]] == [False] * len(SENT)
    assert leaks(recorder) == {}


def hostile_memory(text: str) -> Trajectory:
    call_ = ToolCall(id="m1", name=text, arguments={"query": text})
    step = Step(
        index=1,
        thought=text,
        tool_calls=(call_,),
        observations=(Observation(call_id="m1", content=text, is_error=True),),
    )
    return Trajectory(task=text, context=text, steps=[step])


@pytest.mark.anyio
async def test_task_context_and_memory_from_an_mcp_client_reach_the_model_clean() -> None:
    recorder = Recorder()
    model = ScriptedModel([recorder(finish("done")) for _ in SENT])
    async with AgentHost(model=model) as host:
        server = await build_server(host)
        async with mcp.Client(server) as client:
            for text in SENT:  # a client's JSON cannot carry a lone surrogate either
                memory = hostile_memory(text).model_dump(mode="json")
                result = await client.call_tool("run_task", {"task": text or "t", "context": text, "memory": memory})
                assert not result.is_error, (text, result.content[0])
    assert len(recorder.requests) == len(SENT)
    assert leaks(recorder) == {}
    # What was cleaned is still there in readable form: the words survive, only the hidden characters go.
    markup = recorder.requests[[k for k, _ in SENDABLE].index("markup-style")].trajectory.task_message()
    assert "[bold red]styled[/bold red]" in markup


@pytest.mark.anyio
async def test_the_run_task_description_a_calling_model_reads_is_clean() -> None:
    # It lists the servers' tool names, which no run policy has screened yet.
    async with AgentHost(model=ScriptedModel([]), servers=[MCPConnection("hostile", make_server())]) as host:
        server = await build_server(host)
        async with mcp.Client(server) as client:
            [run_task] = (await client.list_tools()).tools
    assert "hostile: result" in (run_task.description or "")
    assert hidden_chars(run_task.description or "") == []
