"""The durable run store's cost: ms per step with the store on vs off, and bytes per step.

Run: python benchmarks/bench_store.py [--calls 50] [--repeats 3]

The same run as bench_host.py's per-step figure (the scripted model calls one tiny
tool over stdio, N times, through AgentHost), with no store and with a SQLite store
(each step records a model request and a tool call), alternating, on one server
process. Target: the store adds <= 2 ms per step. Bytes per step: the SQLite file's
growth over a run, after a WAL checkpoint, divided by its steps.
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


async def main(calls: int, repeats: int) -> None:
    counter = itertools.count()
    model = ScriptedModel(itertools.repeat(lambda _: call("tiny__echo", text=f"hello {next(counter)}")))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runs.sqlite"
        async with RunStore(StoreConfig(f"sqlite:///{path}")) as store:
            conn = MCPConnection("tiny", SERVER)
            plain = AgentHost(model=model, servers=[conn], max_steps=calls, policy=NO_POLICIES)
            async with plain:
                stored = AgentHost(model=model, servers=[conn], max_steps=calls, policy=NO_POLICIES, store=store)
                await stored.run("warm up")
                off, on, sizes = [], [], []
                for _ in range(repeats):
                    start = time.perf_counter()
                    result = await plain.run("echo")
                    off.append((time.perf_counter() - start) / len(result.steps) * 1000)
                    before = _size(path)
                    start = time.perf_counter()
                    result = await stored.run("echo")
                    on.append((time.perf_counter() - start) / len(result.steps) * 1000)
                    sizes.append((_size(path) - before) / len(result.steps))
                    assert len(result.steps) == calls
    a, b = statistics.median(off), statistics.median(on)
    print(f"per step ({calls} steps, median of {repeats}): store off {a:.2f} ms, SQLite store on {b:.2f} ms")
    print(f"  the store adds {b - a:.2f} ms per step (target <= 2 ms)")
    print(f"  store size: {statistics.median(sizes):.0f} bytes per step (model request + tool call, JSON)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    anyio.run(main, args.calls, args.repeats)
