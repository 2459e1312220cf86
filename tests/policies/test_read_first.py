"""Read first: a write that carries content is held back once while a file the task names is unused."""

from __future__ import annotations

import pytest
from folders_server import Folders
from notes_tool import Notes

from nexthop import AgentHost, ModelResponse, RunResult, ScriptedModel
from nexthop.cli._parser import build_parser
from nexthop.cli._policy import policy_from_args
from nexthop.models import call, finish
from nexthop.policies import PolicyConfig
from nexthop.policies._read_first import first_file

pytestmark = pytest.mark.anyio

TASK = "Back up data.csv as a note in notes.txt."
READ = call("fs__read_text_file", path="data.csv")
LIST = call("fs__list_directory", path=".")
WRITE = call("write_file", path="notes.txt", content="a backup of data.csv")


ON = PolicyConfig(read_first=True)


async def run(
    script: list[ModelResponse], task: str = TASK, policy: PolicyConfig = ON
) -> tuple[RunResult, Notes, Folders]:
    folders, notes = Folders(), Notes()
    model = ScriptedModel(script)
    async with AgentHost(model=model, servers=[folders.connection], tools=[notes.write_file], policy=policy) as host:
        return await host.run(task), notes, folders


def skipped(result: RunResult) -> list[tuple[int, str | None]]:
    """(step, the task file its reason names) for each write held back."""
    return [
        (s.index, first_file(r.data["reason"]))
        for s in result.steps
        for r in s.records
        if r.policy == "read_first" and r.event == "skipped"
    ]


def test_the_first_file_is_the_first_name_with_an_extension() -> None:
    assert first_file("E.g. with v1.2, read orders.csv and todo.bak.md, then write totals.csv.") == "orders.csv"
    assert first_file("Back up todo.md as todo.bak.md.") == "todo.md"
    assert first_file("Make a backup folder; it costs 3.50.") is None


async def test_a_write_before_the_task_file_was_used_is_skipped_once_and_a_listing_does_not_count() -> None:
    result, notes, _ = await run([WRITE, LIST, WRITE, finish("written")])
    assert (result.status, result.result) == ("completed", "written")
    assert notes.written == ["a backup of data.csv"]  # the first write never ran
    first = result.steps[0].observations[0]
    assert first.skipped and first.is_error and not first.denied
    assert first.content.startswith("not run: the task names data.csv, which this run has not read yet")
    assert "make this same call again" in first.content
    assert skipped(result) == [(1, "data.csv")]  # the listing showed data.csv; the second write still ran


async def test_a_file_read_or_a_write_without_content_lets_the_write_run() -> None:
    result, notes, _ = await run([READ, WRITE, finish("done")])
    assert len(notes.written) == 1 and skipped(result) == []
    # A folder made or a file moved carries no content: nothing to have made up.
    mkdir = call("fs__create_directory", path="backup")
    move = call("fs__move_file", source="notes.txt", destination="backup/notes.txt")
    result, _, folders = await run([mkdir, move, finish("done")])
    assert folders.calls["create_directory"] == 1 and skipped(result) == []


async def test_a_failed_read_does_not_count_and_only_the_first_file_is_checked() -> None:
    task = "Merge data.csv and extra.csv into notes.txt."
    missing = call("fs__read_text_file", path="data.csv.bak")  # ENOENT, and not data.csv itself
    result, notes, _ = await run([missing, WRITE, WRITE, finish("done")], task)
    assert skipped(result) == [(2, "data.csv")] and len(notes.written) == 1
    # extra.csv, named second, is never asked for: a task names its input first, then its output.
    result, notes, _ = await run([READ, WRITE, finish("done")], task)
    assert skipped(result) == [] and len(notes.written) == 1


async def test_reads_are_never_held_back_and_it_is_opt_in() -> None:
    result, _, folders = await run([LIST, finish("listed")])
    assert folders.calls["list_directory"] == 1 and skipped(result) == []
    result, notes, _ = await run([WRITE, finish("written")], policy=PolicyConfig())
    assert len(notes.written) == 1 and skipped(result) == []
    parser = build_parser()
    assert policy_from_args(parser.parse_args(["run", "t"]), None).read_first is False
    assert policy_from_args(parser.parse_args(["run", "t", "--read-first"]), None).read_first is True
