"""Recording a durable run's steps: which step ids replay, and how a new step's result is written.

A run's workflow opens one `Ledger` when it starts (`open_ledger`): the step ids its
earlier executions recorded, read once. Each seam of the loop (`nexthop.host._durable`)
records through `Ledger.record`: a step recorded before replays through DBOS without
calling anything; a new one runs on the event loop, and its result is written before
the loop sees it.

Why not a plain DBOS step: DBOS checks for a recorded result before each step and
writes after it, two transactions and three trips to its thread pool, and builds its
SQL with SQLAlchemy on every call (not prepared on SQLite). That came to 4-13 ms a
step here, with a loaded machine at the top. On SQLite, `SQLiteSteps` writes DBOS's
own row in one fixed statement instead, fenced by the execution's ownership token as
DBOS fences it; on PostgreSQL, DBOS writes it as a step with a synchronous body (one
trip to its thread pool). Measured in benchmarks/bench_store.py.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
from dbos import DBOS
from dbos._context import current_owner_xid
from dbos._dbos import StepReservation

from nexthop._exceptions import ConfigError
from nexthop.host._store_db import JSONSerializer, SQLiteSteps, StepRow

__all__ = ["Ledger", "open_ledger"]

_SERIALIZER = JSONSerializer()


@dataclass
class Ledger:
    """One workflow execution's step ids, and how its steps are recorded.

    Attributes:
        workflow_id: The run's workflow id.
        recorded: Step ids an earlier execution of this workflow recorded (they replay).
        slots: Reserved step ids, by tool call id, in call order.
        steps: The SQLite store's own step writer; None on PostgreSQL (DBOS writes).
        owner: This execution's DBOS ownership token, which each write is fenced by.
    """

    workflow_id: str = ""
    recorded: frozenset[int] = frozenset()
    slots: dict[str, list[StepReservation]] = field(default_factory=dict[str, list[StepReservation]])
    steps: SQLiteSteps | None = None
    owner: str | None = None

    def take(self, call_id: str) -> StepReservation | None:
        queue = self.slots.get(call_id)
        return queue.pop(0) if queue else None

    async def record(self, name: str, run: Callable[[], Awaitable[Any]], slot: StepReservation | None = None) -> Any:
        """``run()``'s JSON result recorded as step ``name`` (at ``slot``, else the next id), or its recorded result.

        A step this workflow recorded before replays without calling ``run``. Any other
        runs ``run`` here, on the event loop, and its result is written before the caller
        sees it: on SQLite by `SQLiteSteps` in one statement, on PostgreSQL by DBOS as a
        step with a synchronous body returning it (checked and written in one thread hop).

        Raises:
            What ``run`` raised (recorded by DBOS, so a replay raises it too, as a
            RuntimeError that names it: see `JSONSerializer`); DBOS's errors for a
            cancelled run, a run another execution took over, or a step that differs
            from the one recorded at this id.
        """
        slot = slot or DBOS.reserve_step()
        if slot.step_id in self.recorded:
            return await slot.run_async({"name": name}, _not_recorded, name)
        started = int(time.time() * 1000)
        try:
            value = await run()
        except Exception as e:  # recorded as DBOS records a raising step
            return await slot.run_async({"name": name}, _raise, e)
        if self.steps is None:
            return await slot.run_async({"name": name}, _same, value)
        row = StepRow(self.workflow_id, self.owner, slot.step_id, name, _SERIALIZER.serialize(value), started)
        if not self.steps.try_write(row):  # another writer holds the database: wait for it in a thread
            await anyio.to_thread.run_sync(self.steps.write, row)
        return value


def _same(value: Any) -> Any:
    return value


def _raise(error: Exception) -> Any:
    raise error


def _not_recorded(name: str) -> Any:
    # Only reached if the step's row vanished between the workflow's start and now.
    raise ConfigError(f"the run store lost the recorded {name} step of this run")


def _recorded_step_ids(workflow_id: str) -> frozenset[int]:
    """The step ids recorded for ``workflow_id`` (blocking: run it in a thread).

    Called in a fresh context: inside the workflow's, DBOS would record the listing
    itself as a step, and a replay would get the stale listing back.
    """
    steps = contextvars.Context().run(partial(DBOS.list_workflow_steps, workflow_id, load_output=False))
    return frozenset(int(s["function_id"]) for s in steps)


async def open_ledger(steps: SQLiteSteps | None, workflow_id: str) -> Ledger:
    """The ledger of this execution of ``workflow_id`` (call it in the workflow), with the steps recorded before it.

    Args:
        steps: The SQLite store's step writer, or None (PostgreSQL: DBOS writes).
        workflow_id: The running workflow's id.
    """
    if steps is None:
        recorded = await anyio.to_thread.run_sync(_recorded_step_ids, workflow_id)
    else:
        recorded = await anyio.to_thread.run_sync(steps.recorded, workflow_id)
    return Ledger(workflow_id, recorded, steps=steps, owner=current_owner_xid(workflow_id))
