"""The task benchmark's own machinery, without a model: tasks, checks, the fault proxy, the baseline's parser."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from pathlib import Path

import anyio
import mcp
import pytest
from benchmarks.tasks._agents import Outcome
from benchmarks.tasks._fault_proxy import FAULT_TEXT, FaultProxy
from benchmarks.tasks.react_baseline import parse_tool_calls
from benchmarks.tasks.run import summarize
from benchmarks.tasks.tasks import CATEGORIES, TASKS, Task, select
from mcp.server import MCPServer

pytestmark = pytest.mark.anyio


def test_at_least_forty_tasks_with_unique_ids_in_every_category() -> None:
    assert len(TASKS) >= 40
    assert len({t.id for t in TASKS}) == len(TASKS)
    per_category = Counter(t.category for t in TASKS)
    assert set(per_category) == set(CATEGORIES)
    assert min(per_category.values()) >= 10
    assert all(t.faults == (t.category == "failing_tools") for t in TASKS)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_check_fails_untouched_and_passes_after_the_reference_solution(task: Task, tmp_path: Path) -> None:
    task.setup(tmp_path)
    assert task.check(tmp_path) is not None, "the untouched workspace must fail the check"
    task.solve(tmp_path)
    assert task.check(tmp_path) is None


def test_select_takes_the_first_n_per_category_round_robin() -> None:
    chosen = select({"one_step", "recovery"}, limit=2)
    assert [t.category for t in chosen] == ["one_step", "recovery", "one_step", "recovery"]
    assert chosen[0] is TASKS[0]
    assert len(select()) == len(TASKS)
    assert [t.id for t in select(ids={"rc_sql_typo"})] == ["rc_sql_typo"]


def _upstream(log: list[str]) -> MCPServer:
    server = MCPServer("upstream")

    @server.tool()
    def append(text: str) -> str:
        """Append a line to the log."""
        log.append(text)
        return f"appended {text}"

    return server


async def _call_many(proxy: FaultProxy, n: int) -> list[tuple[bool, str]]:
    results: list[tuple[bool, str]] = []
    with anyio.fail_after(30):
        async with mcp.Client(proxy) as client:
            for i in range(n):
                r = await client.call_tool("append", {"text": f"line {i}"})
                results.append((r.is_error, r.content[0].text))  # type: ignore[union-attr]
    return results


async def test_fault_proxy_fails_about_half_the_calls_seeded_and_without_side_effects() -> None:
    log: list[str] = []
    results = await _call_many(FaultProxy(_upstream(log), fail_rate=0.5, seed=7), 200)
    expected = random.Random(7)
    faults = [expected.random() < 0.5 for _ in range(200)]
    assert [is_error for is_error, _ in results] == faults  # exactly the seeded draws
    assert 70 <= sum(faults) <= 130  # about half
    for i, (is_error, text) in enumerate(results):
        assert text == (FAULT_TEXT.format(name="append") if is_error else f"appended line {i}")
    # Only the calls that succeeded reached the real server: a failed call changed nothing.
    assert log == [f"line {i}" for i, (is_error, _) in enumerate(results) if not is_error]


async def test_fault_proxy_offers_the_upstream_tools_unchanged() -> None:
    upstream = _upstream([])
    proxy = FaultProxy(upstream, fail_rate=0.0)
    with anyio.fail_after(30):
        async with mcp.Client(proxy) as via_proxy, mcp.Client(upstream) as direct:
            got = (await via_proxy.list_tools()).tools
            want = (await direct.list_tools()).tools
    assert [(t.name, t.description, t.input_schema) for t in got] == [
        (t.name, t.description, t.input_schema) for t in want
    ]


def test_fault_proxy_rejects_a_rate_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="fail_rate"):
        FaultProxy(_upstream([]), fail_rate=1.5)


def test_baseline_parses_qwen_tool_calls_and_treats_junk_as_an_answer() -> None:
    ids = itertools.count(1)
    text = (
        'I will read it.\n<tool_call>\n{"name": "fs__read_text_file", "arguments": {"path": "a.txt"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "db__list_tables", "arguments": "{}"}\n</tool_call>'
    )
    calls = parse_tool_calls(text, ids)
    assert [(c.name, c.arguments) for c in calls] == [
        ("fs__read_text_file", {"path": "a.txt"}),
        ("db__list_tables", {}),
    ]
    assert len({c.id for c in calls}) == 2
    assert parse_tool_calls("Done: the file is written.", ids) == ()
    assert parse_tool_calls("<tool_call>\n{not json</tool_call>", ids) == ()
    assert parse_tool_calls('Saved {"theme": "dark"} as asked.', ids) == ()


def test_baseline_accepts_fenced_and_bare_calls_as_llama_cpp_server_does() -> None:
    ids = itertools.count(1)
    fenced = '```json\n{ "name": "fs__write_file", "arguments": { "path": "g.txt", "content": "hi {x}" } }\n```'
    assert [(c.name, c.arguments) for c in parse_tool_calls(fenced, ids)] == [
        ("fs__write_file", {"path": "g.txt", "content": "hi {x}"})
    ]
    bare = '{"name": "db__read_query", "parameters": {"query": "SELECT 1"}}'
    assert [(c.name, c.arguments) for c in parse_tool_calls(bare, ids)] == [("db__read_query", {"query": "SELECT 1"})]


def _outcome(
    agent: str, category: str, passed: bool, steps: int, wall_s: float, tokens: int, stop: str = "completed"
) -> Outcome:
    return Outcome(
        task="t",
        category=category,
        agent=agent,
        passed=passed,
        problem="",
        stop=stop,
        steps=steps,
        wall_s=wall_s,
        input_tokens=tokens,
        cached_input_tokens=0,
        output_tokens=10 * steps,
        detail="",
    )


def test_summary_per_agent_and_category_ignores_runs_without_steps_in_per_step_costs() -> None:
    rows = summarize(
        [
            _outcome("nexthop", "one_step", True, 2, 20.0, 100),
            _outcome("nexthop", "one_step", False, 4, 20.0, 100),
            _outcome("nexthop", "one_step", False, 0, 900.0, 0, stop="budget"),  # cut off before its first step
            _outcome("react", "recovery", True, 3, 30.0, 30),
            _outcome("nexthop", "recovery", False, 3, 30.0, 30, stop="gave_up"),
            _outcome("nexthop", "recovery", True, 3, 30.0, 30, stop="gave_up"),
            _outcome("nexthop", "recovery", False, 3, 30.0, 30, stop="max_steps"),
        ]
    )
    by_key = {(r["agent"], r["category"]): r for r in rows}
    one = by_key["nexthop", "one_step"]
    assert (one["tasks"], one["passed"], one["median_steps"]) == (3, 1, 2)
    assert one["s_per_step"] == round(40.0 / 6, 2)
    assert one["tokens_per_step"] == round(260 / 6, 1)
    assert by_key["react", "recovery"]["success"] == 1.0
    assert ("react", "one_step") not in by_key
    assert by_key["nexthop", "all"]["tasks"] == 6
    # The model's own verdict against the state: one false "done" (the failed one_step run
    # that completed), two give-ups of which one passed anyway.
    assert (one["false_done"], one["gave_up"]) == (1, 0)
    recovery = by_key["nexthop", "recovery"]
    assert (recovery["false_done"], recovery["gave_up"], recovery["gave_up_passed"]) == (0, 2, 1)


async def test_retries_run_a_task_again_and_count_every_attempt(tmp_path: Path) -> None:
    # The real servers, a scripted model: attempt 1 reads and hits the step budget of 1; its
    # reflection is asked; attempt 2 writes the file. Judged by the state left, as always.
    from benchmarks.tasks._agents import RunOptions, run_task

    from nexthop import ScriptedModel
    from nexthop.models import call, reply

    task = next(t for t in TASKS if t.id == "os_write_greeting")
    model = ScriptedModel(
        [
            call("fs__list_allowed_directories"),
            reply("I only looked around; I should write greeting.txt at once."),
            call("fs__write_file", path="greeting.txt", content="Hello from nexthop"),
        ]
    )
    outcome = await run_task(task, "nexthop", model, RunOptions(max_steps=1, retries=1, timeout_s=120))
    assert (outcome.passed, outcome.stop, outcome.steps) == (True, "max_steps", 2)
    without = await run_task(
        task, "nexthop", ScriptedModel([call("fs__list_allowed_directories")]), RunOptions(max_steps=1)
    )
    assert (without.passed, without.steps) == (False, 1)


async def test_an_outcome_lists_the_steering_policies_events_in_order() -> None:
    from benchmarks.tasks._agents import RunOptions, run_task

    from nexthop import ScriptedModel
    from nexthop.models import call, finish

    task = next(t for t in TASKS if t.id == "os_write_greeting")
    outside = call("fs__write_file", path="/outside/greeting.txt", content="Hello from nexthop")
    model = ScriptedModel([outside, finish("written"), finish("could not write outside the workspace")])
    outcome = await run_task(task, "nexthop", model, RunOptions(max_steps=3, timeout_s=120))
    assert (outcome.passed, outcome.stop) == (False, "completed")
    assert outcome.policy_events == ("2:failed_write_check:check",)
    assert outcome.to_json()["policy_events"] == ("2:failed_write_check:check",)


async def test_narrowing_can_be_set_or_turned_off_for_nexthop() -> None:
    from benchmarks.tasks._agents import RunOptions, run_task

    from nexthop import ModelRequest, ModelResponse, ScriptedModel
    from nexthop.models import finish

    class Counting(ScriptedModel):
        offered: list[int] = []

        async def request(self, request: ModelRequest) -> ModelResponse:
            self.offered.append(len(request.tools))
            return await super().request(request)

    task = next(t for t in TASKS if t.id == "os_write_greeting")
    counts: dict[str, int] = {}
    for name, setting in (("default", "default"), ("off", None), ("six", 6)):
        model = Counting([finish("nothing done")])
        model.offered = []
        await run_task(task, "nexthop", model, RunOptions(max_steps=1, timeout_s=120, narrow_tools=setting))
        counts[name] = model.offered[0]
    # 22 tools listed (the SQLite server's resources add two) and finish: all of them only when off.
    assert counts["off"] == 23
    assert counts["default"] < counts["off"]
    assert counts["six"] <= 7


def test_narrow_tools_flag_takes_a_count_off_or_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.tasks.run import main

    assert main(["--list", "--task", "os_write_greeting"]) == 0  # the flag's default passes its own check
    assert main(["--list", "--task", "os_write_greeting", "--narrow-tools", "off"]) == 0
    assert main(["--list", "--task", "os_write_greeting", "--narrow-tools", "30"]) == 0
    with pytest.raises(SystemExit):
        main(["--list", "--narrow-tools", "0"])
    assert "expected a tool count of at least 1 or 'off', got '0'" in capsys.readouterr().err


def test_policy_flag_takes_policy_config_fields_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.tasks.run import _parse

    args = _parse(["--policy", "redraws=3", "--policy", "skip_repeated_reads=true", "--policy", "abandonment=tired"])
    assert args.policy == [("redraws", 3), ("skip_repeated_reads", True), ("abandonment", "tired")]
    with pytest.raises(SystemExit):
        _parse(["--policy", "redraw=3"])
    assert "expected KEY=VALUE with KEY a PolicyConfig field, got 'redraw=3'" in capsys.readouterr().err


async def test_a_task_runs_in_the_same_emptied_workspace_every_time() -> None:
    # A greedy model meets the workspace path in server messages: a random path made runs differ.
    from benchmarks.tasks._agents import RunOptions, run_task, workspace_root

    from nexthop import ScriptedModel
    from nexthop.models import call

    task = next(t for t in TASKS if t.id == "os_write_greeting")
    root = workspace_root(task.id, "nexthop")
    root.mkdir(parents=True, exist_ok=True)
    (root / "leftover.txt").write_text("from an earlier run")
    seen: list[str] = []
    for _ in range(2):
        model = ScriptedModel([call("fs__read_text_file", path="missing.txt")])  # ENOENT names the path
        await run_task(task, "nexthop", model, RunOptions(max_steps=1, keep=True))
        assert not (root / "leftover.txt").exists()
        seen.append(json.loads((root / "trajectory.json").read_text())["steps"][0]["observations"][0]["content"])
        (root / "leftover.txt").write_text("from this run")
    assert seen[0] == seen[1] and str(root / "work") in seen[0]
    assert workspace_root(task.id, "react") != root
