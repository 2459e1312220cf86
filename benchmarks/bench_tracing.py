"""Tracing overhead per step: the same run with OpenTelemetry off, then on and exporting over OTLP/HTTP.

Run: python benchmarks/bench_tracing.py [--calls 100] [--repeats 5]

As in bench_host.py, the scripted model calls one tiny tool over stdio per step. Off is
the default: no tracer provider, so nexthop's helpers step aside and the SDK is not
loaded (checked). On installs what ``nexthop`` installs when OTEL_EXPORTER_OTLP_ENDPOINT
is set (`install_otlp`: SDK provider, batch processor, OTLP/HTTP exporter), pointed at a
receiver in a child process; each step then makes a chat, an execute_tool and the MCP
SDK's client span. The global provider can be set only once, so off runs first. CPU
time is this process's (the exporter's thread included): on a shared machine the
wall time is mostly waiting for the server process.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio
import mcp
from opentelemetry import trace

from nexthop import AgentHost, ScriptedModel
from nexthop.clients import MCPConnection
from nexthop.host._tracing import install_otlp, tracing_on
from nexthop.models import call
from nexthop.policies import PolicyConfig

NO_POLICIES = PolicyConfig(doom_loop_n=0, pinning=False)  # the loop's own cost, as in bench_host.py
SERVER = mcp.StdioServerParameters(command=sys.executable, args=[str(Path(__file__).with_name("tiny_server.py"))])
SUPPORT = Path(__file__).resolve().parents[1] / "tests" / "support"
# The tests' OTLP receiver, in a child process so its decoding is not counted as this process's CPU time.
RECEIVER = f"""
import sys; sys.path.insert(0, {str(SUPPORT)!r})
from otlp_receiver import otlp_receiver
with otlp_receiver() as r:
    print(r.endpoint, flush=True)
    sys.stdin.read()
    print(len(r.spans), flush=True)
"""


async def per_step(host: AgentHost, calls: int, repeats: int) -> tuple[float, float]:
    """Median wall and CPU time (ms) per step over ``repeats`` runs of ``calls`` steps."""
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = await host.run("echo")
        wall.append((time.perf_counter() - start) / len(result.steps) * 1000)
        cpu.append((time.process_time() - start_cpu) / len(result.steps) * 1000)
        assert len(result.steps) == calls and not any(s.observations[0].is_error for s in result.steps)
    return statistics.median(wall), statistics.median(cpu)


async def main(calls: int, repeats: int, endpoint: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Per-step (wall, CPU) ms with tracing off, then on, exporting to ``endpoint``."""
    counter = itertools.count()
    model = ScriptedModel(itertools.repeat(lambda _: call("tiny__echo", text=f"hello {next(counter)}")))
    server = MCPConnection("tiny", SERVER)
    async with AgentHost(model=model, servers=[server], max_steps=calls, policy=NO_POLICIES) as host:
        await host.run("warm up")
        off = await per_step(host, calls, repeats)
        assert not any(m.startswith("opentelemetry.sdk") for m in sys.modules), "the SDK loaded with tracing off"
        assert install_otlp({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}) and tracing_on()
        on = await per_step(host, calls, repeats)
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]  # the SDK's provider
    return off, on


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert receiver.stdout is not None
    try:
        off, on = anyio.run(main, args.calls, args.repeats, receiver.stdout.readline().decode().strip())
    finally:
        received, _ = receiver.communicate(timeout=30)
    spans = int(received.split()[-1])
    print(f"per step over stdio ({args.calls} steps, median of {args.repeats} runs), wall / this process's CPU:")
    print(f"  tracing off: {off[0]:.2f} ms / {off[1]:.2f} ms")
    print(f"  tracing on, OTLP/HTTP to a local receiver: {on[0]:.2f} ms / {on[1]:.2f} ms")
    print(f"  overhead: {on[0] - off[0]:+.2f} ms wall ({on[0] / off[0]:.2f}x), {on[1] - off[1]:+.2f} ms CPU per step")
    print(f"  spans received: {spans} ({spans / (args.calls * args.repeats):.1f} per step)")
