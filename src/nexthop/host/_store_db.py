"""The run store's database plumbing: JSON values, the SQLite engine, and presence locks.

Kept apart from `nexthop.host._store` (which reads runs) so each stays small.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs
import sqlalchemy as sa
from dbos._error import DBOSWorkflowCancelledError, DBOSWorkflowConflictIDError
from dbos._serialization import Serializer
from pydantic import BaseModel
from sqlalchemy import event as sa_event

from nexthop._exceptions import ConfigError
from nexthop._sanitize import one_line

__all__ = [
    "JSONSerializer",
    "Presence",
    "SQLiteSteps",
    "StepRow",
    "StoreConfig",
    "check_sqlite",
    "default_store_url",
    "redacted",
    "sqlite_engine",
]


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


class JSONSerializer(Serializer):
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


def check_sqlite(path: Path) -> None:
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


def sqlite_engine(config: StoreConfig) -> sa.Engine:
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


@dataclass(frozen=True)
class StepRow:
    """One recorded step, as DBOS stores it (``operation_outputs``).

    Attributes:
        workflow_id: The run's workflow id.
        owner: The DBOS ownership token of the execution that ran the step.
        function_id: The step id.
        name: The step's name (``model``, ``tool``, ...).
        output: The result, serialized (JSON).
        started_ms: When the step started (Unix milliseconds).
    """

    workflow_id: str
    owner: str | None
    function_id: int
    name: str
    output: str
    started_ms: int


class SQLiteSteps:
    """Writes a durable run's step results into DBOS's SQLite system database: one statement a step.

    The row is the one DBOS's ``SystemDatabase.record_operation_result`` writes, and
    DBOS replays it as its own. It is fenced the same way: the insert happens only
    while this execution still owns the workflow (a cancel, resume or recovery hands
    the ownership token on), checked in the same statement, so atomically. What
    differs is the cost: DBOS builds and compiles each step's SQL with SQLAlchemy on
    every call (not prepared on SQLite, see ``SystemDatabase._execute_prepared``), in
    two transactions and three hops to its thread pool; that was most of the store's
    cost (benchmarks/bench_store.py). Here the SQL is a fixed string.

    `try_write` runs on the event loop, on a connection of its own that waits for the
    write lock at most `LOOP_BUSY_MS`; when another writer holds it longer, `write`
    does it through DBOS's engine (which waits up to 30 s), in a worker thread.
    The commit is durable against the process being killed: WAL with
    ``synchronous=NORMAL`` (see `sqlite_engine`).

    Args:
        engine: DBOS's system database engine (`sqlite_engine`).
        path: The SQLite file.
        serialization: The serializer's name DBOS stores beside each value.
        app_name: The DBOS application name DBOS stores beside each step.
    """

    LOOP_BUSY_MS = 20
    """How long a write on the event loop waits for another writer (milliseconds)."""

    _INSERT = (
        "INSERT INTO operation_outputs (workflow_uuid, function_id, function_name, output, error, child_workflow_id, "
        "started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name, retention_timestamp) "
        "SELECT ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ? "
        "WHERE EXISTS (SELECT 1 FROM workflow_status WHERE workflow_uuid = ? AND owner_xid = ?)"
    )
    _STATUS = "SELECT status FROM workflow_status WHERE workflow_uuid = ?"
    _RECORDED = "SELECT function_id FROM operation_outputs WHERE workflow_uuid = ?"

    def __init__(self, engine: sa.Engine, path: Path, serialization: str, app_name: str) -> None:
        self.engine = engine
        self.serialization = serialization
        self.app_name = app_name
        # Autocommit: each INSERT is its own transaction. Used only from the thread that opened it.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")  # as DBOS's engine has it (`sqlite_engine`)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA busy_timeout={self.LOOP_BUSY_MS}")
        self._thread = threading.get_ident()

    def close(self) -> None:
        """Close the event loop's connection."""
        self._db.close()

    def recorded(self, workflow_id: str) -> frozenset[int]:
        """The step ids recorded for ``workflow_id`` so far (blocking)."""
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(self._RECORDED, (workflow_id,)).all()
        return frozenset(int(r[0]) for r in rows)

    def try_write(self, row: StepRow) -> bool:
        """Record ``row`` now, unless another writer holds the database or this is another thread.

        Returns:
            True when it is written; False when `write` must do it.

        Raises:
            As `write`.
        """
        if threading.get_ident() != self._thread:
            return False
        try:
            written = self._db.execute(self._INSERT, self._params(row)).rowcount
        except sqlite3.OperationalError as e:
            if (e.sqlite_errorcode & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):  # BUSY_SNAPSHOT too
                return False
            raise
        if not written:
            self._fenced(row, self._db.execute(self._STATUS, (row.workflow_id,)).fetchone())
        return True

    def write(self, row: StepRow) -> None:
        """Record ``row`` through DBOS's engine (blocking; waits for other writers).

        Raises:
            DBOSWorkflowCancelledError: The run was cancelled; nothing is written.
            DBOSWorkflowConflictIDError: Another execution owns the run now; nothing is written.
            sqlalchemy.exc.IntegrityError: The step id is recorded already.
        """
        with self.engine.begin() as conn:
            written = conn.exec_driver_sql(self._INSERT, self._params(row)).rowcount
            if not written:
                self._fenced(row, conn.exec_driver_sql(self._STATUS, (row.workflow_id,)).first())

    def _params(self, row: StepRow) -> tuple[Any, ...]:
        now = int(time.time() * 1000)
        return (
            *(row.workflow_id, row.function_id, row.name, row.output, row.started_ms, now),
            *(self.serialization, self.app_name, now, row.workflow_id, row.owner),
        )

    @staticmethod
    def _fenced(row: StepRow, status: Any) -> None:
        if status is not None and status[0] == "CANCELLED":
            raise DBOSWorkflowCancelledError(f"Workflow {row.workflow_id} is cancelled. Aborting function.")
        raise DBOSWorkflowConflictIDError(row.workflow_id)


class Presence:
    """A lock each process holds while it lives, so others can tell a dead run's owner from a busy one.

    SQLite (one machine): an exclusive ``flock`` on a file beside the store. PostgreSQL:
    a session advisory lock on a connection of its own. The operating system or the
    server drops either the moment the process dies, SIGKILL included, so no heartbeat
    or timeout is needed.
    """

    def __init__(self, release: Callable[[], None]) -> None:
        self._release = release

    @staticmethod
    def hold(config: StoreConfig, executor_id: str) -> Presence:
        if config.is_sqlite:
            path = _lock_path(config, executor_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)

            def release() -> None:
                with contextlib.suppress(OSError):
                    path.unlink()
                os.close(fd)

            return Presence(release)
        engine = _pg_engine(config)
        conn = engine.connect()
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key(executor_id)})
        conn.commit()

        def release_pg() -> None:
            with contextlib.suppress(Exception):
                conn.close()
            engine.dispose()

        return Presence(release_pg)

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
