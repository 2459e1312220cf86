"""The embedded model's first reply decoded three ways, from the same KV state: same text, less time.

Run: ``python benchmarks/bench_decoding.py [--every 4] [--threads 2]``.

For every ``--every``-th task of `benchmarks/tasks/` (its prompt only; no servers run),
the first reply is decoded over the real filesystem and SQLite servers' 20 tools plus
``finish``, each way starting from the same state (the system prompt evaluated, the task
not):

* ``chain``: the grammar in llama-cpp-python's sampler chain (nexthop up to ``bbce77e``);
* ``first``: `FirstChoiceGrammar`, the top token checked first (``f7f9a69``);
* ``opened``: that, with the reply's fixed opening evaluated instead of generated (``b7139a7``).

Printed per task: the call, whether ``first`` and ``opened`` gave the same reply as
``chain``; then the seconds each way took in all. Measured 2026-11-30 with
``--every 1 --threads 2`` on the idle 2-core machine: 44 tasks; ``first`` gave the same
reply as ``chain`` for 44, ``opened`` for 42 (a batch is evaluated with other kernels
than a single token, and two near ties flipped; see docs/models.md); 397.7 s, 268.9 s
and 197.2 s in all (9.0, 6.1 and 4.5 s a reply).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_local_model import load_tools  # noqa: E402
from benchmarks.tasks.tasks import select  # noqa: E402

from nexthop._trajectory import Trajectory  # noqa: E402
from nexthop.host._host import DEFAULT_INSTRUCTIONS  # noqa: E402
from nexthop.models import _llama, _llama_greedy  # noqa: E402
from nexthop.models._llama import LlamaCppModel  # noqa: E402
from nexthop.models._model import ModelRequest  # noqa: E402


def chain(llm: Any, tokens: Any, grammar: str, *, max_tokens: int, seed: int | None, should_stop: Any, **_: Any) -> Any:
    """Decoding as before: the grammar inside llama-cpp-python's sampler chain, greedy."""
    from llama_cpp import LlamaGrammar, StoppingCriteriaList

    parsed = LlamaGrammar.from_string(grammar, verbose=False)
    criteria = StoppingCriteriaList([should_stop])
    return llm.create_completion(
        list(tokens), max_tokens=max_tokens, temperature=0.0, seed=seed, grammar=parsed, stopping_criteria=criteria
    )


def first(*args: Any, opening: str = "", **kwargs: Any) -> Any:
    """The top token first, with the opening generated (``opening`` dropped)."""
    return _llama_greedy.complete_under_grammar(*args, **kwargs)


WAYS = {"chain": chain, "first": first, "opened": _llama_greedy.complete_under_grammar}


async def main(every: int, threads: int) -> None:
    tools = load_tools("real")
    model = LlamaCppModel(n_threads=threads, prefix_cache_bytes=0)
    tasks = select()[::every]
    warm = ModelRequest(instructions=DEFAULT_INSTRUCTIONS, trajectory=Trajectory(task="Warm up."), tools=tools)
    await model.request(warm)  # load, and evaluate the system prompt once
    same = dict.fromkeys(WAYS, 0)
    seconds = dict.fromkeys(WAYS, 0.0)
    try:
        for task in tasks:
            request = ModelRequest(
                instructions=DEFAULT_INSTRUCTIONS, trajectory=Trajectory(task=task.prompt), tools=tools
            )
            replies: dict[str, tuple[str, str, str]] = {}
            for way, decode in WAYS.items():
                _llama.complete_under_grammar = decode  # pyright: ignore[reportAttributeAccessIssue]
                llm: Any = model._llm  # pyright: ignore[reportPrivateUsage]
                keep = len(model.prefix_tokens(request, model.prompt_tokens(request)))
                llm._ctx.kv_cache_seq_rm(-1, keep, -1)  # back to the system prompt alone
                llm.n_tokens = keep
                start = time.perf_counter()
                response = await model.request(request)
                seconds[way] += time.perf_counter() - start
                call = response.tool_calls[0]
                replies[way] = (call.name, json.dumps(call.arguments, sort_keys=True), response.thought)
            for way in WAYS:
                same[way] += replies[way] == replies["chain"]
            flags = " ".join(f"{way}={'same' if replies[way] == replies['chain'] else 'DIFFERENT'}" for way in WAYS)
            print(f"{task.id:<24} {flags}  {replies['chain'][0]} {replies['chain'][1][:60]}", flush=True)
    finally:
        _llama.complete_under_grammar = _llama_greedy.complete_under_grammar  # pyright: ignore[reportAttributeAccessIssue]
        await model.aclose()
    n = len(tasks)
    print(f"\n{n} tasks; the same reply as chain: " + ", ".join(f"{w} {same[w]}" for w in WAYS if w != "chain"))
    print("seconds in all (a reply): " + ", ".join(f"{w} {s:.1f} ({s / n:.1f})" for w, s in seconds.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--every", type=int, default=4, help="every N-th benchmark task (default 4)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    anyio.run(main, args.every, args.threads)
