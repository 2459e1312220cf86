"""The run store: the DBOS system database that durable runs are recorded in, opened and read back.

A run is a DBOS workflow (see `nexthop.host._durable`); this module opens the
database it lives in and reads runs back as `RunSummary` and `RunTimeline` values.
The default is a SQLite file in the user data folder; a ``postgresql://`` URL lets
several processes share one store (``nexthop serve`` workers).

SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit survives the process
being killed (SIGKILL), though not a power cut, at a fraction of a full sync's cost
(https://www.sqlite.org/wal.html). Values are stored as JSON (`_JSONSerializer`), not
DBOS's default pickle, so a shared store can never make a reader run code.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast

import platformdirs
import sqlalchemy as sa
from dbos import DBOS
from dbos._serialization import Serializer
from pydantic import BaseModel, ConfigDict
from sqlalchemy import event as sa_event

from nexthop._exceptions import ConfigError
from nexthop._sanitize import one_line
from nexthop._trajectory import RunResult, TerminationReason, ToolCall, Trajectory

__all__ = [
    "APP_VERSION",
    "QUEUE",
    "RUN_WORKFLOW",
    "RunStore",
    "RunSummary",
    "StoreConfig",
    "default_store_url",
    "redacted",
    "trajectory_of",
]

RUN_WORKFLOW = "nexthop.run"
"""The DBOS workflow name of a run."""
APP_VERSION = "nexthop-runs-1"
"""The layout of recorded steps; every process sharing a store must agree on it (DBOS recovers by version)."""

RunState = Literal["running", "interrupted", "queued", "completed", "incomplete", "error", "cancelled"]


def default_store_url() -> str:
    """``sqlite:///<user data folder>/runs.sqlite`` (platformdirs), where runs go unless told otherwise."""
    return f"sqlite:///{Path(platformdirs.user_data_dir('nexthop')) / 'runs.sqlite'}"


