"""Host overhead per tool step, and connecting 10 stdio servers, against the raw MCP SDK.

Run: python benchmarks/bench_host.py [--calls 50] [--servers 10] [--repeats 3]

1. Per step: the scripted model calls one tiny tool over stdio, N times, through
   AgentHost; against a plain ``mcp.Client.call_tool`` loop on the same server
   process in the same run. Both protocol revisions. Target: <= 1.2x the plain loop.
2. Flat cost: ms per step over steps 1-10 and over steps 191-200 of a 200-step run.
3. Connect: 10 stdio servers through ServerGroup against the raw SDK connecting
   (and listing tools) in parallel in one task group. Target: <= 1.1x.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import mcp

from nexthop import AgentHost, ScriptedModel
from nexthop.clients import MCPConnection, ServerGroup, call
from nexthop.policies import PolicyConfig

# The loop's own cost, with no policies; the default policies are measured separately, with
# varying arguments so that doom-loop detection (rightly) lets the run go on.
NO_POLICIES = PolicyConfig(doom_loop_n=0, pinning=False)
SERVER = mcp.StdioServerParameters(command=sys.executable, args=[str(Path(__file__).with_name("tiny_server.py"))])


async def per_step(mode: str, calls: int, repeats: int, policy: PolicyConfig = NO_POLICIES) -> None:
    conn = MCPConnection("tiny", SERVER, mode=mode)
    counter = itertools.count()
    model = ScriptedModel(itertools.repeat(lambda _: call("tiny__echo", text=f"hello {next(counter)}")))
    async with AgentHost(model=model, servers=[conn], max_steps=calls, policy=policy) as host:
        client = conn._client  # noqa: SLF001 - the same server process, for a fair comparison
        assert client is not None
        plain, hosted = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                await client.call_tool("echo", {"text": "hello"})
            plain.append((time.perf_counter() - start) / calls * 1000)
            start = time.perf_counter()
            result = await host.run("echo")
            hosted.append((time.perf_counter() - start) / len(result.steps) * 1000)
            assert len(result.steps) == calls and all(not s.observations[0].is_error for s in result.steps)
        p, h = statistics.median(plain), statistics.median(hosted)
        print(f"  {conn.protocol_version}: plain call_tool {p:.2f} ms/call, host {h:.2f} ms/step, ratio {h / p:.2f}x")


async def flat(mode: str) -> None:
    model = ScriptedModel(itertools.repeat(call("tiny__echo", text="hello")))
    async with AgentHost(
        model=model, servers=[MCPConnection("tiny", SERVER, mode=mode)], max_steps=200, policy=NO_POLICIES
    ) as host:
        result = await host.run("echo")
    d = [s.duration_s * 1000 for s in result.steps]
    early, late = statistics.mean(d[:10]), statistics.mean(d[-10:])
    print(f"  steps 1-10: {early:.2f} ms/step, steps 191-200: {late:.2f} ms/step ({late / early:.2f}x)")


async def connect_raw(n: int) -> float:
    stop = anyio.Event()
    ready = 0
    done = anyio.Event()

    async def one() -> None:
        nonlocal ready
        async with mcp.Client(SERVER) as client:
            await client.list_tools()
            ready += 1
            if ready == n:
                done.set()
            await stop.wait()

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
        await done.wait()
        elapsed = time.perf_counter() - start
        stop.set()
    return elapsed


async def connect_ours(n: int) -> float:
    group = ServerGroup([MCPConnection(f"s{i}", SERVER) for i in range(n)])
    start = time.perf_counter()
    async with group:
        elapsed = time.perf_counter() - start
        assert len(group.active) == n, group.failed
    return elapsed


async def main(calls: int, servers: int, repeats: int) -> None:
    print(f"host overhead per tool step ({calls} calls, median of {repeats}):")
    for mode in ("auto", "legacy"):
        await per_step(mode, calls, repeats)
    print("the same with the default policies (doom-loop detection, tool pinning):")
    with tempfile.TemporaryDirectory() as pins:
        await per_step("auto", calls, repeats, PolicyConfig(pin_file=Path(pins) / "pins.json"))
    print("cost per step as the trajectory grows (200-step run, 2026-07-28):")
    await flat("auto")
    print(f"connecting {servers} stdio servers in parallel (median of {repeats}, alternating):")
    raw, ours = [], []
    for _ in range(repeats):
        raw.append(await connect_raw(servers))
        ours.append(await connect_ours(servers))
    r, o = statistics.median(raw), statistics.median(ours)
    print(f"  raw SDK {r:.2f} s, nexthop {o:.2f} s, ratio {o / r:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    anyio.run(main, args.calls, args.servers, args.repeats)
