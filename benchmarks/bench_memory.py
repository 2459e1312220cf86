"""Long-term memory measured: the task benchmark's tasks run twice, the second time with memory on and off.

Run (from the repository root)::

    python -m benchmarks.bench_memory --model local                 # the recovery tasks (traps), 3 passes
    python -m benchmarks.bench_memory --model local --task rc_wrong_file_name --task rc_wrong_extension
    python -m benchmarks.bench_memory --dry                         # the plumbing, with an oracle model
    python -m benchmarks.bench_memory --overhead 500                # ms a run start spends recalling

Three passes over the same tasks, each run in a fresh workspace with fresh servers and
judged by the state it leaves (as ``python -m benchmarks.tasks``), all recorded in one run
store (a fresh SQLite file, or ``--store URL``):

1. **first**: memory off. The recovery tasks' prompts are traps (a wrong file name, a
   missing folder, a wrong table), so some first attempts fail on them.
2. **memory on**: each task again, with recall on: its first attempt (and any similar
   run before it) is offered to the model, with what failed and what worked.
3. **memory off**: each task again without memory: what a second try alone gives.

Pass 3 comes last so that pass 2 recalls only first attempts (and its own earlier runs).
Prints success and steps per pass and per task; ``--json OUT`` keeps every run.

``--dry`` checks the machinery end to end without a language model: an oracle that walks
into the trap unless the earlier run's failure is in its first message, and then takes
the right path (tool narrowing is off for it, so that every tool it names is on offer).
It measures nothing about a model; it proves the memory reaches it.

``--overhead N`` fills a fresh store with N finished runs (a scripted model, the
benchmark's prompts) and times the search a run with memory on starts with.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
from benchmarks.tasks._agents import RunOptions, SharedModel
from benchmarks.tasks._agents import _servers as task_servers  # pyright: ignore[reportPrivateUsage]
from benchmarks.tasks.tasks import CATEGORIES, Task, select

from nexthop import AgentHost, Model, ModelRequest, ModelResponse, PolicyConfig, model_from_string
from nexthop._recalled import RecallConfig
from nexthop.host._store import RunStore, StoreConfig
from nexthop.models._scripted import call, finish

PASSES = ("first", "memory_on", "memory_off")


@dataclass(frozen=True)
class Row:
    """One run of one task in one pass.

    Attributes:
        task: The task's id.
        run: Which pass (`PASSES`).
        passed: The task's check accepted the workspace the run left.
        problem: What the check found wrong (empty when passed).
        stop: The run's termination kind (``crash`` when the runner caught an exception).
        steps: Model turns (steps).
        wall_s: Wall time of the run (seconds).
        tokens: Input plus output tokens (tokens).
        recalled: The earlier runs offered, ``run_id:score`` each.
    """

    task: str
    run: str
    passed: bool
    problem: str
    stop: str
    steps: int
    wall_s: float
    tokens: int
    recalled: tuple[str, ...]


class DryModel(Model):
    """An oracle for ``--dry``: the trap unless memory shows the earlier failure, else the right path.

    Args:
        plans: Per task prompt, the trap's calls and the right calls (then ``finish``).
    """

    name = "dry-oracle"

    def __init__(self, plans: dict[str, tuple[list[ModelResponse], list[ModelResponse]]]) -> None:
        self.plans = plans

    async def request(self, request: ModelRequest) -> ModelResponse:
        """The next action of the trap or of the right path, by step."""
        trajectory = request.trajectory
        trap, right = self.plans[trajectory.task]
        # What the model reads, not the typed field: an earlier failure, or an error an earlier call returned.
        message = trajectory.task_message()
        warned = "failed:" in message or "error" in message.lower()
        path = right if warned else trap
        index = len(trajectory.steps)
        if index < len(path):
            return path[index]
        return finish("done" if warned else "I could not find it")


_NOTES = "Decisions:\n- ship on Friday\n- hire a designer\n"
_DRY: dict[str, tuple[list[ModelResponse], list[ModelResponse]]] = {
    "rc_wrong_file_name": (
        [call("fs__read_text_file", path="meeting-notes.txt")],
        [
            call("fs__read_text_file", path="meeting_notes.txt"),
            call("fs__write_file", path="summary.txt", content=_NOTES),
        ],
    ),
    "rc_wrong_extension": (
        [call("fs__read_text_file", path="shopping_list.md")],
        [call("fs__write_file", path="shopping_list.txt", content="eggs\nbread\nmilk\n")],
    ),
    "rc_wrong_table_name": (
        [call("db__write_query", query="INSERT INTO city VALUES ('Oslo', 'Norway')")],
        [call("db__write_query", query="INSERT INTO cities VALUES ('Oslo', 'Norway')")],
    ),
}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_memory", description=(__doc__ or "").split("\n")[0])
    p.add_argument("--model", default=None, help="any nexthop model string (required unless --dry)")
    p.add_argument("--dry", action="store_true", help="an oracle model on three recovery tasks: checks the plumbing")
    p.add_argument("--category", action="append", choices=CATEGORIES, help="default: recovery (repeatable)")
    p.add_argument("--task", action="append", help="only this task id (repeatable)")
    p.add_argument("--limit", type=int, help="at most N tasks per category")
    p.add_argument("--max-steps", type=int, default=15, help="step budget per run (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=900.0, help="wall-time cap per run, seconds")
    p.add_argument("--store", help="run store URL (default: a fresh SQLite file in a temporary folder)")
    p.add_argument("--json", dest="json_out", help="write every run and the summary to this file")
    p.add_argument("--overhead", type=int, metavar="N", help="time recall over a store of N runs, and exit")
    args = p.parse_args(argv)
    if not args.dry and not args.model and not args.overhead:
        p.error("give --model (e.g. local) or --dry")
    return args


async def _attempt(task: Task, model: Model, store: RunStore, options: RunOptions, recall: bool, run: str) -> Row:
    """One run of ``task`` in a fresh workspace with fresh servers, recorded in ``store``, judged by its state."""
    root = Path(tempfile.mkdtemp(prefix=f"nexthop-memory-{task.id}-"))
    workspace = root / "work"
    workspace.mkdir()
    task.setup(workspace)
    policy = PolicyConfig(pin_file=root / "pins.json", max_wall_time_s=options.timeout_s)
    if isinstance(model, SharedModel) and isinstance(model.inner, DryModel):
        policy = policy.model_copy(update={"narrow_tools_over": None})  # the oracle's calls need every tool offered
    start = time.perf_counter()
    try:
        servers = task_servers(task, workspace, options)
        async with AgentHost(
            model=model, servers=servers, max_steps=options.max_steps, policy=policy, store=store
        ) as h:
            result = await h.run(task.prompt, recall=RecallConfig() if recall else False)
        stop, steps, tokens = result.termination.kind, len(result.steps), result.usage.total_tokens
        recalled = tuple(f"{r.run_id}:{r.score:.2f}" for r in result.trajectory.recalled)
    except Exception as e:  # a crashed run is a failed task; the benchmark goes on
        print(f"  {task.id}: {type(e).__name__}: {e}", file=sys.stderr)
        stop, steps, tokens, recalled = "crash", 0, 0, ()
    problem = task.check(workspace) or ""
    shutil.rmtree(root, ignore_errors=True)
    wall = round(time.perf_counter() - start, 2)
    return Row(task.id, run, not problem, problem, stop, steps, wall, tokens, recalled)


async def _measure(tasks: Sequence[Task], model: Model, url: str, options: RunOptions) -> list[Row]:
    rows: list[Row] = []
    async with RunStore(StoreConfig(url)) as store:
        for run in PASSES:
            for task in tasks:
                row = await _attempt(task, model, store, options, recall=run == "memory_on", run=run)
                rows.append(row)
                verdict = "PASS" if row.passed else f"FAIL {row.problem[:80]}"
                print(
                    f"[{len(rows)}/{len(tasks) * len(PASSES)}] {run:<10} {task.id:<24} {row.steps:>2} steps "
                    f"{row.wall_s:>6.1f} s ({row.stop}) recalled {len(row.recalled)}  {verdict}",
                    file=sys.stderr,
                    flush=True,
                )
    return rows


def summarize(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Per pass: tasks, passed, success rate, median and mean steps, and runs that recalled something."""
    out: list[dict[str, Any]] = []
    for run in PASSES:
        group = [r for r in rows if r.run == run]
        if not group:
            continue
        out.append(
            {
                "run": run,
                "tasks": len(group),
                "passed": sum(r.passed for r in group),
                "success": round(sum(r.passed for r in group) / len(group), 3),
                "median_steps": statistics.median(r.steps for r in group),
                "mean_steps": round(statistics.mean(r.steps for r in group), 2),
                "recalled_runs": sum(bool(r.recalled) for r in group),
            }
        )
    return out


