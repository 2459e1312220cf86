"""The tool-synthesis sandbox's start-up cost per call (ms).

Run: python benchmarks/bench_sandbox.py [--calls 20]

1. Once per process: finding the runtime's mounts (the stdlib's extension modules and
   one ``ldd`` over them).
2. Per call, a function that returns at once, so the time is the sandbox's:
   - bare: the same interpreter and runner as a plain child process, no sandbox
     (what any process-per-call design pays);
   - sandboxed: `run_sandboxed` (bwrap, namespaces, mounts, limits, JSON over pipes).
   The difference is bubblewrap's share; a new network namespace is most of it.
3. Per call, hashing a 1 MiB argument (hashlib), to show arguments crossing the pipe.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from importlib import resources

import anyio

from nexthop.host._sandbox import run_sandboxed
from nexthop.host._sandbox_mounts import runtime_mounts

TRIVIAL = "def f():\n    return 1\n"
HASH = "import hashlib\ndef f(data):\n    return hashlib.sha256(data.encode()).hexdigest()\n"


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"median {statistics.median(samples) * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms   (n={len(samples)})"


def bare(calls: int) -> list[float]:
    """The runner as a plain child process (our own trivial function; no model code runs here)."""
    runner = resources.files("nexthop.host").joinpath("_sandbox_runner.py").read_text(encoding="utf-8")
    request = {
        "source": TRIVIAL,
        "function": "f",
        "arguments": {},
        "limits": {"cpu_s": 10, "memory_bytes": 1 << 30, "processes": 4096, "open_files": 64, "file_bytes": 1 << 26},
    }
    out: list[float] = []
    for _ in range(calls):
        start = time.perf_counter()
        cmd = [runtime_mounts().executable, "-I", "-S", "-B", "-X", "utf8", "-c", runner]
        subprocess.run(cmd, input=json.dumps(request).encode(), capture_output=True, check=True)
        out.append(time.perf_counter() - start)
    return out


async def sandboxed(calls: int, source: str, arguments: dict[str, str]) -> list[float]:
    out: list[float] = []
    for _ in range(calls):
        start = time.perf_counter()
        outcome = await run_sandboxed(source, "f", arguments)
        assert outcome.kind == "returned", outcome
        out.append(time.perf_counter() - start)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    start = time.perf_counter()
    mounts = runtime_mounts()
    print(f"runtime mounts, once per process: {(time.perf_counter() - start) * 1000:.0f} ms, {len(mounts.binds)} binds")
    await sandboxed(2, TRIVIAL, {})  # warm the page cache
    plain = bare(args.calls)
    boxed = await sandboxed(args.calls, TRIVIAL, {})
    print(f"bare child process : {_ms(plain)}")
    print(f"sandboxed call     : {_ms(boxed)}")
    print(f"sandbox start-up   : {(statistics.median(boxed) - statistics.median(plain)) * 1000:.1f} ms per call")
    big = await sandboxed(args.calls, HASH, {"data": "x" * (1 << 20)})
    print(f"sha256 of 1 MiB arg: {_ms(big)}")
    print(f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    anyio.run(main)
