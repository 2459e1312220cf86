"""Every run a served host has taken, kept readable as ``nexthop://runs/{run_id}``.

The registry is bounded twice over, since any MCP client can fill it: each run keeps
at most `RunLimits.max_field_chars` of any text or JSON value and at most
`RunLimits.max_run_bytes` in all (later steps keep their shape but lose their
content), and the whole registry keeps at most `RunLimits.max_bytes`, dropping the
oldest finished runs first. Sizes are those of the record's JSON, which is what a
client reads back; the Python objects behind it take somewhat more.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic_core import to_json

from nexthop._trajectory import Observation, RunResult, Step, ToolCall, Trajectory
from nexthop.host._loop import RunEvent

__all__ = ["RUN_URI_PREFIX", "RunLimits", "RunRecord", "RunRegistry"]

RUN_URI_PREFIX = "nexthop://runs/"
_DROPPED = "[dropped: this run's record reached its size cap]"


@dataclasses.dataclass(frozen=True)
class RunLimits:
    """What the registry of a served host keeps.

    Attributes:
        keep: Most runs kept (runs).
        max_bytes: Most the whole registry keeps (bytes of JSON); the oldest finished
            runs are dropped first. Live runs are never dropped, so the registry may
            pass this by at most ``max_run_bytes`` per live run.
        max_run_bytes: Most one run keeps (bytes of JSON); steps past it keep their
            index, tool names and error flags, not their text.
        max_field_chars: Longest text kept in any one field (characters), and the
            longest JSON of any structured value (tool arguments, structured results,
            policy data) before it is replaced by its cut text.

    Raises:
        ValueError: A limit is not positive.
    """

    keep: int = 200
    max_bytes: int = 64 * 1024 * 1024
    max_run_bytes: int = 4 * 1024 * 1024
    max_field_chars: int = 16_000

    def __post_init__(self) -> None:
        if min(self.keep, self.max_bytes, self.max_run_bytes, self.max_field_chars) <= 0:
            raise ValueError(f"every run limit must be positive: {self}")


class RunRecord(BaseModel):
    """One run, live or finished, as a resource shows it, cut to its `RunLimits`.

    Attributes:
        run_id: Its id (hex).
        uri: ``nexthop://runs/{run_id}``.
        task: The task it was given (cut to ``max_field_chars``).
        state: ``running`` until it ends, then ``finished``.
        started_at: Unix time it started (seconds).
        trajectory: Its steps so far (the whole trajectory once finished), cut.
        result: Its `RunResult` once finished, holding the cut trajectory; its answer
            text is cut only past ``max_run_bytes``, since ``run_task`` returns it.
        truncated: True once anything in the record was cut or dropped.
        limits: What it keeps (not shown).
        on_change: Called with the record and its growth (bytes) after each event
            (not shown); the registry's hook.
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
    truncated: bool = False
    limits: RunLimits = Field(default_factory=RunLimits, exclude=True, repr=False)
    on_change: Callable[[RunRecord, int], None] | None = Field(default=None, exclude=True, repr=False)
    _size: int = PrivateAttr(default=0)

    def model_post_init(self, context: Any, /) -> None:
        """Measure what the record holds from the start."""
        self._size = len(to_json(self.trajectory)) + len(self.task)

    @property
    def size_bytes(self) -> int:
        """What the record holds (bytes of JSON, as measured when each part was added)."""
        return self._size

    def observe(self, event: RunEvent) -> None:
        """Keep the record current as the run's events arrive, cutting what is too large."""
        before = self._size
        if isinstance(event, Step):
            self.trajectory.steps.append(self._keep_step(event))
        elif isinstance(event, RunResult):
            result = _cut_text(event.result, self.limits.max_run_bytes)
            self.truncated |= result is not event.result
            self.result = event.model_copy(update={"result": result, "trajectory": self.trajectory})
            self._size += len(result)
            self.state = "finished"
        else:
            return
        if self.on_change is not None:
            self.on_change(self, self._size - before)

    def _keep_step(self, step: Step) -> Step:
        cutter = _Cutter(self.limits.max_field_chars)
        kept = cutter.step(step)
        size = len(to_json(kept))
        if self._size + size > self.limits.max_run_bytes:
            kept = _hollow(kept)
            size = len(to_json(kept))
            cutter.cut = True
        self.truncated |= cutter.cut
        self._size += size
        return kept


