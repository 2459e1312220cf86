"""The synthesis benchmark: every task with tool synthesis on and off, same model, same run.

Run: ``make bench-synthesis`` or ``python -m benchmarks.synthesis [--limit N] [--task ID]
[--modes on,off] [--max-steps 10] [--timeout 900] [--json FILE]``.

Each task gets a fresh workspace and the filesystem server (read, write, list: three
tools, so that the task is the synthesis and not the choice among tools); ``on`` adds
``create_tool``, whose tools run in the bubblewrap sandbox with the workspace mounted
read-only as their working directory. ``off`` is the static-tools baseline on the same tasks. Printed:
success per mode, tools written per task, revisions per tool, seconds per task.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import anyio
from benchmarks.synthesis.tasks import SYNTHESIS_TASKS
from benchmarks.tasks._agents import FS_PACKAGE, SharedModel
from benchmarks.tasks._repack import disable_repack, repack_faults
from benchmarks.tasks._task import Task

from nexthop import AgentHost, RunResult, StdioServerConfig
from nexthop.host._sandbox import SandboxConfig, SandboxMount
from nexthop.models._select import model_from_string
from nexthop.policies import PolicyConfig

__all__ = ["Outcome", "main"]


@dataclass(frozen=True)
class Outcome:
    """One task in one mode: the verdict on the workspace and what synthesis did."""

    task: str
    mode: str
    passed: bool
    problem: str
    stop: str
    steps: int
    wall_s: float
    tools_written: int
    revisions: int


def synthesis_counts(result: RunResult) -> tuple[int, int]:
    """Tools written (distinct names created) and revisions (accepted rewrites) in a run."""
    names: set[str] = set()
    revisions = 0
    for step in result.trajectory.steps:
        for call, obs in zip(step.tool_calls, step.observations, strict=False):
            if call.name != "create_tool" or obs.is_error:
                continue
            names.add(str(call.arguments.get("name")))
            revisions += obs.content.startswith("revised ")
    return len(names), revisions


async def run_one(task: Task, mode: str, model: SharedModel, max_steps: int, timeout_s: float) -> Outcome:
    """Run ``task`` in a fresh workspace with synthesis ``on`` or ``off`` and judge what it left."""
    root = Path(tempfile.mkdtemp(prefix=f"nexthop-synth-{task.id}-"))
    workspace = root / "work"
    workspace.mkdir()
    task.setup(workspace)
    fs = StdioServerConfig(
        name="fs",
        command="npx",
        args=["-y", FS_PACKAGE, "."],
        cwd=str(workspace),
        tools=("read_text_file", "write_file", "list_directory"),
    )
    policy = PolicyConfig(synthesize=mode == "on", pin_file=root / "pins.json")
    # As a user would set it up: written tools read the workspace (read-only), relative paths
    # resolve there as they do for the filesystem server; results go out through write_file.
    sandbox = SandboxConfig(mounts=(SandboxMount(path=workspace),), workdir=workspace) if mode == "on" else None
    start = time.perf_counter()
    stop, steps, written, revisions = "timeout", 0, 0, 0
    try:
        with anyio.move_on_after(timeout_s):
            async with AgentHost(
                model=model, servers=[fs], max_steps=max_steps, policy=policy, sandbox=sandbox
            ) as host:
                result = await host.run(task.prompt)
            stop, steps = result.termination.kind, len(result.trajectory.steps)
            written, revisions = synthesis_counts(result)
    except Exception as e:  # a crashed run is a failed task; the benchmark goes on
        stop = f"crash: {type(e).__name__}: {e}"[:200]
    problem = task.check(workspace)
    shutil.rmtree(root, ignore_errors=True)
    wall = round(time.perf_counter() - start, 1)
    return Outcome(task.id, mode, problem is None, problem or "", stop, steps, wall, written, revisions)


def summary(outcomes: Sequence[Outcome], modes: Sequence[str]) -> list[str]:
    """One line per mode: success, tools written per task, revisions per tool, seconds per task."""
    lines: list[str] = []
    for mode in modes:
        mine = [o for o in outcomes if o.mode == mode]
        if not mine:
            continue
        passed = sum(o.passed for o in mine)
        tools = sum(o.tools_written for o in mine)
        revisions = sum(o.revisions for o in mine)
        per_tool = f"{revisions / tools:.2f}" if tools else "-"
        seconds = [o.wall_s for o in mine]
        lines.append(
            f"synthesis {mode:<3}: {passed}/{len(mine)} passed ({100 * passed / len(mine):.0f}%)  "
            f"tools/task {tools / len(mine):.2f}  revisions/tool {per_tool}  "
            f"s/task median {statistics.median(seconds):.0f} mean {statistics.fmean(seconds):.0f}"
        )
    return lines


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synthesis", description=__doc__)
    parser.add_argument("--model", default="local", help="model string (default: the embedded model)")
    parser.add_argument("--modes", default="on,off", help="comma-separated: on, off (default both)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    parser.add_argument("--task", action="append", help="only these task ids (repeatable)")
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per task run")
    parser.add_argument("--repack", choices=["auto", "on", "off"], default="auto", help="llama.cpp AMX repacking")
    parser.add_argument("--json", dest="json_out", help="write every outcome to this file")
    parser.add_argument("--list", action="store_true", help="list the tasks and exit")
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace, tasks: Sequence[Task], modes: Sequence[str]) -> list[Outcome]:
    model = SharedModel(model_from_string(args.model))
    outcomes: list[Outcome] = []
    try:
        for task in tasks:
            for mode in modes:
                outcome = await run_one(task, mode, model, args.max_steps, args.timeout)
                outcomes.append(outcome)
                verdict = "PASS" if outcome.passed else f"FAIL {outcome.problem[:90]}"
                print(
                    f"[{len(outcomes)}/{len(tasks) * len(modes)}] {mode:<3} {task.id:<18} {outcome.steps:>2} steps "
                    f"{outcome.wall_s:>6.1f} s tools {outcome.tools_written} rev {outcome.revisions} "
                    f"({outcome.stop})  {verdict}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        await model.close()
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (whatever the success), 2 on bad arguments."""
    args = _parse(argv)
    tasks = [t for t in SYNTHESIS_TASKS if not args.task or t.id in args.task][: args.limit]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.list:
        for t in tasks:
            print(f"{t.id:<18} {t.prompt}")
        return 0
    if not tasks or not set(modes) <= {"on", "off"}:
        print("no task matches, or --modes is not a subset of on,off", file=sys.stderr)
        return 2
    if args.model.startswith("local") and (args.repack == "off" or (args.repack == "auto" and repack_faults())):
        print("llama.cpp: loading without weight repacking (this CPU faults on AMX)", file=sys.stderr)
        disable_repack()
    # The runs' candidates go to a library of their own, never the user's.
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="nexthop-synth-library-")
    outcomes = anyio.run(_main, args, tasks, modes)
    for line in summary(outcomes, modes):
        print(line)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps([asdict(o) for o in outcomes], indent=2))
    return 0
