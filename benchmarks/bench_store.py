"""The durable run store's cost: ms per step with the store on vs off, bytes per step, and workers' throughput.

Run: python benchmarks/bench_store.py [--calls 50] [--repeats 9] [--scale POSTGRESQL_URL]

The same run as bench_host.py's per-step figure (the scripted model calls one tiny
tool over stdio, N times, through AgentHost), with no store and with a SQLite store
(each step records a model request and a tool call), alternating, on one server
process. Target: the store adds <= 2 ms per step, taken as the median over pairs of
runs (one off, one on, back to back) so that a busy machine weighs on both alike;
wall time and the process's CPU time (all its threads), with their spread. Bytes per
step: the SQLite file's growth over a run, after a WAL checkpoint, divided by its steps.

With ``--scale URL`` (a PostgreSQL server; each measurement gets a fresh database):
30 ``run_task`` calls (scripted model, one 0.2 s stdio tool call and ``finish``) spread
over 1 and then 3 ``nexthop serve`` workers sharing the store: tasks/s, and p50/p95
latency per task as the caller sees it.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import mcp

from nexthop import AgentHost, ScriptedModel
from nexthop.clients import MCPConnection
from nexthop.host._store import RunStore, StoreConfig
from nexthop.models._scripted import call
from nexthop.policies import PolicyConfig

NO_POLICIES = PolicyConfig(doom_loop_n=0, pinning=False)
SERVER = mcp.StdioServerParameters(command=sys.executable, args=[str(Path(__file__).with_name("tiny_server.py"))])


def _size(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


async def main(calls: int, repeats: int) -> None:
    counter = itertools.count()
    model = ScriptedModel(itertools.repeat(lambda _: call("tiny__echo", text=f"hello {next(counter)}")))
    wall: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    sizes: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runs.sqlite"
        async with RunStore(StoreConfig(f"sqlite:///{path}")) as store:
            conn = MCPConnection("tiny", SERVER)
            plain = AgentHost(model=model, servers=[conn], max_steps=calls, policy=NO_POLICIES)
            async with plain:
                stored = AgentHost(model=model, servers=[conn], max_steps=calls, policy=NO_POLICIES, store=store)
                await stored.run("warm up")
                await plain.run("warm up")
                for i in range(repeats):
                    # Alternate which goes first, so that a change in the machine's load hits both alike.
                    for which in ("off", "on") if i % 2 == 0 else ("on", "off"):
                        before = _size(path)
                        start, start_cpu = time.perf_counter(), time.process_time()
                        result = await (plain if which == "off" else stored).run("echo")
                        wall[which].append((time.perf_counter() - start) / len(result.steps) * 1000)
                        cpu[which].append((time.process_time() - start_cpu) / len(result.steps) * 1000)
                        assert len(result.steps) == calls
                        if which == "on":
                            sizes.append((_size(path) - before) / len(result.steps))
    added = [b - a for a, b in zip(wall["off"], wall["on"], strict=True)]
    added_cpu = [b - a for a, b in zip(cpu["off"], cpu["on"], strict=True)]
    print(f"per step ({calls} steps, {repeats} runs each, alternating; median, min, max in ms):")
    print(f"  store off:       wall {_spread(wall['off'])}, process CPU {_spread(cpu['off'])}")
    print(f"  SQLite store on: wall {_spread(wall['on'])}, process CPU {_spread(cpu['on'])}")
    print(f"  the store adds {_spread(added)} ms per step (paired runs; target <= 2 ms), CPU {_spread(added_cpu)}")
    print(f"  store size: {statistics.median(sizes):.0f} bytes per step (model request + tool call + the run's result)")


async def scale(url: str, workers: int, tasks: int = 30) -> None:
    import json
    import os
    import signal
    import socket
    import subprocess
    import uuid

    tmp = Path(tempfile.mkdtemp())
    script = tmp / "script.json"
    script.write_text(
        json.dumps(
            [{"tool": "work__work", "arguments": {"label": "w"}}, {"tool": "finish", "arguments": {"result": "ok"}}]
        )
    )
    support = Path(__file__).parents[1] / "tests" / "support" / "work_server.py"
    server = f"work={sys.executable} {support} {tmp / 'work.log'} none 0.2"
    env = {**os.environ, "NEXTHOP_STORE": f"{url.rstrip('/')}_{uuid.uuid4().hex[:8]}"}
    ports: list[int] = []
    for _ in range(workers):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    procs = [
        subprocess.Popen(  # noqa: ASYNC220 - ended with a signal to its whole group below
            [
                sys.executable,
                "-m",
                "nexthop",
                "serve",
                "--http",
                str(p),
                "--server",
                server,
                "--model",
                f"scripted:{script}",
            ],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for p in ports
    ]
    latencies: list[float] = []
    try:
        for port in ports:
            while True:
                with contextlib.suppress(OSError):
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                await anyio.sleep(0.2)

        async def one(i: int) -> None:
            start = time.perf_counter()
            async with mcp.Client(f"http://127.0.0.1:{ports[i % workers]}/mcp") as client:
                result = await client.call_tool("run_task", {"task": f"task {i}"}, read_timeout_seconds=300)
            assert result.structured_content and result.structured_content["status"] == "completed"
            latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(tasks):
                tg.start_soon(one, i)
        elapsed = time.perf_counter() - start
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
    p50, p95 = statistics.median(latencies), statistics.quantiles(latencies, n=20)[18]
    print(f"  {workers} worker(s): {tasks / elapsed:.2f} tasks/s, p50 {p50:.2f} s, p95 {p95:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--scale", metavar="POSTGRESQL_URL", help="also measure 1 and 3 workers on this server")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    anyio.run(main, args.calls, args.repeats)
    if args.scale:
        print("workers sharing a PostgreSQL store (30 tasks, one 0.2 s tool call each):")
        for n in (1, 3):
            anyio.run(scale, args.scale, n)
