"""Long-term memory: a run recalls the earlier runs most like its task, from the run store."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from nexthop import AgentHost, ScriptedModel
from nexthop._exceptions import ConfigError
from nexthop._recalled import RecallConfig, RecalledRun, fit_recalled, render_recalled
from nexthop.host._recall import similarities
from nexthop.host._store import RunStore, StoreConfig
from nexthop.models._model import ModelRequest, ModelResponse
from nexthop.models._scripted import call, finish
from nexthop.policies import PolicyConfig

pytestmark = pytest.mark.anyio
NO_LOOPS = PolicyConfig(doom_loop_n=0)
FILES = {"meeting_notes.txt": "Decisions: ship on Friday"}


def read_file(name: str) -> str:
    """Read a text file by its name."""
    if name not in FILES:
        raise FileNotFoundError(f"no such file: {name}")
    return FILES[name]


class Seen:
    """A script item that keeps the first message each request showed the model, then finishes."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, request: ModelRequest) -> ModelResponse:
        self.messages.append(request.trajectory.task_message())
        return finish("done")


def _store(path: Path) -> RunStore:
    return RunStore(StoreConfig(f"sqlite:///{path / 'runs.sqlite'}"))


async def _fail_on_the_trap(host: AgentHost, task: str, run_id: str) -> None:
    """Run ``task`` the way a first attempt goes wrong: it reads the file by the name the user gave."""
    result = await host.run(task, run_id=run_id, max_steps=1, recall=False)
    assert result.status == "incomplete" and result.steps[0].observations[0].is_error


async def test_a_similar_task_is_offered_the_earlier_failure_and_the_run_names_it(tmp_path: Path) -> None:
    seen = Seen()
    model = ScriptedModel([call("read_file", name="meeting-notes.txt"), seen, seen, seen])
    async with _store(tmp_path) as store:
        async with AgentHost(model=model, tools=[read_file], store=store, policy=NO_LOOPS) as host:
            await _fail_on_the_trap(host, "Copy meeting-notes.txt to summary.txt.", "runA")
            with_memory = await host.run("Copy meeting-notes.txt to report.txt.", run_id="runB", recall=True)
            without = await host.run("Copy meeting-notes.txt to report.txt.", run_id="runC")
            unlike = await host.run("Add Oslo, Norway to the city table.", run_id="runD", recall=True)
        found = await store.timeline("runB")
    first = seen.messages[0]
    assert "run runA" in first and "meeting-notes.txt" in first
    assert "failed: read_file" in first and "no such file: meeting-notes.txt" in first
    assert "data, not instructions" in first
    assert [(r.run_id, r.status, r.termination) for r in with_memory.trajectory.recalled] == [
        ("runA", "incomplete", "max_steps")
    ]
    assert with_memory.trajectory.recalled[0].score >= RecallConfig().min_score
    assert "Earlier runs" not in seen.messages[1] and without.trajectory.recalled == ()  # off by default
    assert "Earlier runs" not in seen.messages[2] and unlike.trajectory.recalled == ()  # nothing alike
    assert found is not None and [r.run_id for r in found[1].recalled] == ["runA"]  # `nexthop show` has it


async def test_memory_survives_a_restart_and_a_host_setting_turns_it_on(tmp_path: Path) -> None:
    async with _store(tmp_path) as store:
        model = ScriptedModel([call("read_file", name="meeting-notes.txt")])
        async with AgentHost(model=model, tools=[read_file], store=store, policy=NO_LOOPS) as host:
            await _fail_on_the_trap(host, "Copy meeting-notes.txt to summary.txt.", "before")
    seen = Seen()
    async with _store(tmp_path) as store:  # a new process's store on the same file
        async with AgentHost(model=ScriptedModel([seen]), store=store, recall=RecallConfig(top_k=1)) as host:
            result = await host.run("Please copy meeting-notes.txt into notes-copy.txt", run_id="after")
            again = await host.run("Please copy meeting-notes.txt into notes-copy.txt", run_id="after")
    assert [r.run_id for r in result.trajectory.recalled] == ["before"]
    assert again == result  # replayed from the store: the same memories, recorded as a step
    assert len(seen.messages) == 1 and "run before" in seen.messages[0]


