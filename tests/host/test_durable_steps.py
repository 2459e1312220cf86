"""How a SQLite run store records steps: one statement each, DBOS's own row, fenced by ownership."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dbos import DBOS
from dbos._error import DBOSWorkflowCancelledError, DBOSWorkflowConflictIDError
from sqlalchemy import event as sa_event

from nexthop import AgentHost, ScriptedModel
from nexthop._trajectory import RunResult
from nexthop.host._durable import attach
from nexthop.host._store import RunStore, StoreConfig
from nexthop.host._store_db import SQLiteSteps, StepRow
from nexthop.models._scripted import call
from nexthop.policies import PolicyConfig

pytestmark = pytest.mark.anyio
NO_LOOPS = PolicyConfig(doom_loop_n=0)
STEPS = 10


def _echo(text: str) -> str:
    """Return the text."""
    return text


def _model(steps: int = STEPS) -> ScriptedModel:
    return ScriptedModel([*(call("_echo", text=f"hello {i}") for i in range(steps - 1)), call("finish", result="ok")])


def _rows(path: Path, run_id: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(
            "SELECT function_id, function_name, output, error, child_workflow_id, serialization, application_name "
            "FROM operation_outputs WHERE workflow_uuid = ? ORDER BY function_id",
            (run_id,),
        ).fetchall()


async def test_each_recorded_step_is_one_statement_and_a_run_reads_its_steps_once(tmp_path: Path) -> None:
    statements: list[str] = []
    async with RunStore(StoreConfig(f"sqlite:///{tmp_path / 'runs.sqlite'}")) as store:
        assert store.steps is not None
        # Every statement on the step table, by DBOS's engine and by the store's own connection.
        sa_event.listen(store.steps.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))  # pyright: ignore[reportUnknownArgumentType, reportUnknownLambdaType]
        store.steps._db.set_trace_callback(statements.append)  # pyright: ignore[reportPrivateUsage]
        async with AgentHost(model=_model(), tools=[_echo], store=store, policy=NO_LOOPS) as host:
            result = await host.run("echo", run_id="one")
    assert result.status == "completed" and len(result.steps) == STEPS
    on_steps = [s.split()[0].upper() for s in statements if "operation_outputs" in s]
    # A model request per step and a call on each but the last (finish is not a call): one INSERT each,
    # and one SELECT of the steps recorded before, when the run starts. DBOS's own path: 4 statements a step.
    assert on_steps.count("INSERT") == 2 * STEPS - 1
    assert on_steps.count("SELECT") == 1 and len(on_steps) == 2 * STEPS
    assert not [s for s in statements if "SET owner_xid=" in s]  # DBOS's ownership fence: ours is in the INSERT


async def test_a_step_is_recorded_as_the_row_dbos_writes(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    async with RunStore(StoreConfig(f"sqlite:///{path}")) as store:
        async with AgentHost(model=_model(3), tools=[_echo], store=store, policy=NO_LOOPS) as host:
            ours = await host.run("echo", run_id="ours")
        steps, store.steps = store.steps, None  # as on PostgreSQL: DBOS writes each step
        async with AgentHost(model=_model(3), tools=[_echo], store=store, policy=NO_LOOPS) as host:
            dbos = await host.run("echo", run_id="dbos")
        store.steps = steps
        summary = await store.summary("ours")

    def comparable(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:  # call ids and durations differ
        return [(r[0], r[1], r[3:]) for r in rows]

    assert comparable(_rows(path, "ours")) == comparable(_rows(path, "dbos"))
    assert [r[1] for r in _rows(path, "ours")] == ["model", "tool", "model", "tool", "model"]
    assert ours.result == dbos.result == "ok"
    assert summary is not None and summary.steps == 3


async def test_a_run_continued_from_its_recorded_steps_replays_them_without_calling_anything(tmp_path: Path) -> None:
    ran: list[str] = []

    def shout(text: str) -> str:
        """Upper-case the text."""
        ran.append(text)
        return text.upper()

    first = ScriptedModel([call("shout", text="a"), call("shout", text="b"), call("finish", result="AB")])
    then = ScriptedModel([call("finish", result="again")])
    async with RunStore(StoreConfig(f"sqlite:///{tmp_path / 'runs.sqlite'}")) as store:
        async with AgentHost(model=first, tools=[shout], store=store, policy=NO_LOOPS) as host:
            original = await host.run("shout", run_id="ours")
        async with AgentHost(model=then, tools=[shout], store=store, policy=NO_LOOPS) as host:
            attach(store, host)
            # A new workflow with steps 1-4 (model, tool, model, tool) copied: they replay, step 5 runs.
            handle = await DBOS.fork_workflow_async("ours", 5, queue_name=await store.own_queue())
            forked = RunResult.model_validate(await handle.get_result(polling_interval_sec=0.05))
    assert ran == ["a", "b"] and then.requests == 1
    assert [s.observations for s in forked.steps[:2]] == [s.observations for s in original.steps[:2]]
    assert forked.result == "again"


async def test_a_step_is_refused_once_the_run_is_cancelled_or_owned_by_another(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    async with RunStore(StoreConfig(f"sqlite:///{path}")) as store:
        async with AgentHost(model=_model(1), store=store) as host:
            await host.run("finish at once", run_id="r")
        steps = store.steps
        assert steps is not None
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.execute("UPDATE workflow_status SET status = 'PENDING', owner_xid = 'me' WHERE workflow_uuid = 'r'")

        def row(step: int, owner: str) -> StepRow:
            return StepRow("r", owner, step, "tool", '{"call_id":"c"}', 0)

        with pytest.raises(DBOSWorkflowConflictIDError):
            steps.try_write(row(10, "a worker that lost it"))
        with pytest.raises(DBOSWorkflowConflictIDError):
            steps.write(row(10, "a worker that lost it"))
        assert steps.try_write(row(11, "me"))
        with contextlib.closing(sqlite3.connect(path)) as db, db:  # what DBOS's cancel does
            db.execute("UPDATE workflow_status SET status = 'CANCELLED', owner_xid = NULL WHERE workflow_uuid = 'r'")
        with pytest.raises(DBOSWorkflowCancelledError):
            steps.try_write(row(12, "me"))
    assert [r[0] for r in _rows(path, "r")] == [1, 11]


async def test_a_step_waits_for_another_writer_through_dbos_engine(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    async with RunStore(StoreConfig(f"sqlite:///{path}")) as store:
        async with AgentHost(model=_model(1), store=store) as host:
            await host.run("finish at once", run_id="r")
        steps = store.steps
        assert steps is not None
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("UPDATE workflow_status SET status = 'PENDING', owner_xid = 'me' WHERE workflow_uuid = 'r'")
            db.commit()
            db.execute("BEGIN IMMEDIATE")  # another process writing
            assert not steps.try_write(StepRow("r", "me", 5, "tool", "{}", 0))  # the event loop is not held up
            db.commit()
        steps.write(StepRow("r", "me", 5, "tool", "{}", 0))
    assert [r[0] for r in _rows(path, "r")] == [1, 5]


def test_the_step_writer_is_tied_to_the_thread_that_opened_it(tmp_path: Path) -> None:
    import threading

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    steps = SQLiteSteps(engine, tmp_path / "x.sqlite", "nexthop_json", "nexthop")
    answers: list[bool] = []
    thread = threading.Thread(target=lambda: answers.append(steps.try_write(StepRow("r", "me", 1, "tool", "{}", 0))))
    thread.start()
    thread.join()
    steps.close()
    assert answers == [False]  # another thread: `write` does it, through the engine
