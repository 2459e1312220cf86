"""The cost of delegating a task to ``nexthop serve``, and 50 concurrent runs over HTTP.

Run: python benchmarks/bench_serve.py [--calls 30] [--concurrent 50]

1. Delegation overhead: a no-op task (the scripted model calls ``tiny__echo`` once,
   then ``finish``) handed to a ``nexthop serve`` subprocess with ``run_task``, over
   stdio and over streamable HTTP; against ``host.run`` of the same script on an
   in-process host with the same tiny server. Median of N calls each (after a
   warm-up call). Target: overhead <= 20 ms per task.
2. Concurrency: N concurrent ``run_task`` calls over HTTP from one client, in one
   task group. Errors (must be 0), p50 and p95 latency, p95/p50 (target <= 2), and
   the server's RSS growth over the burst divided by N.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import mcp
import psutil

from nexthop import AgentHost, ScriptedModel
from nexthop._config_file import load_config

TINY = Path(__file__).with_name("tiny_server.py")
NEXTHOP = str(Path(sys.executable).with_name("nexthop"))
SCRIPT = [
    {"tool": "tiny__echo", "arguments": {"text": "hello"}},
    {"tool": "finish", "arguments": {"result": "ok"}},
]


def _write_files(folder: Path) -> tuple[Path, Path]:
    """The scripted model's actions and a servers.json with the tiny server."""
    script, config = folder / "actions.json", folder / "servers.json"
    script.write_text(json.dumps(SCRIPT))
    config.write_text(json.dumps({"mcpServers": {"tiny": {"command": sys.executable, "args": [str(TINY)]}}}))
    return script, config


def _serve_args(script: Path, *extra: str) -> list[str]:
    config = script.with_name("servers.json")
    return ["serve", "--model", f"scripted:{script}", "--config", str(config), *extra]


def _check(result: mcp.types.CallToolResult) -> None:
    data: dict[str, Any] = result.structured_content or {}
    if result.is_error or data.get("status") != "completed" or data.get("steps") != 2:
        raise RuntimeError(f"run_task did not complete as scripted: {result}")


async def _timed_calls(client: mcp.Client, calls: int) -> list[float]:
    await client.call_tool("run_task", {"task": "warm up"})  # first call: imports, caches
    times: list[float] = []
    for _ in range(calls):
        start = time.perf_counter()
        result = await client.call_tool("run_task", {"task": "echo hello"})
        times.append((time.perf_counter() - start) * 1000)
        _check(result)
    return times


async def direct(script: Path, calls: int) -> list[float]:
    model = ScriptedModel.from_file(script)
    servers = load_config(script.with_name("servers.json")).servers
    async with AgentHost(model=model, servers=servers) as host:
        await host.run("warm up")
        times: list[float] = []
        for _ in range(calls):
            start = time.perf_counter()
            result = await host.run("echo hello")
            times.append((time.perf_counter() - start) * 1000)
            assert result.status == "completed" and len(result.steps) == 2, result
    return times


async def over_stdio(script: Path, calls: int) -> list[float]:
    params = mcp.StdioServerParameters(command=NEXTHOP, args=_serve_args(script))
    async with mcp.Client(params) as client:
        return await _timed_calls(client, calls)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HTTPServe:
    """A ``nexthop serve --http`` subprocess, started and stopped around a block."""

    def __init__(self, script: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.script = script
        self.proc: anyio.abc.Process | None = None
        self.log = script.with_name(f"serve-{self.port}.log")

    async def __aenter__(self) -> HTTPServe:
        args = _serve_args(self.script, "--http", f"127.0.0.1:{self.port}")
        with self.log.open("wb") as log:
            self.proc = await anyio.open_process([NEXTHOP, *args], stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise RuntimeError(f"nexthop serve --http exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                stream = await anyio.connect_tcp("127.0.0.1", self.port)
            except OSError:
                await anyio.sleep(0.05)
            else:
                await stream.aclose()
                return self
        await self.__aexit__()
        raise RuntimeError(f"nexthop serve --http did not listen on {self.url} within 30 s")

    @property
    def rss_mib(self) -> float:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        children = psutil.Process(self.proc.pid).children(recursive=True)  # its stdio servers
        self.proc.terminate()
        with anyio.move_on_after(10) as waited:
            await self.proc.wait()
        if waited.cancelled_caught:
            self.proc.kill()
            await self.proc.wait()
        _, alive = await anyio.to_thread.run_sync(lambda: psutil.wait_procs(children, timeout=5))
        for child in alive:
            child.kill()


async def over_http(script: Path, calls: int) -> list[float]:
    async with HTTPServe(script) as served, mcp.Client(served.url) as client:
        return await _timed_calls(client, calls)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def burst(client: mcp.Client, served: HTTPServe, n: int) -> str:
    """N concurrent run_task calls; one line of figures, then any errors."""
    latencies: list[float] = []
    errors: list[str] = []
    rss_before = peak = served.rss_mib
    done = anyio.Event()

    async def one(i: int) -> None:
        start = time.perf_counter()
        try:
            _check(await client.call_tool("run_task", {"task": f"echo {i}"}))
            latencies.append((time.perf_counter() - start) * 1000)
        except Exception as e:  # noqa: BLE001 - counted and shown
            errors.append(f"{type(e).__name__}: {e}")

    async def sample_rss() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, served.rss_mib)
            await anyio.sleep(0.005)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(sample_rss)
        async with anyio.create_task_group() as calls:
            for i in range(n):
                calls.start_soon(one, i)
        done.set()
    wall = (time.perf_counter() - start) * 1000
    rss_after = served.rss_mib
    lines = [f"{n} calls in {wall:.0f} ms wall ({n / wall * 1000:.0f} runs/s), errors {len(errors)}"]
    if latencies:
        p50, p95 = _percentile(latencies, 50), _percentile(latencies, 95)
        lines.append(
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p95/p50 {p95 / p50:.2f} "
            f"(min {min(latencies):.1f}, max {max(latencies):.1f})"
        )
    lines.append(
        f"server RSS {rss_before:.1f} -> peak {peak:.1f} -> after {rss_after:.1f} MiB: "
        f"{(peak - rss_before) * 1024 / n:.0f} KiB per concurrent run at peak, "
        f"{(rss_after - rss_before) * 1024 / n:.0f} KiB per run kept"
    )
    lines += [f"error: {e}" for e in errors[:3]]
    return "\n    ".join(lines)


async def concurrent(script: Path, n: int, rounds: int) -> None:
    async with HTTPServe(script) as served, mcp.Client(served.url) as client:
        await client.call_tool("run_task", {"task": "warm up"})
        for r in range(1, rounds + 1):
            print(f"  round {r}: {await burst(client, served, n)}")


async def main(calls: int, n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        script, _ = _write_files(Path(tmp))
        print(f"delegated no-op task (1 tool step + finish), median of {calls} calls:")
        d = statistics.median(await direct(script, calls))
        print(f"  in-process host.run: {d:.2f} ms/task")
        for label, fn in (("stdio", over_stdio), ("HTTP ", over_http)):
            t = statistics.median(await fn(script, calls))
            print(f"  run_task over {label}: {t:.2f} ms/task, overhead {t - d:+.2f} ms")
        print(f"{n} concurrent run_task calls over HTTP (one client):")
        await concurrent(script, n, rounds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    anyio.run(main, args.calls, args.concurrent, args.rounds)
