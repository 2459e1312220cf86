"""The run store: the DBOS system database that durable runs are recorded in, opened and read back.

A run is a DBOS workflow (see `nexthop.host._durable`); this module opens the
database it lives in and reads runs back as `RunSummary` and `RunTimeline` values.
The default is a SQLite file in the user data folder; a ``postgresql://`` URL lets
several processes share one store (``nexthop serve`` workers).

SQLite runs in WAL mode with ``synchronous=NORMAL`` (https://www.sqlite.org/wal.html):
a commit is in the operating system's hands when it returns, so it survives the
process being killed (SIGKILL), which is the guarantee the tests check. A power cut or
an operating-system crash may lose the commits since the last checkpoint (the file
stays consistent; a resumed run runs those steps again, at least once). ``FULL`` would
make each commit wait for an fsync: 2.1 ms a commit against 0.15 ms measured here,
with two commits a step. Each step is one statement on SQLite (`SQLiteSteps`).

Values are stored as JSON (`JSONSerializer`), not DBOS's default pickle, so a shared
store can never make a reader run code.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any, ClassVar, Literal, cast

import anyio
from dbos import DBOS
from pydantic import BaseModel, ConfigDict

from nexthop._exceptions import ConfigError
from nexthop._recalled import RecalledRun
from nexthop._sanitize import one_line
from nexthop._toolset import FINISH_TOOL
from nexthop._trajectory import Observation, RunResult, Step, TerminationReason, ToolCall, Trajectory, Usage
from nexthop.host._store_db import (
    JSONSerializer,
    Presence,
    SQLiteSteps,
    StoreConfig,
    check_sqlite,
    default_store_url,
    redacted,
    sqlite_engine,
)
from nexthop.models._model import ModelResponse

__all__ = [
    "APP_VERSION",
    "QUEUE",
    "RUN_WORKFLOW",
    "RunStore",
    "RunSummary",
    "StoreConfig",
    "default_store_url",
    "in_flight",
    "recorded_trajectory",
    "redacted",
    "trajectory_of",
]

RUN_WORKFLOW = "nexthop.run"
"""The DBOS workflow name of a run."""
APP_VERSION = "nexthop-runs-1"
"""The layout of recorded steps; every process sharing a store must agree on it (DBOS recovers by version)."""

RunState = Literal["running", "interrupted", "queued", "completed", "incomplete", "error", "cancelled"]


class RunSummary(BaseModel):
    """One run as ``nexthop runs`` lists it.

    Attributes:
        run_id: The workflow id.
        task: The task (untrusted: clean before showing).
        model: The model string the run was started with.
        state: ``running``, ``interrupted`` (its process died: ``nexthop resume`` it),
            ``queued``, or the finished run's status (``completed``, ``incomplete``, ``error``).
        termination: Why it ended, once it did.
        steps: Steps recorded so far (steps).
        tokens: Tokens used so far (tokens).
        started_at: When it was created (Unix seconds).
        wall_time_s: Its wall time once finished, else the time since it was last updated (seconds).
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["run_summary"] = "run_summary"
    run_id: str
    task: str
    model: str = ""
    state: RunState
    termination: TerminationReason | None = None
    steps: int = 0
    tokens: int = 0
    started_at: float = 0.0
    wall_time_s: float = 0.0


