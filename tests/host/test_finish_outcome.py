"""``finish`` with ``outcome: failed``: the run ends ``gave_up`` with the model's account, not as a success."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexthop import AgentHost, ScriptedModel, tool
from nexthop._toolset import FINISH_TOOL, finish_outcome
from nexthop.cli._app import main
from nexthop.models import call, finish, reply
from nexthop.models._llama_prompt import build_reply_schema, system_prompt
from nexthop.policies import PolicyConfig

pytestmark = pytest.mark.anyio

ACCOUNT = "Could not copy notes.txt: the file does not exist, so summary.txt was not written."


@tool
def read(path: str) -> str:
    """Read a file."""
    raise FileNotFoundError(f"no such file: {path}")


async def test_a_finish_that_reports_failure_ends_gave_up_with_its_account() -> None:
    model = ScriptedModel([call("read", path="notes.txt"), finish(ACCOUNT, outcome="failed")])
    async with AgentHost(model=model, tools=[read]) as host:
        result = await host.run("copy notes.txt to summary.txt")
    assert (result.status, result.termination.kind, result.result) == ("incomplete", "gave_up", ACCOUNT)
    assert len(result.steps) == 2 and result.steps[-1].tool_calls[0].arguments["outcome"] == "failed"


async def test_a_finish_without_an_outcome_still_completes() -> None:
    # Models that ignore the argument (no strict schemas) keep finish's old meaning.
    model = ScriptedModel([call("finish", result="ok")])
    async with AgentHost(model=model, tools=[read]) as host:
        result = await host.run("say ok")
    assert (result.status, result.termination.kind, result.result) == ("completed", "completed", "ok")


async def test_the_completion_check_does_not_send_a_reported_failure_back() -> None:
    # The check asks "does the result meet the task?": a model that says it does not has answered it.
    model = ScriptedModel([finish(ACCOUNT, outcome="failed")])
    async with AgentHost(model=model, tools=[read], policy=PolicyConfig(completion_check=True)) as host:
        result = await host.run("copy notes.txt to summary.txt")
    assert (result.termination.kind, len(result.steps), result.steps[0].hint) == ("gave_up", 1, "")


async def test_a_reported_failure_is_retried_with_the_account_in_memory() -> None:
    model = ScriptedModel([finish(ACCOUNT, outcome="failed"), reply("The file is missing; list first."), finish("ok")])
    async with AgentHost(model=model, tools=[read]) as host:
        result = await host.run("copy notes.txt to summary.txt", retries=1)
    assert (result.status, result.termination.kind) == ("completed", "completed")
    (first,) = result.attempts
    assert (first.termination.kind, first.reflection) == ("gave_up", "The file is missing; list first.")
    assert result.trajectory.memory is not None
    assert ACCOUNT in result.trajectory.memory.steps[0].tool_calls[0].arguments["result"]


@pytest.mark.parametrize(
    ("arguments", "outcome"),
    [
        ({"result": "x", "outcome": "failed"}, "failed"),
        ({"result": "x", "outcome": " FAILED "}, "failed"),
        ({"result": "x", "outcome": "done"}, "done"),
        ({"result": "x"}, "done"),
        ({"result": "x", "outcome": False}, "done"),
        ({"result": "x", "outcome": "partly"}, "done"),
    ],
)
def test_the_outcome_is_read_tolerantly(arguments: dict[str, object], outcome: str) -> None:
    assert finish_outcome(arguments) == outcome


def test_the_schema_asks_for_the_result_before_the_optional_outcome() -> None:
    # A model states what happened, then judges it; a model shown required arguments only
    # (the embedded one) sees finish as it was before the argument.
    assert list(FINISH_TOOL.input_schema["properties"]) == ["result", "outcome"]
    assert FINISH_TOOL.input_schema["required"] == ["result"]
    assert FINISH_TOOL.input_schema["properties"]["outcome"]["enum"] == ["done", "failed"]


def test_the_embedded_model_sees_finish_as_before() -> None:
    prompt = system_prompt("", [FINISH_TOOL])
    assert '"result"' in prompt and "outcome" not in prompt
    assert "outcome" not in json.dumps(build_reply_schema([FINISH_TOOL]))


def test_the_cli_exits_7_and_prints_the_account(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "actions.json"
    script.write_text(json.dumps([{"tool": "finish", "arguments": {"result": ACCOUNT, "outcome": "failed"}}]))
    assert main(["run", "copy notes.txt", "--model", f"scripted:{script}", "-q"]) == 7
    assert capsys.readouterr().out.strip() == ACCOUNT