class RunRegistry:
    """The most recent runs, bounded in count and in bytes, oldest finished dropped first.

    Args:
        keep: How many runs to keep (runs); overrides ``limits.keep`` when given.
        limits: What the registry and each run keep (`RunLimits`).
    """

    def __init__(self, keep: int | None = None, *, limits: RunLimits | None = None) -> None:
        limits = limits or RunLimits()
        self.limits = limits if keep is None else dataclasses.replace(limits, keep=keep)
        self._runs: OrderedDict[str, RunRecord] = OrderedDict()
        self._bytes = 0

    @property
    def keep(self) -> int:
        """How many runs are kept at most (runs)."""
        return self.limits.keep

    @property
    def size_bytes(self) -> int:
        """What all kept runs hold together (bytes of JSON)."""
        return self._bytes

    def start(self, task: str, context: str = "", memory: Trajectory | None = None) -> RunRecord:
        """Register a new run and return its record (task, context and memory cut to the limits)."""
        run_id = uuid.uuid4().hex[:16]
        cutter = _Cutter(self.limits.max_field_chars)
        trajectory = cutter.trajectory(Trajectory(task=task, context=context, memory=memory))
        record = RunRecord(
            run_id=run_id,
            uri=f"{RUN_URI_PREFIX}{run_id}",
            task=trajectory.task,
            trajectory=trajectory,
            truncated=cutter.cut,
            limits=self.limits,
            on_change=self._grew,
        )
        self._runs[run_id] = record
        self._grew(record, record.size_bytes)
        return record

    def get(self, run_id_or_uri: str) -> RunRecord | None:
        """Look a run up by its id or its ``nexthop://runs/...`` URI."""
        return self._runs.get(run_id_or_uri.removeprefix(RUN_URI_PREFIX))

    async def find(self, run_id_or_uri: str) -> RunRecord | None:
        """`get`, else the run from the process's open run store (`RunStore`), cut to the same limits.

        A run in the store may have been taken by another worker or by this host before
        a restart; it is read back, not kept in memory, so the bounds above still hold.
        """
        record = self.get(run_id_or_uri)
        store_module = sys.modules.get("nexthop.host._store")  # loaded only where a store is open
        store = getattr(getattr(store_module, "RunStore", None), "current", None)
        if record is not None or store is None:
            return record
        run_id = run_id_or_uri.removeprefix(RUN_URI_PREFIX)
        found = await store.timeline(run_id)
        if found is None:
            return None
        summary, trajectory, _ = found
        cutter = _Cutter(self.limits.max_field_chars)
        kept = cutter.trajectory(trajectory)
        status = await store.status(run_id)
        output: Any = status.output if status is not None and status.status == "SUCCESS" else None
        result = RunResult.model_validate(output).model_copy(update={"trajectory": kept}) if output else None
        return RunRecord(
            run_id=run_id,
            uri=f"{RUN_URI_PREFIX}{run_id}",
            task=kept.task,
            state="finished" if result is not None else "running",
            started_at=summary.started_at,
            trajectory=kept,
            result=result,
            truncated=cutter.cut,
            limits=self.limits,
        )

    def recent(self) -> list[RunRecord]:
        """Runs, newest first."""
        return list(reversed(self._runs.values()))

    def _grew(self, record: RunRecord, delta: int) -> None:
        if self._runs.get(record.run_id) is record:  # a live run already dropped no longer counts
            self._bytes += delta
        if self._bytes > self.limits.max_bytes or len(self._runs) > self.limits.keep:
            self._evict()

    def _evict(self) -> None:
        """Drop the oldest finished runs while over a bound; over the count, then the oldest live ones."""
        finished = iter([r.run_id for r in self._runs.values() if r.state == "finished"])
        while self._bytes > self.limits.max_bytes or len(self._runs) > self.limits.keep:
            run_id = next(finished, None)
            if run_id is None:
                break
            self._drop(run_id)
        while len(self._runs) > self.limits.keep:
            self._drop(next(iter(self._runs)))

    def _drop(self, run_id: str) -> None:
        self._bytes -= self._runs.pop(run_id).size_bytes


def _cut_text(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars``, with a note of what was cut (as `clean_text` notes it)."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\n[... {len(text) - max_chars} more characters cut]"


class _Cutter:
    """Copies of run values with every text and JSON value cut to ``max_chars``; ``cut`` says if any was."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.cut = False

    def text(self, value: str) -> str:
        kept = _cut_text(value, self.max_chars)
        self.cut |= kept is not value
        return kept

    def json(self, value: dict[str, Any]) -> dict[str, Any]:
        """``value``, or when its JSON is too long, ``{"truncated": true, "json_chars": N, "json_head": ...}``."""
        text = to_json(value).decode()
        if len(text) <= self.max_chars:
            return value
        self.cut = True
        return {"truncated": True, "json_chars": len(text), "json_head": text[: self.max_chars]}

    def trajectory(self, trajectory: Trajectory) -> Trajectory:
        return Trajectory(
            task=self.text(trajectory.task),
            context=self.text(trajectory.context),
            memory=self.trajectory(trajectory.memory) if trajectory.memory is not None else None,
            steps=[self.step(s) for s in trajectory.steps],
            recalled=trajectory.recalled,  # bounded where it is made (RecallConfig.max_chars)
        )

    def step(self, step: Step) -> Step:
        return step.model_copy(
            update={
                "thought": self.text(step.thought),
                "hint": self.text(step.hint),
                "tool_calls": tuple(
                    c.model_copy(update={"arguments": self.json(c.arguments)}) for c in step.tool_calls
                ),
                "observations": tuple(self.observation(o) for o in step.observations),
                "records": tuple(r.model_copy(update={"data": self.json(r.data)}) for r in step.records),
            }
        )

    def observation(self, obs: Observation) -> Observation:
        structured = self.json(obs.structured) if obs.structured is not None else None
        return obs.model_copy(update={"content": self.text(obs.content), "structured": structured})


def _hollow(step: Step) -> Step:
    """``step`` without its text: index, tool names, call ids and error flags stay."""
    return Step(
        index=step.index,
        thought=_DROPPED,
        tool_calls=tuple(ToolCall(id=c.id, name=c.name) for c in step.tool_calls),
        observations=tuple(
            Observation(call_id=o.call_id, content=_DROPPED, is_error=o.is_error, duration_s=o.duration_s)
            for o in step.observations
        ),
        usage=step.usage,
        duration_s=step.duration_s,
    )
