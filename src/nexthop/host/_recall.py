"""Recall: find the earlier runs most like this task in the run store, and digest them.

Retrieval is offline BM25 (Robertson & Zaragoza 2009, via ``bm25s``, as tool narrowing
uses it) over the tasks of the store's most recent finished runs. Nothing is stored
beside the runs: the tasks are the recorded workflows' inputs and the digests are made
from their recorded results, so recall works wherever the store does (SQLite or
PostgreSQL), survives restarts, and forgets what the store's retention deletes.

Inside a durable run the search is itself a recorded step (``recall``), so a resumed or
replayed run is offered the same memories it started with.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from nexthop._recalled import RecallConfig, RecalledRun, fit_recalled
from nexthop._sanitize import one_line
from nexthop._toolset import FINISH_TOOL
from nexthop._trajectory import RunResult

__all__ = ["digest", "recall", "resolve_recall", "similarities"]

_LINE = 160  # longest argument or error text kept in a digest line (characters)
_RETURNED = 80  # longest start of a successful call's result kept in a digest line (characters)
_PER_RUN = 6  # most worked or failed lines kept per run before the budget cuts (lines)


def resolve_recall(asked: bool | RecallConfig | None, default: RecallConfig | None) -> RecallConfig | None:
    """The recall settings a run uses: ``asked`` for this run over the host's ``default``.

    None keeps the host's setting, False turns recall off, True turns it on with the
    host's settings (or the defaults), and a `RecallConfig` is used as it is.
    """
    if asked is None:
        return default
    if isinstance(asked, RecallConfig):
        return asked
    return (default or RecallConfig()) if asked else None


async def recall(task: str, config: RecallConfig) -> tuple[RecalledRun, ...]:
    """The earlier runs most like ``task`` (best first), digested and cut to ``config``'s budget.

    Call it inside a durable run's workflow: the search is recorded there as the step
    ``recall``, and the run itself is never among the results.
    """
    from dbos import DBOS  # loaded only with a store

    this = DBOS.workflow_id

    async def search() -> dict[str, Any]:
        return {"recalled": [r.model_dump(mode="json") for r in await _search(task, config, exclude=this)]}

    found: dict[str, Any] = await DBOS.run_step_async({"name": "recall"}, search)
    return tuple(RecalledRun.model_validate(r) for r in found["recalled"])


async def _search(task: str, config: RecallConfig, exclude: str | None) -> tuple[RecalledRun, ...]:
    from dbos import DBOS

    from nexthop.host._store import RUN_WORKFLOW
    from nexthop.host._store import _spec as _run_spec  # pyright: ignore[reportPrivateUsage] - one unit with _store

    # Finished runs only (a run that returned, whatever its outcome): failures teach as much as successes.
    statuses = await DBOS.list_workflows_async(
        name=RUN_WORKFLOW, status=["SUCCESS"], sort_desc=True, limit=config.candidates, load_output=False
    )
    earlier = [(s.workflow_id, str(_run_spec(s).get("task", ""))) for s in statuses if s.workflow_id != exclude]
    scores = similarities(task, [t for _, t in earlier])
    ranked = sorted(range(len(earlier)), key=lambda i: -scores[i])  # stable: newest first among equals
    hits = [(earlier[i][0], scores[i]) for i in ranked if scores[i] > 0 and scores[i] >= config.min_score]
    hits = hits[: config.top_k]
    if not hits:
        return ()
    results = await DBOS.list_workflows_async(workflow_ids=[run_id for run_id, _ in hits], name=RUN_WORKFLOW)
    outputs: dict[str, Any] = {s.workflow_id: s.output for s in results}
    digests = [
        digest(run_id, score, RunResult.model_validate(outputs[run_id]))
        for run_id, score in hits
        if isinstance(outputs.get(run_id), dict)
    ]
    return fit_recalled(digests, config.max_chars)


def similarities(query: str, documents: Sequence[str]) -> list[float]:
    """Each document's similarity to ``query``, from 0 to 1 (one per document, in order).

    The BM25 score of the document for the query, divided by the query's score against
    itself in the same index, so that one threshold means the same whatever the store
    holds: 1.0 is a document with the query's words, 0 one with none of them.
    """
    if not documents:
        return []
    import bm25s  # pyright: ignore[reportMissingTypeStubs] - numpy-backed: loaded only when recalling
    import Stemmer  # pyright: ignore[reportMissingTypeStubs]

    stemmer: Any = Stemmer
    lib: Any = bm25s
    stem, tokenize = stemmer.Stemmer("english").stemWords, lib.tokenize
    tokens: list[list[str]] = tokenize([query], stopwords="en", stemmer=stem, return_ids=False, show_progress=False)
    if not tokens[0]:  # only stop words: nothing to match on (and bm25s cannot index an empty vocabulary)
        return [0.0] * len(documents)
    corpus = [*documents, query]
    retriever: Any = lib.BM25()
    retriever.index(tokenize(corpus, stopwords="en", stemmer=stem, show_progress=False), show_progress=False)
    docs, scores = retriever.retrieve(tokens, k=len(corpus), show_progress=False)
    by_doc = dict(zip(docs[0].tolist(), scores[0].tolist(), strict=True))
    itself = float(by_doc.get(len(documents), 0.0))
    if itself <= 0:
        return [0.0] * len(documents)
    return [round(min(1.0, float(by_doc.get(i, 0.0)) / itself), 3) for i in range(len(documents))]


def digest(run_id: str, score: float, result: RunResult) -> RecalledRun:
    """A few lines on an earlier run: its task, how it ended, the calls that worked and those that failed.

    Calls of every attempt count (a retried run's failed attempts are lessons too);
    ``finish`` is left out, and repeats are kept once. A call counts as failed when its
    observation is an error; a successful one keeps the start of its result, because
    some servers return errors as ordinary results (mcp-server-sqlite's "Database
    error: ..."). All text is cleaned and cut.
    """
    worked: dict[str, None] = {}
    failed: dict[str, None] = {}
    for trajectory in (*(a.trajectory for a in result.attempts), result.trajectory):
        for step in trajectory.steps:
            for call, obs in zip(step.tool_calls, step.observations, strict=False):
                if call.name == FINISH_TOOL.name:
                    continue
                line = f"{one_line(call.name, 128)} {one_line(json.dumps(call.arguments, ensure_ascii=False), _LINE)}"
                if obs.failed:
                    failed[f"{line} -> {one_line(obs.content, _LINE)}"] = None
                else:  # with the start of what it returned, as evidence of what the call did
                    worked[f"{line} -> {one_line(obs.content, _RETURNED)}"] = None
    ended = result.result if result.status == "completed" else result.termination.detail
    return RecalledRun(
        run_id=run_id,
        score=score,
        task=one_line(result.trajectory.task, 300),
        status=result.status,
        termination=result.termination.kind,
        outcome=one_line(ended, 300),
        worked=tuple(worked)[-_PER_RUN:],  # the last that worked: most often the way through
        failed=tuple(failed)[:_PER_RUN],
    )