class RunStore:
    """The process's connection to a run store; an async context manager.

    Entering opens (and creates or migrates) the database and starts DBOS in this
    event loop; leaving stops it. DBOS is one per process, so one store is open at a time.

    Args:
        config: Where and how much.

    Raises:
        ConfigError: On entering: PostgreSQL is unreachable or refuses the login (the
            message names the URL without its password and says what to check), or the
            SQLite file is not a readable database (named; it is left as it is).
    """

    current: ClassVar[RunStore | None] = None
    """The store open in this process (DBOS is one per process), for the workflows DBOS starts."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self.attached = anyio.Event()
        """Set once a host is attached: workflows DBOS starts here wait for it."""
        self.executor_id = f"{config.role}-{uuid.uuid4().hex[:12]}"
        self.callbacks: dict[str, Any] = {}
        """Per-run callbacks of runs started in this process, by run id (see `_durable`)."""
        self.host: Any = None
        """The `AgentHost` that runs workflows DBOS starts here (queued or recovered runs)."""
        self.steps: SQLiteSteps | None = None
        """Writes durable runs' steps on a SQLite store (see `SQLiteSteps`); None on PostgreSQL."""
        self._presence: Presence | None = None
        self._private_registered = False

    async def own_queue(self) -> str:
        """Register this process's private queue (once) and return its name."""
        if not self._private_registered:
            await DBOS.register_queue_async(self.private_queue, polling_interval_sec=0.1)
            self._private_registered = True
        return self.private_queue

    async def __aenter__(self) -> RunStore:
        if self.config.is_sqlite:
            check_sqlite(self.config.sqlite_path)
        RunStore.current = self
        config = self._dbos_config()
        DBOS(config=config)
        # A worker takes runs from the shared queue; any other process only from its own (a `resume`),
        # so a `nexthop run` on a shared store never picks up a run meant for the workers.
        DBOS.listen_queues([QUEUE] if self.config.role == "worker" else [self.private_queue])
        try:
            DBOS.launch()  # in this thread's loop, so queued and recovered runs run beside the host
            engine = config.get("system_database_engine")
            if engine is not None:  # SQLite: opened on the database DBOS has just set up
                self.steps = SQLiteSteps(engine, self.config.sqlite_path, config["serializer"].name(), config["name"])
        except Exception as e:
            DBOS.destroy()
            raise self._launch_error(e) from e
        self._presence = Presence.hold(self.config, self.executor_id)
        if self.config.role == "worker":
            await DBOS.register_queue_async(
                QUEUE, worker_concurrency=self.config.worker_concurrency, polling_interval_sec=0.2
            )
        return self

    @property
    def private_queue(self) -> str:
        """The queue only this process takes runs from (a resumed run goes there)."""
        return f"nexthop-{self.executor_id}"

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._private_registered:
            with contextlib.suppress(Exception):
                await DBOS.delete_queue_async(self.private_queue)
        DBOS.destroy(workflow_completion_timeout_sec=0)
        if self.steps is not None:
            self.steps.close()
            self.steps = None
        RunStore.current = None
        if self._presence is not None:
            self._presence.release()

    def _dbos_config(self) -> Any:
        config: dict[str, Any] = {
            "name": "nexthop",
            "system_database_url": self.config.url,
            "serializer": JSONSerializer(),
            "executor_id": self.executor_id,
            "application_version": APP_VERSION,
            "log_level": "WARNING",
        }
        if self.config.is_sqlite:
            config["system_database_engine"] = sqlite_engine(self.config)
        else:
            # A URL that points nowhere must fail in seconds, not hang on the OS's TCP timeout.
            config["db_engine_kwargs"] = {"connect_args": {"connect_timeout": 5}, "pool_size": 5}
        return config

    def _launch_error(self, e: Exception) -> ConfigError:
        reason = one_line(str(getattr(e, "orig", None) or e), 300)
        where = redacted(self.config.url)
        if self.config.is_sqlite:
            return ConfigError(
                f"the run store {self.config.sqlite_path} cannot be opened ({reason}); it was left as it is"
            )
        return ConfigError(
            f"cannot use the run store {where}: {reason}. Check that PostgreSQL is running and that the URL's host, "
            "port, user and password are right (e.g. pg_ctlcluster 15 main start), or pass --no-store"
        )

    def is_alive(self, executor_id: str) -> bool:
        """Whether the process that owns ``executor_id`` still runs (it holds its presence lock)."""
        return Presence.alive(self.config, executor_id)

    async def summaries(self, limit: int = 20) -> list[RunSummary]:
        """The most recent runs, newest first (at most ``limit``)."""
        statuses = await DBOS.list_workflows_async(name=RUN_WORKFLOW, limit=limit, sort_desc=True)
        return [await self._summary(s) for s in statuses]

    async def status(self, run_id: str) -> Any:
        """DBOS's status of a run, or None when the store has no such run."""
        found = await DBOS.list_workflows_async(workflow_ids=[run_id], name=RUN_WORKFLOW)
        return found[0] if found else None

    async def summary(self, run_id: str) -> RunSummary | None:
        """One run's summary, or None."""
        status = await self.status(run_id)
        return None if status is None else await self._summary(status)

    async def timeline(self, run_id: str) -> tuple[RunSummary, Trajectory, list[ToolCall]] | None:
        """A run's summary, its trajectory (whole once finished, else rebuilt from its recorded steps),
        and the calls that were in flight when it stopped; None when the store has no such run."""
        status = await self.status(run_id)
        if status is None:
            return None
        summary = await self._summary(status)
        output: Any = status.output
        if status.status == "SUCCESS" and isinstance(output, dict):
            return summary, RunResult.model_validate(output).trajectory, []
        trajectory, _, in_flight = recorded_trajectory(_spec(status), await DBOS.list_workflow_steps_async(run_id))
        return summary, trajectory, in_flight

    async def _summary(self, status: Any) -> RunSummary:
        spec = _spec(status)
        started = (status.created_at or 0) / 1000
        output: Any = status.output
        if status.status == "SUCCESS" and isinstance(output, dict):
            result = RunResult.model_validate(output)
            return RunSummary(
                run_id=status.workflow_id,
                task=spec.get("task", ""),
                model=spec.get("model", ""),
                state=result.status,
                termination=result.termination,
                steps=len(result.steps),
                tokens=result.usage.total_tokens,
                started_at=started,
                wall_time_s=result.wall_time_s,
            )
        trajectory, usage, _ = recorded_trajectory(spec, await DBOS.list_workflow_steps_async(status.workflow_id))
        return RunSummary(
            run_id=status.workflow_id,
            task=spec.get("task", ""),
            model=spec.get("model", ""),
            state=self._state(status),
            steps=len(trajectory.steps),
            tokens=usage.total_tokens,
            started_at=started,
            wall_time_s=((status.updated_at or 0) / 1000 - started) if status.updated_at else 0.0,
        )

    def _state(self, status: Any) -> RunState:
        if status.status in ("ENQUEUED", "DELAYED"):
            return "queued"
        if status.status == "PENDING":
            return "running" if self.is_alive(status.executor_id or "") else "interrupted"
        return "cancelled" if status.status == "CANCELLED" else "error"

    async def prune(self) -> int:
        """Delete finished runs past the retention bounds (count, then age); returns how many went."""
        finished = ["SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"]
        old = await DBOS.list_workflows_async(
            name=RUN_WORKFLOW,
            status=finished,
            sort_desc=True,
            offset=self.config.keep_runs,
            load_input=False,
            load_output=False,
        )
        ids = {s.workflow_id for s in old}
        if self.config.keep_days is not None:
            cutoff = time.gmtime(time.time() - self.config.keep_days * 86400)
            aged = await DBOS.list_workflows_async(
                name=RUN_WORKFLOW,
                status=finished,
                end_time=time.strftime("%Y-%m-%dT%H:%M:%SZ", cutoff),
                load_input=False,
                load_output=False,
            )
            ids |= {s.workflow_id for s in aged}
        if ids:
            await DBOS.delete_workflows_async(sorted(ids))
        return len(ids)


