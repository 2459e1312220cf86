"""Run the task benchmark and print success, steps, seconds and tokens per category.

Usage (from the repository root)::

    python -m benchmarks.tasks                              # every task, nexthop, embedded model
    python -m benchmarks.tasks --agent both --limit 3 --json out.json
    python -m benchmarks.tasks --model anthropic:claude-sonnet-4-5 --category one_step

Each task runs in a fresh temporary workspace with fresh servers and is judged only by the
state it leaves (files, rows). A progress line per run goes to stderr; the table to stdout.
The ReAct baseline needs a llama.cpp model (``local`` or ``local:<path.gguf>``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio
from benchmarks.tasks._agents import AgentName, Outcome, RunOptions, SharedModel, count_tools, run_task
from benchmarks.tasks._many import SETUP_SCRIPT
from benchmarks.tasks._repack import disable_repack, repack_faults
from benchmarks.tasks.tasks import CATEGORIES, Task, select

from nexthop import DEFAULT_MODEL, PolicyConfig, model_from_string

__all__ = ["main", "summarize"]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tasks", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="any nexthop model string (default: %(default)s)")
    p.add_argument("--agent", choices=["nexthop", "react", "both"], default="nexthop")
    p.add_argument("--category", action="append", choices=CATEGORIES, help="only this category (repeatable)")
    p.add_argument("--task", action="append", help="only this task id (repeatable)")
    p.add_argument("--limit", type=int, help="at most N tasks per category (the first N: a stable subset)")
    p.add_argument(
        "--tools",
        choices=["whole", "curated", "many"],
        default="whole",
        help="whole tool sets (20), a hand-picked 7, or many: five more real servers (60+; installs them once)",
    )
    p.add_argument("--max-steps", type=int, default=15, help="step budget for both agents (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="base seed of the fault proxy (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=900.0, help="wall-time cap per run, seconds")
    p.add_argument(
        "--no-retry-handling",
        dest="retry_handling",
        action="store_false",
        help="nexthop without its transient-failure handling (host retries, the doom-loop excuse): the 'before' figure",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=0,
        metavar="N",
        help="nexthop only: run a task again up to N times when it stops early, with a reflection (default: 0)",
    )
    p.add_argument(
        "--narrow-tools",
        type=_narrow_tools,
        default="default",
        metavar="N|off",
        help="nexthop only: narrow the tools on offer past N tools, or never (default: nexthop's own, 12)",
    )
    p.add_argument(
        "--policy",
        action="append",
        type=_policy_setting,
        default=[],
        metavar="KEY=VALUE",
        help="nexthop only: a PolicyConfig field for every run, VALUE as JSON (repeatable; e.g. redraws=3)",
    )
    p.add_argument("--json", dest="json_out", help="write every outcome and the summary to this file")
    p.add_argument("--no-repack", dest="repack", action="store_const", const="off", help=argparse.SUPPRESS)
    p.add_argument("--resume", action="store_true", help="keep the runs already in --json's file and do the rest")
    p.add_argument("--keep", action="store_true", help="keep the workspaces for inspection")
    p.add_argument("--list", action="store_true", help="list the tasks and exit")
    p.add_argument("--show", metavar="JSON", help="print the table of a results file and exit")
    p.add_argument(
        "--repack",
        choices=["auto", "on", "off"],
        default="auto",
        help="llama.cpp weight repacking (AMX): off for CPUs that advertise AMX but fault on it; auto probes "
        "once in a child process (default: %(default)s)",
    )
    return p.parse_args(argv)


def _policy_setting(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or key not in PolicyConfig.model_fields:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a PolicyConfig field, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a bare string, e.g. an abandonment personality


def summarize(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """Per agent and category: success rate, median steps, seconds and tokens per step.

    Seconds and tokens per step are totals over the group's runs divided by their steps;
    ``tokens_per_step`` counts prompt tokens evaluated plus generated ones (KV-cache reuse
    excluded): the cost. ``prompt_tokens_per_step`` counts the whole prompt, evaluated or
    reused from a cache: how much the tools on offer take up (7 / 20 / 60+ tools).
    ``false_done`` counts runs that ended ``completed`` (the model called ``finish`` and
    said the task was done) while the state check failed; ``gave_up`` counts runs whose
    ``finish`` reported the task not done, and ``gave_up_passed`` those of them whose
    state passed anyway: how far the model's own verdict can be trusted.
    """
    rows: list[dict[str, Any]] = []
    for agent in ("nexthop", "react"):
        for category in (*CATEGORIES, "all"):
            group = [o for o in outcomes if o.agent == agent and category in (o.category, "all")]
            if not group:
                continue
            stepped = [o for o in group if o.steps]  # a run cut off before its first step has no per-step cost
            steps = sum(o.steps for o in stepped) or 1
            rows.append(
                {
                    "agent": agent,
                    "category": category,
                    "tasks": len(group),
                    "passed": sum(o.passed for o in group),
                    "success": round(sum(o.passed for o in group) / len(group), 3),
                    "median_steps": statistics.median(o.steps for o in group),
                    "s_per_step": round(sum(o.wall_s for o in stepped) / steps, 2),
                    "tokens_per_step": round(sum(o.input_tokens + o.output_tokens for o in stepped) / steps, 1),
                    "prompt_tokens_per_step": round(
                        sum(o.input_tokens + o.cached_input_tokens for o in stepped) / steps, 1
                    ),
                    "output_tokens_per_step": round(sum(o.output_tokens for o in stepped) / steps, 1),
                    "false_done": sum(o.stop == "completed" and not o.passed for o in group),
                    "gave_up": sum(o.stop == "gave_up" for o in group),
                    "gave_up_passed": sum(o.stop == "gave_up" and o.passed for o in group),
                }
            )
    return rows


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def _table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        f"{'agent':<8} {'category':<14} {'success':>12} {'med steps':>9} {'s/step':>7} {'tok/step':>9} "
        f"{'out/step':>9} {'prompt/step':>11} {'false done':>10} {'gave up':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        rate = f"{r['passed']}/{r['tasks']} {100 * r['success']:.0f}%"
        lines.append(
            f"{r['agent']:<8} {r['category']:<14} {rate:>12} {r['median_steps']:>9g} {r['s_per_step']:>7.1f} "
            f"{r['tokens_per_step']:>9.0f} {r['output_tokens_per_step']:>9.0f} "
            f"{r['prompt_tokens_per_step']:>11.0f} {r['false_done']:>10} {r['gave_up']:>7}"
        )
    return "\n".join(lines)


async def _load(agent: AgentName, spec: str) -> Any:
    if agent == "nexthop":
        return SharedModel(model_from_string(spec))
    if spec == "local" or spec.startswith(("local:", "local?")):
        from llama_cpp import Llama

        from nexthop.models._llama import LlamaCppModel
        from nexthop.models._weights import ensure_embedded_model

        # The same file, context and threads nexthop's model gets from the same string.
        twin = model_from_string(spec)
        assert isinstance(twin, LlamaCppModel)
        path = twin.model_path or ensure_embedded_model()

        def load() -> Llama:
            return Llama(model_path=str(path), n_ctx=twin.n_ctx, n_threads=twin.n_threads, seed=0, verbose=False)

        return await anyio.to_thread.run_sync(load)
    raise SystemExit(f"the react baseline runs on llama.cpp models only (local or local:<path.gguf>), not {spec!r}")


async def _run(
    tasks: Sequence[Task],
    agents: Sequence[AgentName],
    model: str,
    options: RunOptions,
    save: Callable[[Sequence[Outcome]], None],
    done: Sequence[Outcome] = (),
) -> list[Outcome]:
    brains = {agent: await _load(agent, model) for agent in agents}
    outcomes: list[Outcome] = list(done)
    skip = {(o.task, o.agent) for o in done}
    total = len(tasks) * len(agents)
    try:
        for task in tasks:
            for agent in agents:  # one task at a time, both agents back to back: same machine load
                if (task.id, agent) in skip:
                    continue
                outcome = await run_task(task, agent, brains[agent], options)
                outcomes.append(outcome)
                save(outcomes)  # after every run, so a benchmark cut short still leaves its figures
                verdict = "PASS" if outcome.passed else f"FAIL {outcome.problem[:100]}"
                print(
                    f"[{len(outcomes)}/{total}] {agent:<7} {task.id:<24} {outcome.steps:>2} steps "
                    f"{outcome.wall_s:>6.1f} s ({outcome.stop})  {verdict}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        nexthop_model = brains.get("nexthop")
        if isinstance(nexthop_model, SharedModel):
            await nexthop_model.close()
    return outcomes


def _tools_on_offer(tasks: Sequence[Task], options: RunOptions) -> tuple[int, dict[str, int]]:
    """Install ``--tools many``'s servers if asked, then count and print the tools on offer.

    Counted on the first task without faults: the fault proxy forwards tools only, so behind
    it the ``list_resources``/``read_resource`` tools nexthop adds for servers with resources
    are missing, and so are the everything server's tools that need client features (with
    ``many``: 57 of 67).

    Raises:
        SystemExit: The set-up script failed, or a server did not start.
    """
    if options.tools == "many":
        if subprocess.run(["bash", str(SETUP_SCRIPT)], stdout=sys.stderr).returncode != 0:
            raise SystemExit(f"{SETUP_SCRIPT.name} failed: the servers of --tools many are not installed")
    sample = next((t for t in tasks if not t.faults), tasks[0])
    try:
        total, per_server, line = anyio.run(count_tools, sample, options)
    except Exception as e:  # a benchmark short of a server measures nothing
        raise SystemExit(f"a server did not start: {type(e).__name__}: {e}") from e
    print(line, file=sys.stderr, flush=True)
    return total, per_server


def _narrow_tools(value: str) -> int | Literal["default"] | None:
    """``--narrow-tools``: a tool count of at least 1, ``off`` or ``default`` (argparse converts the default too)."""
    if value == "off":
        return None
    if value == "default":
        return "default"
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a tool count of at least 1 or 'off', got {value!r}")
    return count


def _choose_no_repack(setting: str, model: str) -> bool:
    if not model.startswith("local") or setting == "on":
        return False
    if setting == "auto" and not repack_faults(model.removeprefix("local").removeprefix(":")):
        return False
    why = "as asked" if setting == "off" else "this CPU faults on AMX"
    print(f"llama.cpp: loading without weight repacking ({why})", file=sys.stderr)
    disable_repack()
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 0 when it ran (whatever the success rates), 2 on bad arguments."""
    args = _parse(argv)
    if args.show:
        report = json.loads(Path(args.show).read_text(encoding="utf-8"))
        print(_table(summarize([Outcome(**o) for o in report["outcomes"]])))
        return 0
    tasks = select(set(args.category or ()), args.limit, set(args.task or ()))
    if args.list:
        for t in tasks:
            print(f"{t.category:<14} {t.id:<26} {t.prompt}")
        return 0
    if not tasks:
        print("no task matches", file=sys.stderr)
        return 2
    agents: list[AgentName] = ["nexthop", "react"] if args.agent == "both" else [args.agent]
    options = RunOptions(
        max_steps=args.max_steps,
        tools=args.tools,
        seed=args.seed,
        timeout_s=args.timeout,
        keep=args.keep,
        retry_handling=args.retry_handling,
        retries=args.retries,
        narrow_tools=args.narrow_tools,
        policy=tuple(args.policy),
    )
    tools_on_offer, tools_per_server = _tools_on_offer(tasks, options)
    no_repack = _choose_no_repack(args.repack, args.model)
    started = datetime.now(UTC)
    t0 = time.perf_counter()

    def save(outcomes: Sequence[Outcome]) -> None:
        if not args.json_out:
            return
        meta = {
            "model": args.model,
            "agents": agents,
            "tools": args.tools,
            "retry_handling": args.retry_handling,
            "retries": args.retries,
            "narrow_tools": args.narrow_tools,
            "policy": dict(args.policy),
            "tools_on_offer": tools_on_offer,
            "tools_per_server": tools_per_server,
            "max_steps": args.max_steps,
            "seed": args.seed,
            "limit": args.limit,
            "categories": args.category or list(CATEGORIES),
            "started": started.isoformat(timespec="seconds"),
            "wall_s": round(time.perf_counter() - t0, 1),
            "machine": f"{platform.machine()}, {platform.python_version()}, {_cpus()} CPUs",
            "no_repack": no_repack,
            "runs_done": len(outcomes),
            "runs_planned": len(tasks) * len(agents),
        }
        with open(args.json_out, "w", encoding="utf-8") as f:
            report = {"meta": meta, "summary": summarize(outcomes), "outcomes": [o.to_json() for o in outcomes]}
            json.dump(report, f, indent=1)

    done: list[Outcome] = []
    if args.resume and args.json_out and Path(args.json_out).is_file():
        done = [Outcome(**o) for o in json.loads(Path(args.json_out).read_text(encoding="utf-8"))["outcomes"]]
    outcomes = anyio.run(_run, tasks, agents, args.model, options, save, done)
    print(_table(summarize(outcomes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
