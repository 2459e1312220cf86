"""nexthop against the two real reference servers, neither written by us, over stdio.

- filesystem: ``npx -y @modelcontextprotocol/server-filesystem <dir>`` (Node; npx starts
  ``sh`` which starts ``node``, so it is a process tree);
- SQLite: ``mcp-server-sqlite --db-path <file>`` from its own venv with ``mcp<2``.

Both speak 2025-11-25, so these also cover the ``auto`` mode's fallback. A hang is made
real by stopping the server process (SIGSTOP), a crash by killing it (SIGKILL).
"""

from __future__ import annotations

import csv
import io
import signal
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import mcp
import psutil
import pytest
from procs import descendants, stdin_backlog, suspend, wait_for, wait_gone

from nexthop import (
    AgentHost,
    ModelRequest,
    ModelResponse,
    Observation,
    ScriptedModel,
    StdioServerConfig,
    ToolCall,
)
from nexthop.clients import MCPConnection, ServerGroup
from nexthop.models import call, finish
from nexthop.policies import PolicyConfig

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

FS_PACKAGE = "@modelcontextprotocol/server-filesystem@2026.8.31"  # keep in step with examples/servers.json
PROMPT_S = 5.0
"""An error for a dead server must arrive within this, far inside the call's 60 s timeout."""
CONNECT_S = 120.0
"""npx fetches the filesystem server on its first start (about 10 s, more on a slow network)."""


@dataclass
class Reference:
    """How to start one reference server and make a harmless call to it."""

    name: str
    connect: Callable[..., MCPConnection]
    probe: ToolCall
    answer: str  # a fragment of the probe's answer


@pytest.fixture
def fs(npx: str, tmp_path: Path) -> Reference:
    (tmp_path / "hello.txt").write_text("hello from disk\n")

    def connect(**kwargs: Any) -> MCPConnection:
        params = mcp.StdioServerParameters(command=npx, args=["-y", FS_PACKAGE, str(tmp_path)])
        return MCPConnection("fs", params, connect_timeout_s=CONNECT_S, **kwargs)

    probe = ToolCall(id="probe", name="fs__read_text_file", arguments={"path": str(tmp_path / "hello.txt")})
    return Reference("fs", connect, probe, "hello from disk")


@pytest.fixture
def db(sqlite_server: str, tmp_path: Path) -> Reference:
    def connect(**kwargs: Any) -> MCPConnection:
        params = mcp.StdioServerParameters(command=sqlite_server, args=["--db-path", str(tmp_path / "x.db")])
        return MCPConnection("db", params, connect_timeout_s=CONNECT_S, **kwargs)

    probe = ToolCall(id="probe", name="db__read_query", arguments={"query": "SELECT 40 + 2 AS answer"})
    return Reference("db", connect, probe, "42")


@pytest.fixture(params=["fs", "db"])
def ref(request: pytest.FixtureRequest) -> Reference:
    return request.getfixturevalue(request.param)


async def use(group: ServerGroup, name: str, **arguments: Any) -> Observation:
    return await group.call_tool(ToolCall(id=f"t-{name}", name=name, arguments=arguments))


def says_server_died(obs: Observation, server: str) -> bool:
    """The message names the server and says its connection ended (closed or crashed)."""
    text = obs.content.lower()
    return server in obs.content and ("closed" in text or "crashed" in text)


def server_leaf(tree: list[psutil.Process]) -> psutil.Process:
    """The process that serves: the one in the tree with no children (``node`` under npx)."""
    leaves = [p for p in tree if not p.children()]
    assert len(leaves) == 1, f"expected one leaf process in {[p.cmdline() for p in tree]}"
    return leaves[0]


# -- the filesystem server ------------------------------------------------------------------


