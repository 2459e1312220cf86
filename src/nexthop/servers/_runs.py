"""Every run a served host has taken, kept readable as ``nexthop://runs/{run_id}``."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nexthop._trajectory import RunResult, Step, Trajectory
from nexthop.host._loop import RunEvent

__all__ = ["RUN_URI_PREFIX", "RunRecord", "RunRegistry"]

RUN_URI_PREFIX = "nexthop://runs/"


class RunRecord(BaseModel):
    """One run, live or finished, as a resource shows it.

    Attributes:
        run_id: Its id (hex).
        uri: ``nexthop://runs/{run_id}``.
        task: The task it was given.
        state: ``running`` until it ends, then ``finished``.
        started_at: Unix time it started (seconds).
        trajectory: Its steps so far (the whole trajectory once finished).
        result: Its `RunResult` once finished.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    kind: Literal["run"] = "run"
    run_id: str
    uri: str
    task: str
    state: Literal["running", "finished"] = "running"
    started_at: float = Field(default_factory=time.time)
    trajectory: Trajectory
    result: RunResult | None = None

    def observe(self, event: RunEvent) -> None:
        """Keep the record current as the run's events arrive."""
        if isinstance(event, Step):
            self.trajectory.steps.append(event)
        elif isinstance(event, RunResult):
            self.result = event
            self.trajectory = event.trajectory
            self.state = "finished"


class RunRegistry:
    """The most recent runs, oldest dropped first.

    Args:
        keep: How many runs to keep (runs).
    """

    def __init__(self, keep: int = 200) -> None:
        self.keep = keep
        self._runs: OrderedDict[str, RunRecord] = OrderedDict()

    def start(self, task: str, context: str = "", memory: Trajectory | None = None) -> RunRecord:
        """Register a new run and return its record."""
        run_id = uuid.uuid4().hex[:16]
        record = RunRecord(
            run_id=run_id,
            uri=f"{RUN_URI_PREFIX}{run_id}",
            task=task,
            trajectory=Trajectory(task=task, context=context, memory=memory),
        )
        self._runs[run_id] = record
        while len(self._runs) > self.keep:
            self._runs.popitem(last=False)
        return record

    def get(self, run_id_or_uri: str) -> RunRecord | None:
        """Look a run up by its id or its ``nexthop://runs/...`` URI."""
        return self._runs.get(run_id_or_uri.removeprefix(RUN_URI_PREFIX))

    def recent(self) -> list[RunRecord]:
        """Runs, newest first."""
        return list(reversed(self._runs.values()))
