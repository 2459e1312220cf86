"""Repeated writes: a write that succeeded is not run again unchanged until another write succeeds."""

from __future__ import annotations

import pytest
from folders_server import Folders

from nexthop import AgentHost, ModelResponse, RunResult, ScriptedModel
from nexthop.cli._parser import build_parser
from nexthop.cli._policy import policy_from_args
from nexthop.models import call, finish
from nexthop.models._model import ModelRequest
from nexthop.policies import PolicyConfig

pytestmark = pytest.mark.anyio

MKDIR = call("fs__create_directory", path="backup")
MOVE = call("fs__move_file", source="data.csv", destination="backup/data.csv")
LIST = call("fs__list_directory", path=".")


async def run(folders: Folders, script: list[ModelResponse], policy: PolicyConfig | None = None) -> RunResult:
    async with AgentHost(model=ScriptedModel(script), servers=[folders.connection], policy=policy) as host:
        return await host.run("Make a backup folder.")


def skips(result: RunResult) -> list[tuple[int, str]]:
    return [
        (s.index, r.data["tool"])
        for s in result.steps
        for r in s.records
        if r.policy == "repeated_writes" and r.event == "skipped"
    ]


async def test_an_exact_repeat_of_a_write_that_succeeded_is_not_run_and_its_tool_sits_out_a_step() -> None:
    folders, seen = Folders(), list[list[str]]()

    def noting(request: ModelRequest) -> ModelResponse:
        seen.append([t.name for t in request.tools])
        return finish("made")

    async with AgentHost(model=ScriptedModel([MKDIR, LIST, MKDIR, noting]), servers=[folders.connection]) as host:
        result = await host.run("Make a backup folder.")
    assert (result.status, result.result) == ("completed", "made")
    assert folders.calls["create_directory"] == 1  # step 3 never reached the server
    again = result.steps[2].observations[0]
    assert again.skipped and again.is_error and not again.denied
    assert again.content.startswith("not run: this exact call already succeeded at step 1 (Successfully created")
    assert "make the same change twice" in again.content
    assert skips(result) == [(3, "fs__create_directory")]
    assert "fs__create_directory" not in seen[0] and "fs__list_directory" in seen[0]
    withheld = [r.data for r in result.steps[3].records if r.event == "withheld" and r.policy == "repeated_writes"]
    assert withheld == [{"tools": ["fs__create_directory"], "step": 4}]


async def test_another_write_in_between_makes_the_repeat_run_and_reads_and_failures_do_not() -> None:
    folders = Folders()
    # The move (a write) succeeds between the two mkdirs: the second one runs.
    result = await run(folders, [MKDIR, MOVE, MKDIR, finish("done")])
    assert folders.calls["create_directory"] == 2 and skips(result) == []
    # A failed write changes nothing: the repeat of the earlier success is still skipped.
    folders = Folders()
    bad_move = call("fs__move_file", source="data.csv", destination="nowhere/data.csv")
    result = await run(folders, [MKDIR, bad_move, MKDIR, finish("done")])
    assert folders.calls["create_directory"] == 1 and skips(result) == [(3, "fs__create_directory")]


async def test_reads_are_never_skipped_and_the_setting_and_flag_turn_it_off() -> None:
    folders = Folders()
    await run(folders, [LIST, LIST, finish("listed")])
    assert folders.calls["list_directory"] == 2
    folders = Folders()
    result = await run(folders, [MKDIR, MKDIR, finish("made")], PolicyConfig(skip_repeated_writes=False))
    assert folders.calls["create_directory"] == 2 and skips(result) == []
    parser = build_parser()
    assert policy_from_args(parser.parse_args(["run", "t"]), None).skip_repeated_writes is True
    off = policy_from_args(parser.parse_args(["run", "t", "--no-skip-repeated-writes"]), None)
    assert off.skip_repeated_writes is False