async def test_filesystem_server_lists_and_really_writes(fs: Reference, tmp_path: Path) -> None:
    async with ServerGroup([fs.connect()]) as group:
        assert group.connections["fs"].protocol_version == "2025-11-25"
        names = {t.name for t in await group.list_tools()}
        assert {"fs__read_text_file", "fs__write_file", "fs__list_directory", "fs__list_allowed_directories"} <= names
        assert all(n.startswith("fs__") for n in names)

        target = tmp_path / "notes" / "out.txt"
        (tmp_path / "notes").mkdir()
        written = await use(group, "fs__write_file", path=str(target), content="line one\nline two\n")
        assert not written.is_error, written.content
        assert target.read_text() == "line one\nline two\n"

        read = await group.call_tool(fs.probe)
        assert (read.is_error, read.content.strip()) == (False, "hello from disk")

        outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
        outside.write_text("secret")
        try:
            denied = await use(group, "fs__read_text_file", path=str(outside))
        finally:
            outside.unlink()
        assert denied.is_error and "access denied" in denied.content.lower()
        assert "secret" not in denied.content


# -- the SQLite server ----------------------------------------------------------------------


async def test_sqlite_server_lists_and_really_stores(db: Reference, tmp_path: Path) -> None:
    async with ServerGroup([db.connect()]) as group:
        assert group.connections["db"].protocol_version == "2025-11-25"
        names = {t.name for t in await group.list_tools()}
        assert {"db__read_query", "db__write_query", "db__create_table", "db__list_tables"} <= names

        created = await use(group, "db__create_table", query="CREATE TABLE pets (id INTEGER, name TEXT)")
        assert not created.is_error, created.content
        inserted = await use(group, "db__write_query", query="INSERT INTO pets VALUES (1, 'Rex'), (2, 'Tom')")
        assert not inserted.is_error and "2" in inserted.content
        rows = await use(group, "db__read_query", query="SELECT name FROM pets ORDER BY id")
        assert not rows.is_error and "Rex" in rows.content and "Tom" in rows.content
        # This server reports SQL errors as ordinary text, not with isError; the model still sees why.
        wrong = await use(group, "db__read_query", query="SELECT * FROM no_such_table")
        assert "no such table" in wrong.content
        # It lists a resource but answers resources/templates/list with "Method not found":
        # the listing must still work (it failed every time, and the model looped on it).
        listing = await use(group, "db__list_resources")
        assert not listing.is_error, listing.content
        assert "memo://insights" in listing.content

    with sqlite3.connect(tmp_path / "x.db") as conn:
        assert conn.execute("SELECT id, name FROM pets ORDER BY id").fetchall() == [(1, "Rex"), (2, "Tom")]


# -- failures, for both ---------------------------------------------------------------------


async def test_a_server_killed_during_a_call_ends_the_call_promptly(
    ref: Reference, stopper: list[psutil.Process]
) -> None:
    before = descendants()
    async with ServerGroup([ref.connect(timeout_s=60)]) as group:
        tree = descendants(exclude=before)
        server = server_leaf(tree)
        stopper.append(server)
        await suspend(server)  # the call hangs ...
        observations: list[Observation] = []
        async with anyio.create_task_group() as tg:

            async def hanging_call() -> None:
                observations.append(await group.call_tool(ref.probe))

            tg.start_soon(hanging_call)
            await wait_for(lambda: stdin_backlog(server.pid) > 0, 10, "the call to reach the stopped server")
            server.kill()  # ... until the server dies under it
        [obs] = observations
        assert obs.is_error and says_server_died(obs, ref.name), obs.content
        assert obs.duration_s < PROMPT_S
    assert await wait_gone(tree) == []


async def test_a_hanging_server_times_out_and_recovers_when_it_resumes(
    ref: Reference, stopper: list[psutil.Process]
) -> None:
    before = descendants()
    async with ServerGroup([ref.connect(timeout_s=1.0)]) as group:
        server = server_leaf(descendants(exclude=before))
        stopper.append(server)
        await suspend(server)
        hung = await group.call_tool(ref.probe)
        assert hung.is_error and "timed out after 1 s" in hung.content
        assert 1.0 <= hung.duration_s < PROMPT_S

        server.send_signal(signal.SIGCONT)
        again = await group.call_tool(ref.probe)
        assert not again.is_error and ref.answer in again.content


