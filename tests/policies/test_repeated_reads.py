"""Repeated reads: a closed-world read that succeeded is not run again unchanged until a write succeeds."""

from __future__ import annotations

import pytest
from folders_server import Folders

from nexthop import AgentHost, ModelResponse, RunResult, ScriptedModel
from nexthop._toolset import ToolDef
from nexthop.cli._parser import build_parser
from nexthop.cli._policy import policy_from_args
from nexthop.models import call, finish
from nexthop.models._model import ModelRequest
from nexthop.policies import PolicyConfig
from nexthop.policies._repeated_reads import closed_world_read

pytestmark = pytest.mark.anyio

READ = call("fs__read_text_file", path="data.csv")
LIST = call("fs__list_directory", path=".")
MKDIR = call("fs__create_directory", path="backup")


ON = PolicyConfig(skip_repeated_reads=True)


async def run(folders: Folders, script: list[ModelResponse], policy: PolicyConfig = ON) -> RunResult:
    async with AgentHost(model=ScriptedModel(script), servers=[folders.connection], policy=policy) as host:
        return await host.run("Copy data.csv into a backup folder.")


def skips(result: RunResult) -> list[tuple[int, str]]:
    return [
        (s.index, r.data["tool"])
        for s in result.steps
        for r in s.records
        if r.policy == "repeated_reads" and r.event == "skipped"
    ]


async def test_an_exact_repeat_of_a_closed_world_read_is_not_run_and_its_tool_sits_out_a_step() -> None:
    folders, seen = Folders(annotated=True), list[list[str]]()

    def noting(request: ModelRequest) -> ModelResponse:
        seen.append([t.name for t in request.tools])
        return finish("read")

    model = ScriptedModel([READ, LIST, READ, noting])
    async with AgentHost(model=model, servers=[folders.connection], policy=ON) as host:
        result = await host.run("Read data.csv.")
    assert (result.status, result.result) == ("completed", "read")
    assert folders.calls["read_text_file"] == 1  # step 3 never reached the server
    again = result.steps[2].observations[0]
    assert again.skipped and again.is_error and not again.denied
    assert again.content.startswith("not run: this exact call already ran at step 1 and nothing has changed since")
    assert "which step 1 shows" in again.content
    assert skips(result) == [(3, "fs__read_text_file")]
    assert "fs__read_text_file" not in seen[0] and "fs__list_directory" in seen[0]
    withheld = [r.data for r in result.steps[3].records if r.event == "withheld" and r.policy == "repeated_reads"]
    assert withheld == [{"tools": ["fs__read_text_file"], "step": 4}]


async def test_a_write_in_between_makes_the_repeat_run_and_a_failed_read_or_write_does_not_count() -> None:
    folders = Folders(annotated=True)
    result = await run(folders, [LIST, MKDIR, LIST, finish("done")])  # the folder may now be listed
    assert folders.calls["list_directory"] == 2 and skips(result) == []

    folders = Folders(annotated=True)
    bad_move = call("fs__move_file", source="data.csv", destination="nowhere/data.csv")
    result = await run(folders, [LIST, bad_move, LIST, finish("done")])  # a failed write changed nothing
    assert folders.calls["list_directory"] == 1 and skips(result) == [(3, "fs__list_directory")]

    folders = Folders(annotated=True)
    missing = call("fs__read_text_file", path="gone.csv")
    await run(folders, [missing, missing, finish("done")])  # failures are known_failures' business
    assert folders.calls["read_text_file"] == 1

    folders = Folders(annotated=True, flaky_left=4)  # transient failures: the host retries, nothing remembered
    result = await run(folders, [LIST, LIST, finish("done")], PolicyConfig(skip_repeated_reads=True, call_retries=0))
    assert skips(result) == []


async def test_open_world_or_unannotated_reads_are_never_skipped_and_it_is_opt_in() -> None:
    folders = Folders()  # no annotations: the spec's default is an open world
    result = await run(folders, [LIST, LIST, finish("listed")])
    assert folders.calls["list_directory"] == 2 and skips(result) == []
    folders = Folders(annotated=True)
    # Pinning off: the same tools with annotations now differ from those just pinned.
    result = await run(folders, [LIST, LIST, finish("listed")], PolicyConfig(pinning=False))
    assert folders.calls["list_directory"] == 2 and skips(result) == []
    parser = build_parser()
    assert policy_from_args(parser.parse_args(["run", "t"]), None).skip_repeated_reads is False
    flag = policy_from_args(parser.parse_args(["run", "t", "--skip-repeated-reads"]), None)
    assert flag.skip_repeated_reads is True


def test_only_a_read_only_closed_world_claim_counts() -> None:
    def tool(annotations: dict[str, object] | None) -> ToolDef:
        return ToolDef(name="fs__read", description="", input_schema={"type": "object"}, annotations=annotations)

    assert closed_world_read(tool({"readOnlyHint": True, "openWorldHint": False}))
    assert not closed_world_read(tool({"readOnlyHint": True}))  # openWorldHint defaults to true
    assert not closed_world_read(tool({"readOnlyHint": False, "openWorldHint": False}))
    assert not closed_world_read(tool({"openWorldHint": False}))
    assert not closed_world_read(tool(None))