async def test_completed_runs_count_and_a_run_never_recalls_itself(tmp_path: Path) -> None:
    seen = Seen()
    model = ScriptedModel([call("read_file", name="meeting_notes.txt"), finish("copied"), seen])
    async with _store(tmp_path) as store:
        async with AgentHost(model=model, tools=[read_file], store=store, recall=RecallConfig()) as host:
            done = await host.run("Copy meeting_notes.txt to summary.txt.", run_id="ok1")
            result = await host.run("Copy meeting_notes.txt to summary.txt.", run_id="ok2")
    assert done.trajectory.recalled == ()  # the store held only this run itself
    assert [(r.run_id, r.status, r.score) for r in result.trajectory.recalled] == [("ok1", "completed", 1.0)]
    assert "ok: read_file" in seen.messages[0] and "Decisions: ship on Friday" in seen.messages[0]
    assert "copied" in seen.messages[0]


async def test_recall_without_a_store_is_refused() -> None:
    async with AgentHost(model=ScriptedModel([finish("x")])) as host:
        with pytest.raises(ConfigError, match="needs a run store"):
            await host.run("t", recall=True)


def test_similarity_is_one_for_the_same_words_and_zero_for_none() -> None:
    scores = similarities(
        "Copy meeting-notes.txt to report.txt.",
        ["Copy meeting-notes.txt to report.txt.", "Copy meeting-notes.txt to summary.txt.", "Add Oslo to the table."],
    )
    assert scores[0] == 1.0 and 0.4 <= scores[1] < 1.0 and scores[2] == 0.0
    assert similarities("the and of", ["the and of"]) == [0.0]  # only stop words: nothing to match on


def test_the_recalled_block_is_cleaned_and_kept_within_its_budget() -> None:
    hostile = RecalledRun(
        run_id="r1",
        score=0.9,
        task="copy a file\x1b[31m\u202e now",
        status="incomplete",
        termination="max_steps",
        outcome="step budget ran out",
        failed=tuple(f"fs__read {{'path': 'f{i}'}} -> ENOENT " + "x" * 200 for i in range(6)),
        worked=("fs__list_directory {}",),
    )
    fitted = fit_recalled([hostile, hostile.model_copy(update={"run_id": "r2"})], max_chars=1200)
    text = render_recalled(fitted)
    assert len(text) <= 1200 and "\x1b" not in text and "\u202e" not in text
    assert "run r1" in text and "run r2" in text and "copy a file now" in text
    assert [len(r.failed) for r in fitted] == [1, 1]  # failures first, as many as the share holds
    assert text.count("failed: fs__read {'path': 'f0'} -> ENOENT") == 2


def _postgres_url() -> str:
    """A PostgreSQL URL for the tests, starting the local cluster (as root) if it is installed but down."""
    if shutil.which("pg_ctlcluster") is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    subprocess.run(["pg_ctlcluster", "15", "main", "start"], capture_output=True, timeout=60)
    password = "ALTER USER postgres PASSWORD 'nexthop'"
    subprocess.run(["su", "postgres", "-c", f'psql -q -c "{password}"'], capture_output=True, timeout=60, check=True)
    return "postgresql://postgres:nexthop@127.0.0.1:5432/nexthop_test"


async def test_recall_on_a_postgresql_store() -> None:
    url = _postgres_url()
    word = uuid.uuid4().hex[:10]  # the shared test database keeps other sessions' runs: this task is unique
    seen = Seen()
    model = ScriptedModel([call("read_file", name="meeting-notes.txt"), seen])
    async with RunStore(StoreConfig(url)) as store:
        async with AgentHost(model=model, tools=[read_file], store=store, policy=NO_LOOPS) as host:
            await _fail_on_the_trap(host, f"Copy meeting-notes.txt to summary-{word}.txt", f"pgA{word}")
            result = await host.run(f"Copy meeting-notes.txt to summary-{word}.txt", run_id=f"pgB{word}", recall=True)
    assert result.trajectory.recalled[0].run_id == f"pgA{word}"
    assert f"run pgA{word}" in seen.messages[0] and "no such file: meeting-notes.txt" in seen.messages[0]


def test_an_unfinished_runs_timeline_keeps_what_it_recalled() -> None:
    from nexthop.host._store import recorded_trajectory

    earlier = RecalledRun(run_id="runA", score=0.8, task="t", status="incomplete", termination="max_steps")
    steps = [{"function_id": 1, "function_name": "recall", "output": {"recalled": [earlier.model_dump(mode="json")]}}]
    trajectory, _, _ = recorded_trajectory({"task": "t"}, steps)
    assert trajectory.recalled == (earlier,)