async def test_no_orphans_when_the_host_exits_with_a_stopped_server_mid_call(
    fs: Reference, stopper: list[psutil.Process]
) -> None:
    """The worst case for shutdown: the whole npx tree must go though ``node`` ignores stdin and SIGTERM."""
    before = descendants()
    with anyio.fail_after(30):  # stdin close, 2 s grace, SIGTERM, 2 s, SIGKILL
        async with anyio.create_task_group() as tg:
            async with ServerGroup([fs.connect(timeout_s=60)]) as group:
                tree = descendants(exclude=before)
                assert len(tree) >= 2, [p.cmdline() for p in tree]  # npx and node at least
                server = server_leaf(tree)
                stopper.append(server)
                await suspend(server)
                tg.start_soon(group.call_tool, fs.probe)
                await wait_for(lambda: stdin_backlog(server.pid) > 0, 10, "the call to reach the stopped server")
            tg.cancel_scope.cancel()
    assert await wait_gone(tree) == []
    assert descendants(exclude=before) == []


# -- an agent run over both -----------------------------------------------------------------

ORDERS = "order_id,customer,amount\n1,Alice,12.50\n2,Bob,7.25\n3,Alice,5.75\n4,Carol,30.00\n"


def insert_orders(request: ModelRequest) -> ModelResponse:
    """The step a model would take: turn the CSV it just read into one INSERT."""
    [read] = request.trajectory.steps[0].observations
    rows = list(csv.DictReader(io.StringIO(read.content)))
    values = ", ".join(f"({int(r['order_id'])}, '{r['customer']}', {float(r['amount'])})" for r in rows)
    return call("db__write_query", query=f"INSERT INTO orders VALUES {values}")


def report(request: ModelRequest) -> ModelResponse:
    [totals] = request.trajectory.steps[-1].observations
    return finish(totals.content)


async def test_an_agent_run_moves_a_csv_into_sqlite(npx: str, sqlite_server: str, tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(ORDERS)
    db_file = tmp_path / "orders.db"
    servers = [
        StdioServerConfig(name="fs", command=npx, args=["-y", FS_PACKAGE, str(tmp_path)]),
        StdioServerConfig(name="db", command=sqlite_server, args=["--db-path", str(db_file)]),
    ]
    model = ScriptedModel(
        [
            call("fs__read_text_file", path=str(tmp_path / "orders.csv")),
            call("db__create_table", query="CREATE TABLE orders (order_id INTEGER, customer TEXT, amount REAL)"),
            insert_orders,
            call("db__read_query", query="SELECT customer, SUM(amount) AS total FROM orders GROUP BY customer"),
            report,
        ]
    )
    before = descendants()
    # The script calls fs__read_text_file first; narrowing offers only database tools for this task
    # at step 1 (the 8 tools of the one server the task's words match), so it is off here.
    policy = PolicyConfig(narrow_tools_over=None)
    async with AgentHost(model=model, servers=servers, strict=True, policy=policy) as host:
        tree = descendants(exclude=before)
        result = await host.run("Load orders.csv into a table orders and report the total per customer.")
    assert result.status == "completed", result.termination
    observations = [o for step in result.trajectory.steps for o in step.observations]
    assert not any(o.is_error for o in observations[:-1]), [o.content for o in observations]
    assert "Alice" in result.result and "18.25" in result.result

    with sqlite3.connect(db_file) as conn:
        stored = conn.execute("SELECT order_id, customer, amount FROM orders ORDER BY order_id").fetchall()
    expected = [(int(r["order_id"]), r["customer"], float(r["amount"])) for r in csv.DictReader(io.StringIO(ORDERS))]
    assert stored == expected
    assert await wait_gone(tree) == []
