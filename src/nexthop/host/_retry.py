"""Retries with reflection: a run that stopped early is tried again, told what it tried and what went wrong.

After Reflexion (Shinn et al. 2023, arXiv 2303.11366): an agent that fails writes a
short verbal reflection on why, and the next trial gets it as memory. Here the memory
is the failed attempt's trajectory, handed over the way delegation hands one over
(``Trajectory.memory``, rendered to the model as what was tried and what failed), with
the reflection on it. The reflection is one model request with no tools, through the
provider-neutral `Model.request`, so every model can write it.

Only stops that a second try could change are retried: a doom loop, an abandonment, a
spent step, token or wall-time budget. A completed run, a model error, a cancellation,
a run stopped by denials (a person or rule said no) or by a user's policy are final.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from nexthop._exceptions import NexthopError
from nexthop._trajectory import Attempt, RunResult, TerminationKind, TerminationReason, Trajectory, Usage
from nexthop.host._loop import Emit, RunEvent
from nexthop.models._model import Model, ModelRequest, ModelSettings

__all__ = ["REFLECTION_PROMPT", "RETRIED", "Reflect", "RunAttempt", "model_reflection", "run_with_retries"]

RETRIED: frozenset[TerminationKind] = frozenset({"doom_loop", "abandoned", "max_steps", "budget", "gave_up"})
"""The termination kinds after which a run with retries left is tried again."""

REFLECTION_PROMPT = (
    "This attempt has stopped without completing the task ({detail}). Do not call any tool now. "
    "In two or three sentences, say what went wrong and what to do differently on the next attempt."
)
"""The question the model answers after a failed attempt; ``{detail}`` is the stop's one line."""

_REFLECTION_TOKENS = 256  # a few sentences; it is shown to the next attempt in full

RunAttempt = Callable[[Trajectory | None, Emit], Awaitable[RunResult]]
"""Runs one attempt with the given memory, sending its events to the given callback."""

Reflect = Callable[[RunResult], Awaitable[tuple[str, Usage]]]
"""Asks for the reflection on a failed attempt: its text and what the request cost."""


def model_reflection(model: Model, instructions: str, settings: ModelSettings) -> Reflect:
    """A `Reflect` that asks ``model`` once, with no tools, what went wrong in a failed attempt.

    The question is a host's note on the attempt's last step, so every provider shows it
    after the last observations, as it shows a policy's hint. A model error yields no
    reflection (the retry still happens, with the failed trajectory alone).

    Args:
        model: The run's model.
        instructions: The run's system prompt.
        settings: The run's settings; the reply is capped at 256 tokens.
    """

    async def reflect(failed: RunResult) -> tuple[str, Usage]:
        steps = failed.trajectory.steps
        if not steps:  # stopped before the first step: nothing to reflect on
            return "", Usage()
        question = REFLECTION_PROMPT.format(detail=failed.termination.detail or failed.termination.kind)
        last = steps[-1]
        asked = last.model_copy(update={"hint": f"{last.hint}\n{question}".strip()})
        trajectory = failed.trajectory.model_copy(update={"steps": [*steps[:-1], asked]})
        capped = settings.model_copy(update={"max_output_tokens": min(settings.max_output_tokens, _REFLECTION_TOKENS)})
        try:
            response = await model.request(
                ModelRequest(instructions=instructions, trajectory=trajectory, tools=[], settings=capped)
            )
        except NexthopError:
            return "", Usage()
        return response.thought.strip(), response.usage

    return reflect


async def run_with_retries(
    attempt: RunAttempt, *, memory: Trajectory | None, retries: int, reflect: Reflect, emit: Emit
) -> RunResult:
    """Run attempts until one is final: it did not stop in a `RETRIED` way, or no retries are left.

    Observers see every attempt's actions and steps, but only one `RunResult`: the final
    one, with ``attempts`` listing the earlier ones and ``usage`` and ``wall_time_s``
    covering them all.

    Args:
        attempt: Runs one attempt (fresh policies each time: budgets apply per attempt).
        memory: The caller's memory, given to the first attempt; each later attempt gets
            the one before it (whose own ``memory`` leads back to the caller's).
        retries: Attempts allowed after the first (0 or more).
        reflect: Asks for the reflection on a failed attempt.
        emit: Where the events go.

    Raises:
        The caller's cancellation, after the final result was emitted as ``cancelled``.
    """
    retrying = _Retrying(retries, emit)
    while True:
        result = await attempt(memory, retrying.relay)
        if retrying.final is not None:
            return retrying.final
        try:
            reflection, usage = await reflect(result)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                cancelled = TerminationReason(kind="cancelled", detail="the run was cancelled during a reflection")
                await retrying.relay(result.model_copy(update={"termination": cancelled}), final=True)
            raise
        memory = retrying.retry(result, reflection, usage)


class _Retrying:
    """The attempts so far, and the relay that holds back every `RunResult` but the final one."""

    def __init__(self, retries: int, emit: Emit) -> None:
        self.retries = retries
        self.emit = emit
        self.earlier: list[Attempt] = []
        self.final: RunResult | None = None
        self.start = anyio.current_time()

    async def relay(self, event: RunEvent, *, final: bool = False) -> None:
        if isinstance(event, RunResult):
            retried = event.termination.kind in RETRIED and len(self.earlier) < self.retries
            if retried and not final:
                return  # the caller sees this attempt in the final result's ``attempts``
            event = self.final = self.combined(event)
        await self.emit(event)

    def combined(self, last: RunResult) -> RunResult:
        usage = last.usage
        for earlier in self.earlier:
            usage = usage + earlier.usage
        return last.model_copy(
            update={
                "usage": usage,
                "wall_time_s": anyio.current_time() - self.start,
                "attempts": tuple(self.earlier),
            }
        )

    def retry(self, failed: RunResult, reflection: str, usage: Usage) -> Trajectory:
        """Record a failed attempt with its reflection; return the memory for the next one."""
        trajectory = failed.trajectory.model_copy(update={"reflection": reflection})
        started = self.start + sum(a.wall_time_s for a in self.earlier)
        self.earlier.append(
            Attempt(
                index=len(self.earlier) + 1,
                status=failed.status,
                termination=failed.termination,
                trajectory=trajectory,
                reflection=reflection,
                usage=failed.usage + usage,
                wall_time_s=anyio.current_time() - started,
            )
        )
        return trajectory