def _table(rows: Sequence[Row]) -> str:
    lines = [f"{'pass':<11} {'success':>10} {'med steps':>9} {'mean steps':>10} {'recalled':>8}"]
    for s in summarize(rows):
        rate = f"{s['passed']}/{s['tasks']}"
        lines.append(
            f"{s['run']:<11} {rate:>10} {s['median_steps']:>9g} {s['mean_steps']:>10.2f} {s['recalled_runs']:>8}"
        )
    lines.append("")
    lines.append(f"{'task':<26} " + " ".join(f"{p:>12}" for p in PASSES))
    for task in dict.fromkeys(r.task for r in rows):
        cells = {r.run: f"{'ok' if r.passed else 'FAIL'} {r.steps:>2} st" for r in rows if r.task == task}
        lines.append(f"{task:<26} " + " ".join(f"{cells.get(p, '-'):>12}" for p in PASSES))
    return "\n".join(lines)


async def _overhead(count: int, url: str) -> str:
    """Fill the store with ``count`` finished runs, then time recall against it (ms, median of 9)."""
    from benchmarks.tasks.tasks import TASKS

    from nexthop import ScriptedModel
    from nexthop.host._recall import _search  # pyright: ignore[reportPrivateUsage] - the search, outside a run

    model = ScriptedModel([call("nothing", path="x.txt")] * count)  # an unknown tool: an error to digest
    prompts = [f"{TASKS[i % len(TASKS)].prompt} (#{i})" for i in range(count)]
    async with RunStore(StoreConfig(url, keep_runs=count + 10)) as store:
        async with AgentHost(model=model, store=store, max_steps=1) as host:
            t0 = time.perf_counter()
            for prompt in prompts:
                await host.run(prompt)
            fill = (time.perf_counter() - t0) / count * 1000
        times: list[float] = []
        found = 0
        for prompt in [t.prompt for t in TASKS[:9]]:
            t0 = time.perf_counter()
            found += len(await _search(prompt, RecallConfig(), exclude=None))
            times.append((time.perf_counter() - t0) * 1000)
    return (
        f"{count} runs in the store ({fill:.1f} ms per 1-step run to record): recall takes "
        f"{statistics.median(times):.1f} ms median, {max(times):.1f} ms max ({found} digests for 9 queries)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the three passes and print the table; exit 0 when they ran (whatever the success), 2 on bad arguments."""
    args = _parse(argv)
    if args.overhead:
        with tempfile.TemporaryDirectory(prefix="nexthop-memory-store-") as folder:
            print(anyio.run(_overhead, args.overhead, args.store or f"sqlite:///{Path(folder) / 'runs.sqlite'}"))
        return 0
    categories = set(args.category or ["recovery"])
    ids = set(args.task or (_DRY if args.dry else ()))
    tasks = select(categories, args.limit, ids)
    if not tasks:
        print("no task matches", file=sys.stderr)
        return 2
    model: Model = DryModel({t.prompt: _DRY[t.id] for t in tasks}) if args.dry else model_from_string(args.model)
    shared = SharedModel(model)
    options = RunOptions(max_steps=args.max_steps, timeout_s=args.timeout)
    with tempfile.TemporaryDirectory(prefix="nexthop-memory-store-") as folder:
        url = args.store or f"sqlite:///{Path(folder) / 'runs.sqlite'}"
        started = time.perf_counter()
        try:
            rows = anyio.run(_measure, tasks, shared, url, options)
        finally:
            anyio.run(shared.close)
    print(_table(rows))
    if args.json_out:
        meta = {
            "model": "dry" if args.dry else args.model,
            "tasks": [t.id for t in tasks],
            "max_steps": args.max_steps,
            "wall_s": round(time.perf_counter() - started, 1),
            "recall": RecallConfig().model_dump(),
        }
        report = {"meta": meta, "summary": summarize(rows), "runs": [asdict(r) for r in rows]}
        Path(args.json_out).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
