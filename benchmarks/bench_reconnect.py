"""How fast a killed stdio server comes back: kill -9 to in-flight calls failing, and to its tools being back.

Run: python benchmarks/bench_reconnect.py [--rounds 5]

Each round starts a call of ``demo__sleep`` (30 s), SIGKILLs the server's process,
and measures (wall clock, from the kill):

* **calls failed**: when the in-flight call returns its error observation (the
  process's exit is noticed, the session ends, the call reports the crash);
* **tools back**: when the connection is ``connected`` again after a restart it
  started by itself, and ``list_tools`` offers the server's tools.

Medians and maxima over the rounds are printed. The server is the test suite's demo
server (a Python MCP server, whose start-up dominates the second figure).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import time
from pathlib import Path

import anyio
import mcp
import psutil

from nexthop import ToolCall
from nexthop.clients import MCPConnection, ServerGroup

DEMO = Path(__file__).parents[1] / "tests" / "support" / "demo_server.py"


async def one_round(conn: MCPConnection, group: ServerGroup) -> tuple[float, float]:
    """(seconds to the in-flight call's error, seconds to the tools being back), both from the kill."""
    pid = int((await conn.call_tool(ToolCall(id="p", name="d__pid"))).content)
    restarts = conn.restarts
    failed_at: float | None = None

    async def in_flight() -> None:
        nonlocal failed_at
        obs = await conn.call_tool(ToolCall(id="s", name="d__sleep", arguments={"seconds": 30}))
        assert obs.is_error, obs.content
        failed_at = time.perf_counter()

    async with anyio.create_task_group() as tg:
        tg.start_soon(in_flight)
        await anyio.sleep(0.3)  # the call is in flight on the server
        killed_at = time.perf_counter()
        psutil.Process(pid).send_signal(signal.SIGKILL)
        with anyio.fail_after(60):
            # Polled every 5 ms (the measurement's resolution): the connection has no event for this.
            while not (conn.restarts > restarts and conn.state == "connected"):  # noqa: ASYNC110
                await anyio.sleep(0.005)
            while "d__echo" not in {t.name for t in await group.list_tools()}:  # noqa: ASYNC110
                await anyio.sleep(0.005)
        back_at = time.perf_counter()
    assert failed_at is not None
    return failed_at - killed_at, back_at - killed_at


async def main(rounds: int) -> None:
    params = mcp.StdioServerParameters(command=sys.executable, args=[str(DEMO), "d"])
    conn = MCPConnection("d", params, reconnect_backoff_s=0.1)
    failed: list[float] = []
    back: list[float] = []
    async with ServerGroup([conn]) as group:
        for _ in range(rounds):
            f, b = await one_round(conn, group)
            failed.append(f)
            back.append(b)
    print(f"stdio server killed with SIGKILL, {rounds} rounds (median / max):")
    print(
        f"  kill -9 to in-flight calls failing: {statistics.median(failed) * 1000:.0f} ms / {max(failed) * 1000:.0f} ms"
    )
    print(f"  kill -9 to the server's tools back: {statistics.median(back):.2f} s / {max(back):.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    anyio.run(main, parser.parse_args().rounds)
