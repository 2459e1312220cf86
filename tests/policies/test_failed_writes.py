"""The failed-write check: a finish after a failed write, never redone, is sent back once."""

from __future__ import annotations

import pytest
from folders_server import Folders
from mcp.server import MCPServer

from nexthop import AgentHost, ModelResponse, RunResult, ScriptedModel, Trajectory, Usage
from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.cli._parser import build_parser
from nexthop.cli._policy import policy_from_args
from nexthop.clients import MCPConnection
from nexthop.models import call, finish
from nexthop.policies import FailedWriteCheck, PolicyConfig
from nexthop.policies._base import RunView

pytestmark = pytest.mark.anyio


async def run(script: list[ModelResponse], policy: PolicyConfig | None = None) -> RunResult:
    async with AgentHost(model=ScriptedModel(script), servers=[Folders().connection], policy=policy) as host:
        return await host.run("Move data.csv into the backup folder.")


def checks(result: RunResult) -> list[tuple[int, dict[str, object]]]:
    return [(s.index, r.data) for s in result.steps for r in s.records if r.policy == "failed_write_check"]


MOVE = call("fs__move_file", source="data.csv", destination="backup/data.csv")


async def test_a_finish_after_a_failed_write_is_sent_back_with_the_error_and_the_fix_completes() -> None:
    result = await run(
        [MOVE, finish("moved"), call("fs__create_directory", path="backup"), MOVE, finish("moved for real")]
    )
    assert (result.status, result.result) == ("completed", "moved for real")
    assert checks(result) == [(2, {"tool": "fs__move_file", "step": 1})]
    hint = result.steps[1].hint
    assert hint.startswith("Not finished: fs__move_file failed at step 1 (")
    assert "ENOENT" in hint and "call finish again and say what failed" in hint
    assert len(result.steps) == 5


async def test_the_second_finish_is_accepted_so_an_impossible_change_still_ends_the_run() -> None:
    result = await run([MOVE, finish("moved"), finish("could not move: no backup folder")])
    assert (result.status, result.result) == ("completed", "could not move: no backup folder")
    assert [i for i, _ in checks(result)] == [2]
    assert result.steps[2].hint == ""


async def test_no_check_after_a_failed_read_or_a_write_redone_or_when_turned_off() -> None:
    # A failed read changed nothing the task asked for.
    read = await run([call("fs__read_text_file", path="nope.csv"), finish("no such file")])
    assert (read.status, len(read.steps), checks(read)) == ("completed", 2, [])
    # The same tool succeeding later clears the failure.
    redone = await run([MOVE, call("fs__create_directory", path="backup"), MOVE, finish("moved")])
    assert (redone.status, len(redone.steps), checks(redone)) == ("completed", 4, [])
    # Off: the claim is accepted as it stands.
    off = await run([MOVE, finish("moved")], PolicyConfig(failed_write_check=False))
    assert (off.status, off.result, checks(off)) == ("completed", "moved", [])


def test_a_denied_write_is_not_sent_back_and_the_cli_flag_turns_the_check_off() -> None:
    check = FailedWriteCheck()
    view = RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=1)
    write = ToolCall(id="1", name="fs__write_file", arguments={"path": "a"})
    check.check_call(view, write, ToolDef(name="fs__write_file"))
    check.after_step(view, [write], [Observation(call_id="1", content="denied by policy", is_error=True, denied=True)])
    assert check.on_finish(view, "could not write").kind == "go_on"
    parser = build_parser()
    assert policy_from_args(parser.parse_args(["run", "t"]), None).failed_write_check is True
    off = policy_from_args(parser.parse_args(["run", "t", "--no-failed-write-check"]), None)
    assert off.failed_write_check is False


def test_a_target_that_already_exists_or_a_skipped_repeat_does_not_send_finish_back() -> None:
    view = RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=1)
    create = ToolCall(id="1", name="db__create_table", arguments={"query": "CREATE TABLE notes (body TEXT)"})
    exists = Observation(call_id="1", content="Database error: table notes already exists")
    check = FailedWriteCheck()
    check.check_call(view, create, ToolDef(name="db__create_table"))
    check.after_step(view, [create], [exists])
    assert check.on_finish(view, "noted").kind == "go_on"  # the table is there: the goal may hold
    # A skip repeats a failure already counted: the hint quotes the failure, never the skip.
    move = ToolCall(id="2", name="fs__move_file", arguments={"source": "a", "destination": "b/a"})
    enoent = Observation(call_id="2", content="ENOENT: no such file or directory", is_error=True)
    skipped = Observation(call_id="2", content="not run: this exact call already failed", is_error=True, skipped=True)
    check = FailedWriteCheck()
    check.check_call(view, move, ToolDef(name="fs__move_file"))
    check.after_step(view, [move], [enoent])
    check.after_step(view.model_copy(update={"step_index": 2}), [move], [skipped])
    verdict = check.on_finish(view, "moved")
    assert verdict.kind == "hint" and "failed at step 1 (ENOENT" in verdict.hint and "not run" not in verdict.hint


async def test_an_error_the_server_did_not_flag_counts_when_the_result_starts_with_it() -> None:
    # The SQLite reference server answers a bad statement as a success: "Database error: ...".
    server = MCPServer("db")
    tables: set[str] = {"cities"}

    @server.tool()
    def write_query(query: str) -> str:
        """Run an INSERT, UPDATE or DELETE."""
        table = query.split()[2]
        return "[{'affected_rows': 1}]" if table in tables else f"Database error: no such table: {table}"

    script = [
        call("db__write_query", query="INSERT INTO city VALUES ('Oslo')"),
        finish("added"),
        call("db__write_query", query="INSERT INTO cities VALUES ('Oslo')"),
        finish("added to cities"),
    ]
    async with AgentHost(model=ScriptedModel(script), servers=[MCPConnection("db", server)]) as host:
        result = await host.run("Add Oslo to the city table.")
    assert checks(result) == [(2, {"tool": "db__write_query", "step": 1})]
    assert "no such table: city" in result.steps[1].hint
    assert (result.status, result.result) == ("completed", "added to cities")


@pytest.mark.parametrize(
    ("content", "failed"),
    [
        ("Database error: no such table: city", True),
        ("Error executing tool write_file: EACCES", True),
        ("  ERROR - disk full", True),
        ("Errors: none, 3 rows written", False),
        ("Successfully wrote 'error: x' to notes.txt", False),
    ],
)
def test_only_a_result_that_starts_with_an_error_label_counts_as_an_unflagged_failure(
    content: str, failed: bool
) -> None:
    check = FailedWriteCheck()
    view = RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=1)
    write = ToolCall(id="1", name="fs__write_file", arguments={"path": "a"})
    check.check_call(view, write, ToolDef(name="fs__write_file"))
    check.after_step(view, [write], [Observation(call_id="1", content=content)])
    assert (check.on_finish(view, "done").kind == "hint") == failed
