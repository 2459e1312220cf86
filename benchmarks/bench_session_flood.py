"""A flood of abandoned sessions, and of huge tasks, against ``nexthop serve --http``: what it holds after.

Run: python benchmarks/bench_session_flood.py [--initializes 10050] [--runs 60] [--serve-flag=--max-sessions=...]

1. Sessions: N 2025-11-25 ``initialize`` requests, each abandoned once answered (no
   ``initialized``, no DELETE), 32 at a time. Then a legacy (2025-11-25) client connects
   and calls ``run_task``. Prints the server's RSS growth (target < 100 MB for 10,050;
   with the SDK's defaults, 10,000 sessions kept 30 min, it was +364 MB and the legacy
   client was refused with 503 "Too many open sessions").
2. Runs: R ``run_task`` calls, each with a 3.5 MB task, over one session. Prints the RSS
   growth (it was +233 MB for 60 before the run registry was bounded), and the live
   Python memory (tracemalloc) after the same calls to an in-process server: RSS also
   counts what the allocator keeps of freed 3.5 MB buffers.
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import anyio
import anyio.abc
import httpx2
import mcp
import psutil

from nexthop import AgentHost, ScriptedModel
from nexthop.models import finish
from nexthop.servers import build_server

NEXTHOP = str(Path(sys.executable).with_name("nexthop"))
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "flood", "version": "0"}},
}
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
BIG_TASK = 3_500_000  # characters


async def _serve(script: Path, port: int, flags: list[str]) -> anyio.abc.Process:
    argv = [NEXTHOP, "serve", "--http", f"127.0.0.1:{port}", "--model", f"scripted:{script}", *flags]
    proc = await anyio.open_process(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"nexthop serve --http exited {proc.returncode}")
        try:
            stream = await anyio.connect_tcp("127.0.0.1", port)
        except OSError:
            await anyio.sleep(0.05)  # not listening yet
        else:
            await stream.aclose()
            return proc
    raise RuntimeError("nexthop serve --http did not listen within 30 s")


def _rss_mb(proc: anyio.abc.Process) -> float:
    return psutil.Process(proc.pid).memory_info().rss / 1e6


async def flood(url: str, n: int, parallel: int = 32) -> Counter[int]:
    """``n`` initializes, ``parallel`` at a time, each abandoned once answered; returns the status counts."""
    statuses: Counter[int] = Counter()
    send, receive = anyio.create_memory_object_stream[int](n)
    for i in range(n):
        send.send_nowait(i)
    send.close()

    async def worker(http: httpx2.AsyncClient) -> None:
        async for _ in receive:
            response = await http.post(url, json=INITIALIZE, headers=HEADERS)
            statuses[response.status_code] += 1

    async with httpx2.AsyncClient(timeout=30) as http, anyio.create_task_group() as tg:
        for _ in range(parallel):
            tg.start_soon(worker, http)
    return statuses


async def legacy_run(url: str, task: str = "are you there?") -> str:
    async with mcp.Client(url, mode="legacy") as client:
        result = await client.call_tool("run_task", {"task": task})
    return (result.structured_content or {}).get("status", f"error: {result.content}")


async def live_memory_of_runs(runs: int) -> tuple[float, float]:
    """Live Python memory growth (MB) over ``runs`` in-process run_task calls with a huge task, and the registry's."""
    async with AgentHost(model=ScriptedModel([finish("ok")] * (runs + 1)), servers=[]) as host:
        server = await build_server(host)
        async with mcp.Client(server, mode="legacy") as client:
            await client.call_tool("run_task", {"task": "warm up"})
            gc.collect()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            for n in range(runs):
                await client.call_tool("run_task", {"task": f"{n} " + "x" * BIG_TASK})
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - base
            tracemalloc.stop()
    return grown / 1e6, server.runs.size_bytes / 1e6  # type: ignore[attr-defined]


async def main(initializes: int, runs: int, flags: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "script.json"
        script.write_text(json.dumps([{"tool": "finish", "arguments": {"result": "ok"}}]))  # step 1 of every run
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}/mcp"
        proc = await _serve(script, port, flags)
        try:
            base = _rss_mb(proc)
            start = time.perf_counter()
            statuses = await flood(url, initializes)
            wall = time.perf_counter() - start
            after_flood = _rss_mb(proc)
            status = await legacy_run(url)
            print(f"serve flags: {' '.join(flags) or '(defaults)'}")
            print(
                f"sessions: {initializes} abandoned initializes in {wall:.1f} s, statuses {dict(statuses)}; "
                f"RSS {base:.1f} -> {after_flood:.1f} MB (+{after_flood - base:.1f} MB); "
                f"legacy client afterwards: run_task {status}"
            )
            before_runs = _rss_mb(proc)
            async with mcp.Client(url, mode="legacy") as client:
                for n in range(runs):
                    await client.call_tool("run_task", {"task": f"{n} " + "x" * BIG_TASK})
            after_runs = _rss_mb(proc)
            print(
                f"runs: {runs} run_task calls with a {BIG_TASK / 1e6:.1f} MB task; "
                f"RSS {before_runs:.1f} -> {after_runs:.1f} MB (+{after_runs - before_runs:.1f} MB)"
            )
        finally:
            proc.terminate()
            await proc.wait()
    live, registry = await live_memory_of_runs(runs)
    print(f"runs in process: live Python memory +{live:.1f} MB, of which the run registry holds {registry:.1f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--initializes", type=int, default=10_050)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument(
        "--serve-flag",
        action="append",
        default=[],
        help="passed to nexthop serve, e.g. --serve-flag=--max-sessions=10000",
    )
    args = parser.parse_args()
    anyio.run(main, args.initializes, args.runs, args.serve_flag)
