"""Transient-failure handling on a flaky real server: with and without it (issue 13).

A persistent scripted agent does ``ft_reverse_lines`` of the task benchmark through its real
fault proxy (each call fails with p = 0.5, seeded, "temporary fault ... Nothing was
changed") in front of the real filesystem server. It retries a failed call unchanged, as the
error invites, and otherwise reads, writes, checks and finishes. The only difference between
the two variants is ``PolicyConfig.transient_retries``: 5 (the default: transient failures are
excused and backed off) or 0 (every failure counts toward a doom loop). The model is scripted
so that the figure measures the policy, not the model; the embedded model's figures come
from ``benchmarks/tasks`` (``--category failing_tools``).

    python benchmarks/bench_transient_retries.py --seeds 20

Measured on 2 shared cores (20 seeds each; before issue 13's doom loop: 15/20, 5 doom_loop stops):

    transient_retries=0  success 17/20  stops {'completed': 17, 'doom_loop': 3}
    transient_retries=5  success 20/20  stops {'completed': 20}  backoff waited 58 s in all
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.tasks._agents import RunOptions, _servers  # pyright: ignore[reportPrivateUsage]  # noqa: E402
from benchmarks.tasks._failing import FAILING_TOOLS  # noqa: E402

from nexthop import AgentHost, ModelRequest, ModelResponse, PolicyConfig, ScriptedModel  # noqa: E402
from nexthop.models import call, finish  # noqa: E402

TASK = next(t for t in FAILING_TOOLS if t.id == "ft_reverse_lines")
PLAN = (
    call("fs__read_text_file", path="lines.txt"),
    call("fs__write_file", path="reversed.txt", content="delta\ncharlie\nbravo\nalpha\n"),
    call("fs__read_text_file", path="reversed.txt"),
    finish("reversed.txt written"),
)


def persistent(request: ModelRequest) -> ModelResponse:
    """The next step of the plan once the last call succeeded; the same call again after a failure."""
    done = sum(1 for s in request.trajectory.steps if s.observations and not s.observations[0].is_error)
    return PLAN[min(done, len(PLAN) - 1)]


async def run_once(retries: int, seed: int) -> dict[str, Any]:
    """One run in a fresh workspace: did it leave the right file and finish, and how did it end."""
    root = Path(tempfile.mkdtemp(prefix="nexthop-transient-"))
    workspace = root / "work"
    workspace.mkdir()
    TASK.setup(workspace)
    policy = PolicyConfig(pin_file=root / "pins.json", narrow_tools_over=None, transient_retries=retries)
    model = ScriptedModel(persistent for _ in range(100))
    servers = _servers(TASK, workspace, RunOptions(seed=seed))
    async with AgentHost(model=model, servers=servers, policy=policy, max_steps=15) as host:
        result = await host.run(TASK.prompt)
    waited = sum(r.data["wait_s"] for s in result.steps for r in s.records if r.event == "backoff")
    passed = result.termination.kind == "completed" and TASK.check(workspace) is None
    return {"passed": passed, "stop": result.termination.kind, "steps": len(result.steps), "waited_s": waited}


async def main(seeds: int) -> None:
    """Run every seed with both settings and print one line per setting."""
    for retries in (0, 5):
        rows = [await run_once(retries, seed) for seed in range(seeds)]
        stops = dict(collections.Counter(r["stop"] for r in rows))
        passed = sum(r["passed"] for r in rows)
        waited = sum(r["waited_s"] for r in rows)
        print(f"transient_retries={retries}  success {passed}/{seeds}  stops {stops}  backoff waited {waited:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="fault-proxy seeds per setting")
    anyio.run(main, parser.parse_args().seeds)
