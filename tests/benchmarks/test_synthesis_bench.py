"""The synthesis benchmark's machinery without the embedded model: tasks, checks, counting, one scripted run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from benchmarks.synthesis.run import Outcome, run_one, summary
from benchmarks.synthesis.tasks import SYNTHESIS_TASKS
from benchmarks.tasks._agents import SharedModel
from benchmarks.tasks._task import Task

from nexthop import ModelRequest, ScriptedModel
from nexthop.models import call, finish


def test_at_least_twenty_tasks_with_unique_ids() -> None:
    assert len(SYNTHESIS_TASKS) >= 20
    assert len({t.id for t in SYNTHESIS_TASKS}) == len(SYNTHESIS_TASKS)


@pytest.mark.parametrize("task", SYNTHESIS_TASKS, ids=lambda t: t.id)
def test_check_fails_untouched_and_passes_after_the_reference_solution(task: Task, tmp_path: Path) -> None:
    task.setup(tmp_path)
    assert task.check(tmp_path) is not None
    task.solve(tmp_path)
    assert task.check(tmp_path) is None


def test_the_summary_reports_success_tools_revisions_and_seconds() -> None:
    outcomes = [
        Outcome("a", "on", True, "", "completed", 4, 10.0, 1, 1),
        Outcome("b", "on", False, "x", "max_steps", 10, 30.0, 1, 0),
        Outcome("a", "off", False, "x", "completed", 3, 8.0, 0, 0),
    ]
    on, off = summary(outcomes, ["on", "off"])
    assert "1/2 passed (50%)" in on and "tools/task 1.00" in on and "revisions/tool 0.50" in on
    assert "s/task median 20" in on
    assert "0/1 passed" in off and "revisions/tool -" in off


def _last(request: ModelRequest) -> str:
    return request.trajectory.steps[-1].observations[0].content


@pytest.mark.integration
@pytest.mark.anyio
async def test_a_scripted_run_with_synthesis_passes_and_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    [task] = [t for t in SYNTHESIS_TASKS if t.id == "sy_sha256"]
    source = "import hashlib\ndef sha(text):\n    return hashlib.sha256(text.encode()).hexdigest()\n"
    schema: dict[str, Any] = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    script: list[Any] = [
        call("fs__read_text_file", path="notes.txt"),
        lambda r: call("create_tool", name="sha", description="sha256", input_schema=schema, source=source),
        lambda r: call("synth__sha", text=r.trajectory.steps[0].observations[0].content),
        lambda r: call("fs__write_file", path="digest.txt", content=_last(r)),
        finish("done"),
    ]
    model = SharedModel(ScriptedModel(script))
    outcome = await run_one(task, "on", model, max_steps=8, timeout_s=120)
    assert outcome.passed, outcome
    assert (outcome.tools_written, outcome.revisions, outcome.steps) == (1, 0, 5)