def redacted(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to print."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: show its scheme-ish head only, never the rest
        return one_line(url.split("@")[-1], 200)


@dataclass(frozen=True)
class StoreConfig:
    """Where runs are recorded and how many are kept.

    Attributes:
        url: ``sqlite:///PATH`` or ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``.
        keep_runs: Most finished runs kept (runs); older ones are deleted when a run ends.
        keep_days: Finished runs older than this are deleted (days); None keeps them.
        role: ``cli`` for one process's own runs, ``worker`` for a `nexthop serve` that
            takes queued runs and recovers those of dead workers.
        worker_concurrency: Most queued runs one worker runs at once (runs).
    """

    url: str
    keep_runs: int = 1000
    keep_days: float | None = 30.0
    role: Literal["cli", "worker"] = "cli"
    worker_concurrency: int = 4

    def __post_init__(self) -> None:
        scheme = self.url.split(":", 1)[0].lower()
        if scheme not in ("sqlite", "postgresql", "postgres", "postgresql+psycopg"):
            raise ConfigError(
                f"unsupported run store {redacted(self.url)!r}: use sqlite:///PATH or "
                "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or --no-store)"
            )
        if self.keep_runs < 1 or (self.keep_days is not None and not self.keep_days > 0):
            raise ConfigError(f"retention must keep at least one run and a positive number of days: {self}")

    @property
    def is_sqlite(self) -> bool:
        """True for a SQLite file store."""
        return self.url.lower().startswith("sqlite")

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file (only for a SQLite store)."""
        return Path(sa.make_url(self.url).database or "")


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


class _JSONSerializer(Serializer):
    """DBOS values as JSON: readable by any process and language, and no pickle to trust."""

    def serialize(self, data: Any) -> str:
        if isinstance(data, BaseException):  # DBOS records a raising step's error; ours return theirs
            return json.dumps({"error": type(data).__name__, "message": str(data)})
        return json.dumps(data, separators=(",", ":"), default=_plain)

    def deserialize(self, serialized_data: str) -> Any:
        value: Any = json.loads(serialized_data)
        if isinstance(value, dict) and set(value) == {"error", "message"}:  # pyright: ignore[reportUnknownArgumentType]
            return RuntimeError(f"{value['error']}: {value['message']}")
        return value  # pyright: ignore[reportUnknownVariableType]

    def name(self) -> str:
        return "nexthop_json"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | set | frozenset):
        return list(value)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot store a {type(value).__name__} in the run store")


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

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self.executor_id = f"{config.role}-{uuid.uuid4().hex[:12]}"
        self.callbacks: dict[str, Any] = {}
        """Per-run callbacks of runs started in this process, by run id (see `_durable`)."""
        self.host: Any = None
        """The `AgentHost` that runs workflows DBOS starts here (queued or recovered runs)."""
        self._presence: _Presence | None = None

    async def __aenter__(self) -> RunStore:
        if self.config.is_sqlite:
            _check_sqlite(self.config.sqlite_path)
        DBOS(config=self._dbos_config())
        try:
            DBOS.launch()  # in this thread's loop, so queued and recovered runs run beside the host
        except Exception as e:
            DBOS.destroy()
            raise self._launch_error(e) from e
        self._presence = _Presence.hold(self.config, self.executor_id)
        if self.config.role == "worker":
            await DBOS.register_queue_async(
                QUEUE, worker_concurrency=self.config.worker_concurrency, polling_interval_sec=0.2
            )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        DBOS.destroy(workflow_completion_timeout_sec=0)
        if self._presence is not None:
            self._presence.release()

    def _dbos_config(self) -> Any:
        config: dict[str, Any] = {
            "name": "nexthop",
            "system_database_url": self.config.url,
            "serializer": _JSONSerializer(),
            "executor_id": self.executor_id,
            "application_version": APP_VERSION,
            "log_level": "WARNING",
        }
        if self.config.is_sqlite:
            config["system_database_engine"] = _sqlite_engine(self.config)
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
        return _Presence.alive(self.config, executor_id)

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
        from nexthop.host._durable import recorded_trajectory

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
        from nexthop.host._durable import recorded_trajectory

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


def _check_sqlite(path: Path) -> None:
    """Refuse a file that is not a SQLite database; it is reported, never replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            db.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as e:
        raise ConfigError(
            f"the run store {path} is not a readable SQLite database ({e}); it was left as it is: "
            "move it aside to start a new store, or pass --store URL or --no-store"
        ) from e


def _sqlite_engine(config: StoreConfig) -> sa.Engine:
    """A SQLite engine as DBOS makes one (IMMEDIATE transactions, a long busy timeout), in WAL mode."""
    engine = sa.create_engine(config.url)

    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = "IMMEDIATE"
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")
        dbapi_conn.execute("PRAGMA busy_timeout=30000")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    sa_event.listen(engine, "connect", _pragmas)
    return engine


class _Presence:
    """A lock each process holds while it lives, so others can tell a dead run's owner from a busy one.

    SQLite (one machine): an exclusive ``flock`` on a file beside the store. PostgreSQL:
    a session advisory lock on a connection of its own. The operating system or the
    server drops either the moment the process dies, SIGKILL included, so no heartbeat
    or timeout is needed.
    """

    def __init__(self, release: Any) -> None:
        self._release = release

    @staticmethod
    def hold(config: StoreConfig, executor_id: str) -> _Presence:
        if config.is_sqlite:
            path = _lock_path(config, executor_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)

            def release() -> None:
                with contextlib.suppress(OSError):
                    path.unlink()
                os.close(fd)

            return _Presence(release)
        engine = _pg_engine(config)
        conn = engine.connect()
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key(executor_id)})
        conn.commit()

        def release_pg() -> None:
            with contextlib.suppress(Exception):
                conn.close()
            engine.dispose()

        return _Presence(release_pg)

    def release(self) -> None:
        self._release()

    @staticmethod
    def alive(config: StoreConfig, executor_id: str) -> bool:
        if config.is_sqlite:
            path = _lock_path(config, executor_id)
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            finally:
                os.close(fd)
            return False
        engine = _pg_engine(config)
        try:
            with engine.connect() as conn:
                got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(executor_id)}).scalar()
                if got:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(executor_id)})
                return not got
        finally:
            engine.dispose()


def _lock_path(config: StoreConfig, executor_id: str) -> Path:
    return config.sqlite_path.with_name(config.sqlite_path.name + ".live") / executor_id


def _lock_key(executor_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(executor_id.encode(), digest_size=8).digest(), "big", signed=True)


def _pg_engine(config: StoreConfig) -> sa.Engine:
    url = sa.make_url(config.url).set(drivername="postgresql+psycopg")
    return sa.create_engine(url, poolclass=sa.NullPool, connect_args={"connect_timeout": 5})


def trajectory_of(spec: dict[str, Any]) -> Trajectory:
    """The trajectory a run starts from: its task, context and memory, as recorded."""
    memory = spec.get("memory")
    return Trajectory(
        task=spec.get("task", ""),
        context=spec.get("context", ""),
        memory=Trajectory.model_validate(memory) if memory else None,
    )
