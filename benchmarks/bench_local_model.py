"""Per-step cost of the embedded local model over a growing trajectory.

Run: ``python benchmarks/bench_local_model.py [--steps 8] [--threads N]``.

It loads the embedded GGUF through `LlamaCppModel`, then asks for the next action
``--steps`` times, appending after each a fake observation of realistic size (200-600
characters). Printed per step: wall seconds, prompt tokens evaluated, prompt tokens
reused from the KV cache, completion tokens. With prefix reuse working, evaluated
tokens per step stay flat (about one observation plus one reply) while the prompt grows.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import anyio

from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, Step, Trajectory
from nexthop.clients._llama import LlamaCppModel
from nexthop.clients._model import ModelRequest

TOOLS = [
    ToolDef(
        name="fs__read_text_file",
        description="Read a text file and return its contents.",
        input_schema={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    ),
    ToolDef(
        name="fs__search_files",
        description="Find files whose names match a glob pattern under a directory.",
        input_schema={
            "type": "object",
            "properties": {"path": {"type": "string"}, "pattern": {"type": "string"}},
            "required": ["path", "pattern"],
        },
    ),
    ToolDef(
        name="db__query",
        description="Run a read-only SQL query and return rows as JSON.",
        input_schema={"type": "object", "properties": {"sql": {"type": "string"}}, "required": ["sql"]},
    ),
    FINISH_TOOL,
]

TASK = (
    "Survey the project in /srv/app: find the configuration files, read them, check the users table "
    "for inactive accounts, and report what you find. Do not finish before you have looked at 8 sources."
)

_WORDS = "config user table path value error active port host timeout retry cache level file row".split()


def fake_observation(rng: random.Random) -> str:
    """A plausible tool result of 200-600 characters."""
    target = rng.randint(200, 600)
    lines: list[str] = []
    while sum(len(line) + 1 for line in lines) < target:
        lines.append(f"{rng.choice(_WORDS)}_{rng.randint(1, 99)} = {' '.join(rng.choices(_WORDS, k=5))}")
    return "\n".join(lines)[:target]


async def main(steps: int, threads: int | None) -> None:
    rng = random.Random(0)
    model = LlamaCppModel(n_threads=threads)
    trajectory = Trajectory(task=TASK)
    rows: list[tuple[float, int, int, int, float]] = []
    print(f"model: {model.name}, threads: {model.n_threads}")
    print(f"{'step':>4} {'tool':<20} {'seconds':>8} {'cpu s':>7} {'evaluated':>9} {'reused':>7} {'completion':>10}")
    try:
        for index in range(1, steps + 1):
            start, cpu_start = time.perf_counter(), time.process_time()
            request = ModelRequest(instructions="You are a careful agent.", trajectory=trajectory, tools=TOOLS)
            response = await model.request(request)
            # CPU seconds of all threads, so a busy machine shows as seconds >> cpu s / threads
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            u = response.usage
            (call,) = response.tool_calls
            rows.append((seconds, u.input_tokens, u.cached_input_tokens, u.output_tokens, cpu))
            print(
                f"{index:>4} {call.name:<20} {seconds:>8.2f} {cpu:>7.2f} "
                f"{u.input_tokens:>9} {u.cached_input_tokens:>7} {u.output_tokens:>10}"
            )
            if index == 1 and model.load_time_s is not None:
                print(f"     (step 1 includes loading the GGUF: {model.load_time_s:.2f} s)")
            observation = Observation(call_id=call.id, content=fake_observation(rng))
            trajectory.steps.append(
                Step(index=index, thought=response.thought, tool_calls=(call,), observations=(observation,))
            )
    finally:
        await model.aclose()

    later = rows[1:]
    print()
    print(f"load: {model.load_time_s:.2f} s")
    print(f"step 1 (cold prompt): {rows[0][0]:.2f} s, {rows[0][1]} prompt tokens evaluated")
    if later:
        print(
            f"steps 2-{len(rows)}: mean {statistics.mean(r[0] for r in later):.2f} s/step "
            f"({statistics.mean(r[4] for r in later):.2f} CPU s), "
            f"evaluated prompt tokens min/mean/max {min(r[1] for r in later)}/"
            f"{statistics.mean(r[1] for r in later):.0f}/{max(r[1] for r in later)}, "
            f"final prompt {later[-1][1] + later[-1][2]} tokens ({later[-1][2]} reused)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    anyio.run(main, args.steps, args.threads)
