"""Doom-loop detection: each loop shape is hinted at then stopped; ordinary progress is not flagged."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fault_server import make_fault_server
from loop_driver import Driver
from mcp.server import MCPServer

from nexthop import AgentHost, ModelRequest, ModelResponse, RunResult, ScriptedModel, Trajectory, Usage
from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.clients import MCPConnection
from nexthop.models import call, finish
from nexthop.policies import PolicyConfig
from nexthop.policies._base import RunView, Verdict
from nexthop.policies._doom_loop import DoomLoop
from nexthop.policies._loop_shapes import CallShape, accretes, similar_arguments

pytestmark = pytest.mark.anyio

Result = tuple[str, str, bool]
"""A scripted call for `Driver`: (tool, observation text, is_error); arguments go beside it."""


async def run(script: list[ModelResponse], policy: PolicyConfig | None = None, **server: Any) -> RunResult:
    connection = MCPConnection("fault", make_fault_server(**server))
    async with AgentHost(model=ScriptedModel(script), servers=[connection], policy=policy) as host:
        return await host.run("find something new")


def shop() -> MCPConnection:
    server = MCPServer("shop")
    orders = {7: "open", 8: "open"}

    @server.tool()
    def cancel_order(order: int) -> str:
        """Cancel an order."""
        orders[order] = "cancelled"
        return f"cancelled order {order}"

    @server.tool()
    def list_orders() -> str:
        """List the orders."""
        return ", ".join(f"{k}: {v}" for k, v in orders.items())

    return MCPConnection("shop", server)


def events(result: RunResult) -> list[tuple[int, str]]:
    return [
        (s.index, r.event) for s in result.steps for r in s.records if r.policy == "doom_loop" and r.event != "withheld"
    ]


def kinds(verdicts: list[Verdict]) -> list[str]:
    return [v.kind for v in verdicts]


LONG = "the quarterly report lists revenue costs margins and the outlook for every region we serve today"


# -- The shapes ----------------------------------------------------------------------------


async def test_the_same_successful_call_is_hinted_at_withheld_then_stopped_when_made_anyway() -> None:
    result = await run([call("fault__same")] * 10)
    assert events(result) == [(3, "hint"), (4, "stop")]
    hint = result.steps[2].hint
    assert "fault__same" in hint and "3 times" in hint and "not on offer for your next step" in hint
    assert result.steps[2].records[-1].data == {"pattern": "same_call", "tool": "fault__same", "count": 3}
    assert result.steps[1].hint == ""
    assert (result.termination.kind, result.termination.policy) == ("doom_loop", "doom_loop")
    # Step 4's call was of the withheld tool: refused as unknown, so the repeat, now a failure, stops the run.
    (refused,) = result.steps[3].observations
    assert refused.is_error and "unknown tool" in refused.content
    assert result.termination.evidence == {
        "pattern": "same_call",
        "tool": "fault__same",
        "count": 4,
        "hinted_at_step": 3,
    }
    assert len(result.steps) == 4


async def test_the_same_error_with_other_arguments_is_a_loop() -> None:
    script = [call("fault__flaky", x=i) for i in range(10)]
    result = await run(script, fail_rate=1.0)
    assert events(result) == [(3, "hint"), (4, "stop")]
    assert "flaky failure" in result.steps[2].hint
    assert result.termination.evidence["pattern"] == "same_error"
    assert result.termination.evidence["count"] == 4


async def test_results_already_seen_are_no_new_information() -> None:
    script = [call("fault__flaky", x=x) for x in itertools.islice(itertools.cycle([1, 2]), 10)]
    result = await run(script, fail_rate=0.0)
    # Steps 3, 4 and 5 repeat "ok 1" / "ok 2": the third stale step is the hint.
    assert events(result) == [(5, "hint"), (6, "stop")]
    assert "nothing you had not already seen" in result.steps[4].hint
    assert result.steps[4].records[-1].data["pattern"] == "no_new_information"
    # By step 6 the calls have also gone round the cycle x=1, x=2 three times: the stop names that.
    assert result.termination.evidence == {
        "pattern": "cycle",
        "tool": "fault__flaky",
        "count": 3,
        "hinted_at_step": 5,
    }


def test_near_identical_failing_calls_are_a_loop() -> None:
    driver = Driver()
    queries = ["SELECT * FROM ordrs", "select * from ordrs;", "SELECT *  FROM `ordrs`", "Select * From ordrs"]
    verdicts = [driver.one("db__query", f"no such table in: {q}", error=True, sql=q) for q in queries]
    assert kinds(verdicts) == ["go_on", "go_on", "hint", "stop"]
    assert verdicts[3].evidence == {"pattern": "similar_call", "tool": "db__query", "count": 4, "hinted_at_step": 3}
    assert "nearly the same arguments" in verdicts[2].hint


def test_a_same_error_hint_quotes_the_error_on_one_line_and_marks_a_cut() -> None:
    driver = Driver()
    error = "permission denied:\n" + "x" * 300
    verdicts = [driver.one("fs__write_file", error, error=True, path=f"{i}.txt") for i in range(3)]
    assert verdicts[2].kind == "hint" and verdicts[2].evidence["pattern"] == "same_error"
    assert f"({'permission denied: ' + 'x' * 180}…)" in verdicts[2].hint


def test_a_skipped_repeat_neither_ends_nor_extends_a_same_error_streak() -> None:
    # read_file fails, its repeat is skipped, and sibling readers fail the same way on the same path.
    driver = Driver()
    enoent = "ENOENT: no such file or directory, open '/w/notes.md'"
    first = driver.one("fs__read_file", enoent, error=True, path="notes.md")
    skip = driver.one(
        "fs__read_file", "not run: this exact call already failed", error=True, skipped=True, path="notes.md"
    )
    second = driver.one("fs__read_text_file", enoent, error=True, path="notes.md")
    third = driver.one("fs__read_media_file", enoent, error=True, path="notes.md")
    assert kinds([first, skip, second]) == ["go_on", "go_on", "go_on"]
    assert third.kind == "hint" and third.records[-1].data == {
        "pattern": "same_error",
        "tool": "fs__read_media_file",
        "count": 3,
    }


def test_a_cycle_of_read_and_edit_is_a_loop() -> None:
    # The issue-8 loop: read, edit, read, edit ... the same file, each edit a little different.
    driver = Driver()
    verdicts: list[Verdict] = []
    for i in range(4):
        content = LONG.replace("today", f"day{i}")
        verdicts.append(driver.one("fs__read_file", f"v{i}: {content}", path="notes.txt"))
        verdicts.append(driver.one("fs__write_file", "written", path="notes.txt", content=content))
    # Steps 3-6 each repeat the step two before: three periods of (read, write) at step 6.
    assert kinds(verdicts[:6]) == ["go_on"] * 5 + ["hint"]
    assert verdicts[5].evidence == {"pattern": "cycle", "tool": "fs__read_file/fs__write_file", "count": 3}
    # The writes succeeded and nothing failed since: one offer to finish, then the stop.
    assert verdicts[6].kind == "hint" and "call finish now" in verdicts[6].hint
    assert [r.event for r in verdicts[6].records] == ["finish_offer"]
    assert verdicts[7].kind == "stop" and verdicts[7].evidence["pattern"] == "cycle"


def test_a_cycle_of_period_three_is_a_loop() -> None:
    driver = Driver()
    verdicts: list[Verdict] = []
    for i in range(3):
        verdicts.append(driver.one("fs__list_directory", f"listing {i}", path="."))
        verdicts.append(driver.one("fs__read_file", f"text {i}", path="a.txt"))
        verdicts.append(driver.one("fs__get_file_info", f"info {i}", path="a.txt"))
    assert kinds(verdicts) == ["go_on"] * 8 + ["hint"]
    assert verdicts[8].evidence["pattern"] == "cycle" and verdicts[8].evidence["count"] == 3


def test_writes_that_only_grow_are_accretion() -> None:
    driver = Driver()
    words = ["done", "done again", "done again really", "done again really now", "done again really now ok"]
    verdicts = [driver.one("fs__write_file", "written", path="out.txt", content=w) for w in words]
    assert kinds(verdicts) == ["go_on", "go_on", "hint", "hint", "stop"]
    assert verdicts[2].evidence == {"pattern": "accretion", "tool": "fs__write_file", "count": 3}
    assert "only added a little" in verdicts[2].hint
    assert [r.event for r in verdicts[3].records] == ["finish_offer"]


def test_the_same_thought_over_the_same_ground_is_a_loop() -> None:
    driver = Driver()
    thought = "I should verify the file once more."
    verdicts = [
        driver.one(f"fs__read_{'a' if i % 2 else 'b'}", f"new text {i}", thought=thought, path="x") for i in range(6)
    ]
    # Seen one step late (the thought of step k is recorded after its verdict): steps 2-4 at step 5.
    assert kinds(verdicts) == ["go_on"] * 4 + ["hint", "stop"]
    assert verdicts[4].evidence["pattern"] == "same_thought"


def test_shape_functions() -> None:
    a = CallShape.of("q", {"sql": "SELECT * FROM t WHERE status = 'open'"})
    b = CallShape.of("q", {"sql": "select * from t where status='open';"})
    c = CallShape.of("q", {"sql": "SELECT * FROM t WHERE status = 'closed'"})
    assert similar_arguments(a, b) and not similar_arguments(a, c)
    assert not similar_arguments(CallShape.of("r", {"path": "a.txt"}), CallShape.of("r", {"path": "b.txt"}))
    edit = {"path": "a", "edits": [{"oldText": "x done", "newText": "x done done"}]}
    grown = {"path": "a", "edits": [{"oldText": "x done done", "newText": "x done done done"}]}
    assert accretes(CallShape.of("e", edit), CallShape.of("e", grown))
    assert not accretes(CallShape.of("e", grown), CallShape.of("e", edit))
    other = {"path": "b", "edits": [{"oldText": "x done done", "newText": "x done done done"}]}
    assert not accretes(CallShape.of("e", edit), CallShape.of("e", other))


# -- Ordinary progress ---------------------------------------------------------------------


def test_reading_and_writing_different_files_is_not_flagged() -> None:
    driver = Driver()
    verdicts: list[Verdict] = []
    for i in range(8):
        verdicts.append(driver.one("fs__read_file", f"contents of f{i}", thought="Next file.", path=f"f{i}.txt"))
        verdicts.append(driver.one("fs__write_file", "written", thought="Next file.", path=f"g{i}.txt", content="x"))
    assert kinds(verdicts) == ["go_on"] * 16


def test_different_queries_are_not_flagged() -> None:
    driver = Driver()
    queries = [
        "SELECT name FROM users",
        "SELECT email FROM users",
        *(f"SELECT * FROM orders WHERE id = {i}" for i in range(6)),
        "SELECT * FROM orders WHERE status = 'open'",
        "SELECT * FROM orders WHERE status = 'closed'",
    ]
    verdicts = [driver.one("db__read_query", f"rows for {q}", sql=q) for q in queries]
    assert kinds(verdicts) == ["go_on"] * len(queries)


def test_growing_content_across_different_files_is_not_accretion() -> None:
    driver = Driver()
    verdicts = [
        driver.one("fs__write_file", "written", path=f"{name}.txt", content=" ".join(["w"] * (i + 1)))
        for i, name in enumerate(["a", "b", "c", "d", "e"])
    ]
    assert kinds(verdicts) == ["go_on"] * 5


# -- When a stop may come ------------------------------------------------------------------


def test_a_stop_never_follows_a_step_whose_calls_all_succeeded() -> None:
    # Polling a job: the same call again and again, each answer new. Hinted once, never stopped.
    driver = Driver()
    verdicts = [driver.one("jobs__status", f"running, {i}% done", job="42") for i in range(12)]
    assert kinds(verdicts) == ["go_on", "go_on", "hint"] + ["go_on"] * 9
    # The same repeat failing (permanently) does stop.
    failing = Driver()
    outcomes = [failing.one("jobs__status", f"job 42 is broken ({i})", error=True, job="42") for i in range(4)]
    assert kinds(outcomes) == ["go_on", "go_on", "hint", "stop"]
    assert outcomes[3].evidence["pattern"] == "same_call"


def test_finish_is_offered_before_a_stop_only_when_writes_succeeded_and_nothing_failed_since() -> None:
    # Issue 13: the orders were cancelled, then the model kept listing them.
    done = Driver()
    done.one("shop__cancel_order", "cancelled order 7", order=7)
    verdicts = [done.one("shop__list_orders", "orders: 1, 2") for _ in range(4)]
    assert kinds(verdicts) == ["go_on", "go_on", "hint", "hint"]
    assert verdicts[2].evidence["pattern"] == "same_call"
    # Step 5 would stop (no new information; not for the repeat: the listing succeeded).
    assert "seems done" in verdicts[3].hint and done.policy.finish_offered_at == 5
    stop = done.one("shop__list_orders", "orders: 1, 2")
    assert stop.kind == "stop" and stop.evidence["pattern"] == "no_new_information"
    # A failure after the write: the work is not known to be done, so no offer.
    failed = Driver()
    failed.one("shop__cancel_order", "cancelled order 7", order=7)
    failed.one("shop__refund", "refund refused", error=True, order=7)
    later = [failed.one("shop__list_orders", "orders: 1, 2") for _ in range(4)]
    assert kinds(later) == ["go_on", "go_on", "hint", "stop"]
    # No write at all: no offer either.
    reads = Driver()
    assert kinds([reads.one("shop__list_orders", "orders: 1, 2") for _ in range(4)]) == [
        "go_on",
        "go_on",
        "hint",
        "stop",
    ]


async def test_a_model_that_takes_the_offer_finishes() -> None:
    def model(request: ModelRequest) -> ModelResponse:
        steps = request.trajectory.steps
        if steps and "seems done" in steps[-1].hint:
            return finish("order 7 cancelled")
        return call("shop__list_orders") if steps else call("shop__cancel_order", order=7)

    host = AgentHost(model=ScriptedModel(model for _ in itertools.count()), servers=[shop()])
    async with host:
        result = await host.run("cancel order 7")
    assert (result.termination.kind, result.result) == ("completed", "order 7 cancelled")
    assert events(result) == [(4, "hint"), (5, "finish_offer")]


async def test_a_model_that_heeds_the_hint_finishes() -> None:
    script = [call("fault__same")] * 3 + [call("fault__flaky", x=1), finish("done")]
    result = await run(script, fail_rate=0.0)
    assert (result.termination.kind, result.result) == ("completed", "done")
    assert events(result) == [(3, "hint")]


async def test_zero_turns_detection_off_and_n_is_configurable() -> None:
    off = await run([call("fault__same")] * 6 + [finish("done")], PolicyConfig(doom_loop_n=0))
    assert off.termination.kind == "completed" and events(off) == []
    two = await run([call("fault__same")] * 6, PolicyConfig(doom_loop_n=2))
    assert events(two) == [(2, "hint"), (3, "stop")]


async def test_finish_calls_are_not_counted() -> None:
    policy = PolicyConfig(doom_loop_n=2, completion_check=True)
    result = await run([finish("x"), finish("x")], policy)
    assert result.termination.kind == "completed" and events(result) == []


def test_a_write_the_server_answered_with_an_error_label_is_no_success() -> None:
    # Seen in the task benchmark: after CREATE TABLE answered "Database error: table users
    # already exists" (no isError), the doom loop told the model its changes had succeeded.
    driver = Driver()
    created = "Database error: table users already exists"
    verdicts = [driver.one("db__create_table", created, query="CREATE TABLE users (id INTEGER)") for _ in range(4)]
    assert kinds(verdicts) == ["go_on", "go_on", "hint", "stop"]
    assert verdicts[2].evidence["pattern"] == "same_call"
    assert not any(r.event == "finish_offer" for v in verdicts for r in v.records)


def test_argument_order_does_not_make_calls_different() -> None:
    policy = DoomLoop(2)
    view = RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=1)
    verdicts = [
        policy.after_step(
            view, [ToolCall(id=str(i), name="t", arguments=arguments)], [Observation(call_id=str(i), content=f"r{i}")]
        )
        for i, arguments in enumerate([{"a": 1, "b": 2}, {"b": 2, "a": 1}])
    ]
    assert [v.kind for v in verdicts] == ["go_on", "hint"]
    assert verdicts[1].evidence == {"pattern": "same_call", "tool": "t", "count": 2}
    assert [(r.event, r.data) for r in verdicts[1].records] == [("hint", verdicts[1].evidence)]


async def test_the_tool_a_hint_names_is_withheld_for_the_next_step_only() -> None:
    offers: list[list[str]] = []

    def next_action(request: ModelRequest) -> ModelResponse:
        offers.append([t.name for t in request.tools])
        step = len(offers)
        if step <= 3:
            return call("fault__same")
        if step == 4:
            return call("fault__flaky", x=1)
        return finish("done")

    connection = MCPConnection("fault", make_fault_server())
    async with AgentHost(model=ScriptedModel(itertools.repeat(next_action, 8)), servers=[connection]) as host:
        result = await host.run("find something new")
    assert "fault__same" in offers[2] and "fault__same" not in offers[3] and "fault__same" in offers[4]
    assert "is not on offer for your next step" in result.steps[2].hint
    withheld = [r.data for s in result.steps for r in s.records if r.event == "withheld"]
    assert withheld == [{"tools": ["fault__same"], "step": 4}]
    assert result.termination.kind == "completed"


async def test_a_same_error_hint_withholds_nothing() -> None:
    loop = DoomLoop(3)
    failing = Observation(call_id="1", content="no such table: orders", is_error=True)
    tools = [ToolDef(name="db__write_query")]
    verdicts: list[Verdict] = []
    for i in range(1, 4):
        view = RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=i)
        assert loop.filter_tools(view, tools).withheld == frozenset()
        verdicts.append(
            loop.after_step(view, [ToolCall(id=str(i), name="db__write_query", arguments={"q": i})], [failing])
        )
    assert kinds(verdicts) == ["go_on", "go_on", "hint"]
    after = RunView(trajectory=Trajectory(task="t"), usage=Usage(), elapsed_s=0.0, step_index=4)
    assert loop.filter_tools(after, tools).withheld == frozenset()


def test_a_repeated_thought_is_no_loop_once_a_step_breaks_new_ground() -> None:
    # Seen one step late: the thoughts of steps 1-3 are the same, but step 4 does something new.
    driver = Driver()
    same = "read the file and write it reversed"
    verdicts = [driver.one("fs__read_file", f"text {i}", thought=same, path=f"a{i % 1}.txt") for i in range(3)]
    verdicts.append(driver.one("fs__write_file", "written", thought=same, path="b.txt", content="x"))
    assert "same_thought" not in [v.evidence.get("pattern") for v in verdicts[3:]]
