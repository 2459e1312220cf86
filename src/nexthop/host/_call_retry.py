"""The host retries a tool call that failed transiently, before the model sees the failure.

A flaky tool (a server that answers "temporarily unavailable", a rate limit, a 5xx) is
a fact of life over real MCP servers. Handing each such failure to the model costs a
whole model step (seconds to tens of seconds on a CPU) and, for a small model, its
place in the task: having seen an error and then the result, it often repeats the call
or starts over. Retrying the same call at the host is what a mature client does (after
tenacity's retry-with-backoff, and Autono's observation that failures are the norm in
multi-step tool use, arXiv 2504.04650 §4.3); the model then sees one observation per
action: the result, or the last failure with how often it was tried.

A call is repeated only when repeating it is safe:

- the failure is transient (`classify`: a retry phrase, a 5xx-like error, a result
  marked ``retryable``, a timeout or a lost connection);
- and either the server *answered* with that error (it refused the call rather than
  leaving it half done), or the tool is read-only or idempotent (MCP annotations
  ``readOnlyHint``/``idempotentHint``; without annotations, a name that does not write).
  A timed-out call of a tool that writes is never repeated here: whether it took effect
  is unknown, so the model decides.

Each retry waits an exponential backoff (0.5 s doubling to 8 s, `backoff_s`) and is
recorded on the step (``retry``/``retried``: attempts, seconds waited, the errors).
Giving up on a tool that keeps failing is left to probabilistic abandonment and the
doom-loop detector's own bound, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import anyio

from nexthop._sanitize import one_line
from nexthop._toolset import ToolDef, Toolset, is_write
from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.policies._transient import backoff_s, classify

__all__ = ["call_with_retries", "safe_to_repeat"]

# A request that timed out (mcp REQUEST_TIMEOUT, as clients/_calls.py writes it) or a
# "timed out" text: the server may have acted, so only a tool that does not write repeats.
_TIMED_OUT = re.compile(r"\(code -32001\)|\btim(?:ed|es)?[ -]?out\b", re.IGNORECASE)


def safe_to_repeat(tool: ToolDef, failure: Observation) -> bool:
    """Whether the host may repeat a call of ``tool`` that ended in ``failure``.

    Args:
        tool: The tool called.
        failure: The call's observation.

    Returns:
        True for a transient failure that the server answered (not a timeout), or any
        transient failure of a read-only or idempotent tool; False otherwise.
    """
    if classify(failure) != "transient":
        return False
    annotations = tool.annotations or {}
    if annotations.get("readOnlyHint") is True or annotations.get("idempotentHint") is True:
        return True
    if not is_write(tool):
        return True
    return not _TIMED_OUT.search(failure.content)


async def call_with_retries(
    owner: Toolset, tool: ToolDef, call: ToolCall, retries: int, backoff: Callable[[int], float] | None = None
) -> tuple[Observation, tuple[PolicyRecord, ...]]:
    """Run ``call`` on ``owner``, repeating it up to ``retries`` times while it fails transiently and safely.

    Args:
        owner: The toolset that serves the tool.
        tool: The tool called (its annotations and name decide what is safe to repeat).
        call: The model's call; repeated unchanged.
        retries: Most repeats after the first attempt; 0 runs the call once.
        backoff: Seconds to wait before repeat k (1-based); None is `backoff_s` (exponential).

    Returns:
        The last observation, and one ``retry`` record when the call was repeated:
        ``{"tool", "attempts", "waited_s", "errors", "outcome"}`` (seconds; the errors'
        first lines, cleaned). When every attempt failed, the observation says how many
        attempts were made, so the model does not simply try once more.
    """
    obs = await owner.call_tool(call)
    errors: list[str] = []
    waited = 0.0
    while len(errors) < retries and obs.is_error and safe_to_repeat(tool, obs):
        errors.append(one_line(obs.content, 160))
        delay = (backoff or backoff_s)(len(errors))
        await anyio.sleep(delay)
        waited += delay
        obs = await owner.call_tool(call)
    if not errors:
        return obs, ()
    attempts = len(errors) + 1
    outcome = "failed" if obs.is_error else "succeeded"
    record = PolicyRecord(
        policy="retry",
        event="retried",
        data={
            "tool": call.name,
            "attempts": attempts,
            "waited_s": round(waited, 3),
            "errors": errors,
            "outcome": outcome,
        },
    )
    if obs.is_error and classify(obs) == "transient":  # a permanent error at the end speaks for itself
        note = f"\n(the host tried this call {attempts} times, {waited:.1f} s apart in all; every attempt failed)"
        obs = obs.model_copy(update={"content": obs.content + note})
    return obs, (record,)