QUEUE = "nexthop-runs"
"""The DBOS queue `nexthop serve` workers take runs from."""


def _spec(status: Any) -> dict[str, Any]:
    """The run's inputs (task, context, ...), as the workflow was started with them."""
    inputs: Any = status.input or {}
    args: Any = inputs.get("args") or [{}]
    first: Any = args[0]
    return cast("dict[str, Any]", first) if isinstance(first, dict) else {}


def trajectory_of(spec: dict[str, Any]) -> Trajectory:
    """The trajectory a run starts from: its task, context and memory, as recorded."""
    memory = spec.get("memory")
    return Trajectory(
        task=spec.get("task", ""),
        context=spec.get("context", ""),
        memory=Trajectory.model_validate(memory) if memory else None,
    )


def recorded_trajectory(spec: dict[str, Any], steps: Sequence[Any]) -> tuple[Trajectory, Usage, list[ToolCall]]:
    """A run's trajectory rebuilt from its recorded steps (for a run that has not finished).

    Returns:
        The trajectory (task, context, memory and each model step with the observations
        recorded for its calls), the tokens recorded, and the calls of the last step
        that have no recorded result: in flight when the process died, they run again.
    """
    trajectory = trajectory_of(spec)
    usage = Usage()
    pending: list[tuple[dict[str, Any], ModelResponse, dict[str, Observation]]] = []
    for info in sorted(steps, key=lambda s: s["function_id"]):
        out = info.get("output")
        if not isinstance(out, dict):
            continue
        if info["function_name"] == "model" and "response" in out:
            response = ModelResponse.model_validate(out["response"])
            usage = usage + response.usage
            pending.append((out, response, {}))  # pyright: ignore[reportUnknownArgumentType]
        elif info["function_name"] == "reflection" and "response" in out:
            usage = usage + ModelResponse.model_validate(out["response"]).usage
        elif info["function_name"] == "tool" and pending:
            obs = Observation.model_validate(out)
            pending[-1][2][obs.call_id] = obs
        elif info["function_name"] == "recall":  # the earlier runs it was offered (host/_recall.py)
            recalled: Any = cast("dict[str, Any]", out).get("recalled") or []
            trajectory.recalled = tuple(RecalledRun.model_validate(r) for r in recalled)
    for out, response, observed in pending:
        trajectory.steps.append(
            Step(
                index=int(out.get("step", len(trajectory.steps) + 1)),
                thought=response.thought,
                tool_calls=response.tool_calls,
                observations=tuple(observed[c.id] for c in response.tool_calls if c.id in observed),
                usage=response.usage,
            )
        )
    return trajectory, usage, in_flight(trajectory)


def in_flight(trajectory: Trajectory) -> list[ToolCall]:
    """The last step's calls with no recorded result (``finish`` aside): they run again on resume."""
    if not trajectory.steps:
        return []
    last = trajectory.steps[-1]
    done = {o.call_id for o in last.observations}
    return [c for c in last.tool_calls if c.id not in done and c.name != FINISH_TOOL.name]
