"""Probabilistic abandonment on a task whose only tool fails half the time.

Run: python benchmarks/bench_abandonment.py [--runs 100] [--successes 3] [--max-steps 30] [--seed 2504]

The task needs ``--successes`` successful calls of ``fault__flaky`` (which fails with
probability 0.5, like the failing-tool category of Autono's experiments, arXiv
2504.04650); the scripted model calls it until it has them, then finishes. Each
personality runs ``--runs`` runs; run *i* gets the same server seed and the same
abandonment seed under every personality (drawn from one master seed), so the
personalities face the same failures and differ only by ``p0`` and ``beta``. Doom-loop
detection is off so that abandonment alone decides (three identical "flaky failure"
errors in a row would otherwise be a loop). ``off`` (no abandonment) is the baseline.

Prints, per personality, the share of runs completed, the mean steps over all runs and
over completed runs, and how the runs ended. Everything is in memory; no model is asked.
"""

from __future__ import annotations

import argparse
import collections
import logging
import random
import statistics
import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "support"))
from fault_server import make_fault_server  # noqa: E402

from nexthop import AgentHost, ModelRequest, ModelResponse, RunResult, ScriptedModel  # noqa: E402
from nexthop.clients import (  # noqa: E402
    MCPConnection,  # noqa: E402
    call,
    finish,
)
from nexthop.policies import PolicyConfig  # noqa: E402

PERSONALITIES: dict[str, str | None] = {"prudent": "prudent", "inquisitive": "inquisitive", "off": None}


def persistent_model(successes: int, max_steps: int) -> ScriptedModel:
    def next_action(request: ModelRequest) -> ModelResponse:
        steps = request.trajectory.steps
        done = sum(not o.is_error for s in steps for o in s.observations)
        return finish(f"{done} successes") if done >= successes else call("fault__flaky", x=len(steps))

    return ScriptedModel([next_action] * (max_steps + 1))


async def one_run(personality: str | None, server_seed: int, policy_seed: int, args: argparse.Namespace) -> RunResult:
    server = MCPConnection("fault", make_fault_server(fail_rate=0.5, seed=server_seed))
    policy = PolicyConfig(abandonment=personality, abandonment_seed=policy_seed, doom_loop_n=0)
    model = persistent_model(args.successes, args.max_steps)
    async with AgentHost(model=model, servers=[server], policy=policy, max_steps=args.max_steps) as host:
        return await host.run(f"get {args.successes} answers from flaky")


async def main(args: argparse.Namespace) -> None:
    master = random.Random(args.seed)
    seeds = [(master.randrange(2**32), master.randrange(2**32)) for _ in range(args.runs)]
    print(
        f"{args.runs} runs each; flaky fails with p=0.5; {args.successes} successes needed; "
        f"max_steps {args.max_steps}; master seed {args.seed}"
    )
    print(f"{'personality':<12} {'completed':>9} {'mean steps':>10} {'(completed)':>11}  endings")
    for label, personality in PERSONALITIES.items():
        results = [await one_run(personality, s, p, args) for s, p in seeds]
        completed = [r for r in results if r.status == "completed"]
        endings = collections.Counter(r.termination.kind for r in results)
        mean_done = statistics.mean(len(r.steps) for r in completed) if completed else float("nan")
        print(
            f"{label:<12} {len(completed) / len(results):>9.0%} {statistics.mean(len(r.steps) for r in results):>10.2f}"
            f" {mean_done:>11.2f}  {dict(endings)}"
        )


if __name__ == "__main__":
    logging.getLogger("mcp.server").setLevel(logging.CRITICAL)  # the tool's failures are the point
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--successes", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2504)
    anyio.run(main, parser.parse_args())
