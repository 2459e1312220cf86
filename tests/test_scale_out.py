"""Three `nexthop serve` workers on one PostgreSQL store; one is killed with SIGKILL halfway.

Thirty ``run_task`` calls, spread over the workers, each run a scripted model that
calls a slow stdio tool once (tests/support/work_server.py logs every call it runs).
Halfway, one worker and its tool server are killed. The runs it held are recovered by
a live worker from their last recorded step: every task completes exactly once, and
a tool call recorded before the kill never runs again (only calls in flight at the
kill may, as tool calls run at least once).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import mcp
import psycopg
import pytest

SUPPORT = Path(__file__).parent / "support"
TASKS = 30
WORKER_CONCURRENCY = 4  # StoreConfig's default: the most runs one worker holds at once
pytestmark = pytest.mark.anyio


def _postgres(database: str) -> str:
    if shutil.which("pg_ctlcluster") is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    subprocess.run(["pg_ctlcluster", "15", "main", "start"], capture_output=True, timeout=60)
    password = "ALTER USER postgres PASSWORD 'nexthop'"
    subprocess.run(["su", "postgres", "-c", f'psql -q -c "{password}"'], capture_output=True, timeout=60, check=True)
    return f"postgresql://postgres:nexthop@127.0.0.1:5432/{database}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _runs(url: str) -> list[tuple[str, str, Any]]:
    """Every run in the store: status, task and output (read straight from DBOS's tables)."""
    query = (
        "SELECT s.status, i.inputs, COALESCE(o.output, s.output) FROM dbos.workflow_status s "
        "LEFT JOIN dbos.workflow_input i USING (workflow_uuid) LEFT JOIN dbos.workflow_output o USING (workflow_uuid) "
        "WHERE s.name = 'nexthop.run'"
    )
    with contextlib.suppress(psycopg.Error), psycopg.connect(url, connect_timeout=5) as db:
        rows = db.execute(query).fetchall()
        return [
            (status, json.loads(inputs)["args"][0]["task"] if inputs else "", json.loads(output) if output else None)
            for status, inputs, output in rows
        ]
    return []


def _log(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def _ask(port: int, task: str) -> dict[str, Any] | None:
    try:
        async with mcp.Client(f"http://127.0.0.1:{port}/mcp") as client:
            result = await client.call_tool("run_task", {"task": task}, read_timeout_seconds=300)
    except Exception:  # the worker was killed under the call: the caller reads the run from the store
        return None
    return result.structured_content


async def test_three_workers_run_thirty_tasks_once_and_recover_a_killed_one(tmp_path: Path) -> None:
    url = _postgres(f"nexthop_scale_{uuid.uuid4().hex[:8]}")
    log = tmp_path / "work.log"
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [{"tool": "work__work", "arguments": {"label": "w"}}, {"tool": "finish", "arguments": {"result": "ok"}}]
        )
    )
    server = f"work={sys.executable} {SUPPORT / 'work_server.py'} {log} none 1.5"
    env = {**os.environ, "NEXTHOP_STORE": url}
    ports = [_free_port() for _ in range(3)]
    workers = [
        subprocess.Popen(  # noqa: ASYNC220 - killed with SIGKILL below, which needs the plain handle
            [
                sys.executable,
                "-m",
                "nexthop",
                "serve",
                "--http",
                str(port),
                "--server",
                server,
                "--model",
                f"scripted:{script}",
            ],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    answers: dict[int, dict[str, Any] | None] = {}
    try:
        with anyio.fail_after(240):
            for port in ports:
                while True:
                    with contextlib.suppress(OSError):
                        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                        break
                    await anyio.sleep(0.2)

            async def ask(i: int) -> None:
                answers[i] = await _ask(ports[i % 3], f"task {i}")

            async with anyio.create_task_group() as tg:
                for i in range(TASKS):
                    tg.start_soon(ask, i)
                # Halfway: every task is in the store and some have run; then the first worker dies.
                while len(_runs(url)) < TASKS or len(_log(log)) < TASKS // 3:
                    await anyio.sleep(0.1)
                os.killpg(workers[0].pid, signal.SIGKILL)
                killed_at = len(_log(log))
            while sum(status == "SUCCESS" for status, _, _ in _runs(url)) < TASKS:
                await anyio.sleep(0.2)
            # A run taken by the third worker, read from the second: it comes from the store.
            uri = next(a["run_uri"] for i, a in answers.items() if a is not None and i % 3 == 2)
            async with mcp.Client(f"http://127.0.0.1:{ports[1]}/mcp") as client:
                read = await client.read_resource(uri)
            record = json.loads(read.contents[0].text)  # pyright: ignore[reportAttributeAccessIssue]
    finally:
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()

    assert record["state"] == "finished" and record["result"]["status"] == "completed"
    assert [s["index"] for s in record["trajectory"]["steps"]] == [1, 2]
    runs = _runs(url)
    assert sorted(task for _, task, _ in runs) == sorted(f"task {i}" for i in range(TASKS))  # each exactly once
    assert all(output["status"] == "completed" and len(output["trajectory"]["steps"]) == 2 for _, _, output in runs)
    answered = {i: a for i, a in answers.items() if a is not None}
    assert all(a["status"] == "completed" for a in answered.values())
    assert len(answered) >= TASKS - TASKS // 3 - 1  # only the killed worker's callers lost their answer
    # Recorded calls never ran again: at most the calls in flight on the killed worker ran twice.
    assert killed_at < TASKS and TASKS <= len(_log(log)) <= TASKS + WORKER_CONCURRENCY
