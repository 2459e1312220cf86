"""Which failed tool calls are worth retrying unchanged, which tools write, and how long to back off.

A *transient* failure is one the same call may not meet again: a timeout, a server
that says to retry or is temporarily unavailable, a rate limit, a 5xx-like error, a
lost connection being restarted, or a result the tool itself marks retryable
(structured content ``{"retryable": true}``). Retrying such a call unchanged is the
right move, not a loop (issue 13: a doom-loop stop after a fault that said "retry the
same call" killed every run with flaky tools). Everything else that failed is
*permanent*: the same call will fail the same way.

The classification reads the observation the model sees (the text, the structured
content), so it applies to every toolset alike: MCP servers, Python tools, the host's
own refusals (unknown tool, bad arguments: permanent).

Some servers report a failure as a success: the SQLite reference server answers a bad
statement with ``Database error: no such table: city`` and no ``isError``. A result that
*starts* with an error label (``Error: ...``, ``Database error: ...``, ``Error - ...``,
``Error executing tool ...``) is a failure (`Observation.failed`), so that every policy
sees it: before, only the failed-write check did, and the doom loop told the model "your
changes succeeded" after ``CREATE TABLE`` had failed.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Literal, cast

import tenacity

from nexthop._toolset import ToolDef, is_write
from nexthop._trajectory import Observation

__all__ = [
    "BACKOFF_MAX_S",
    "BACKOFF_MULTIPLIER_S",
    "Outcome",
    "WriteTools",
    "already_exists",
    "argument_strings",
    "backoff_s",
    "classify",
    "is_content",
    "names_missing",
]

Outcome = Literal["ok", "transient", "permanent", "denied", "skipped"]
"""How a call ended: succeeded, failed but worth retrying, failed for good, refused by a
policy, or not run because a policy skipped it as a known outcome."""

BACKOFF_MULTIPLIER_S = 0.5
"""First wait before retrying a call that failed transiently (seconds); doubles per retry."""

BACKOFF_MAX_S = 8.0
"""Longest wait before a retry (seconds)."""

_RETRY_PHRASES = (
    r"tim(?:ed|es)?[ -]?out",
    r"temporar(?:y|ily)",
    r"try (?:it )?again",
    r"retry(?:ing|able)?",
    r"rate[ -]?limit(?:ed)?",
    r"throttl(?:ed|ing)",
    r"overloaded",
    r"unavailable",
    r"connection (?:reset|refused|aborted)",
    r"ECONNRESET|ETIMEDOUT|EAGAIN",
)
# Status phrases of 5xx, 408 and 429 from the standard library ("Service Unavailable", ...),
# so no hand-kept list of HTTP reasons.
_STATUS_PHRASES = tuple(
    re.escape(s.phrase)
    for s in HTTPStatus
    if s.value >= 500 or s in (HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS)
)
_TRANSIENT = re.compile(r"\b(?:" + "|".join((*_RETRY_PHRASES, *_STATUS_PHRASES)) + r")\b", re.IGNORECASE)
_STATUS_5XX = re.compile(r"\b(?:HTTP(?:/[\d.]+)?|status(?: code)?|error|code)\s*:?\s*5\d\d\b", re.IGNORECASE)
_NEGATED = re.compile(
    r"\b(?:not|non|never|don't|do not|cannot)[ -](?:be )?(?:retry|retryable|retried|try again)\b|\bpermanent",
    re.IGNORECASE,
)
# JSON-RPC codes the MCP SDK uses for a request that timed out and a connection that closed
# (mcp_types.REQUEST_TIMEOUT, CONNECTION_CLOSED; the policies do not import the SDK), as
# clients/_calls.py writes them: "<server>: <message> (code <n>)".
_TRANSIENT_CODES = re.compile(r"\(code (?:-32001|-32000)\)")


def classify(obs: Observation) -> Outcome:
    """How a call ended, read from its observation.

    Args:
        obs: The observation the model saw.

    Returns:
        ``ok`` for a success, ``denied`` for a call a policy refused, ``skipped`` for a
        call a policy skipped as a known outcome (`Observation.skipped`: it did not run,
        so it is no new failure and changed nothing), ``transient`` for a failure worth
        retrying unchanged (see the module docstring), else ``permanent``.
        Text that says not to retry ("not retryable", "do not retry", "permanent") wins
        over a retry phrase. A result not flagged ``is_error`` that starts with an error
        label is a failure too (`Observation.failed`).
    """
    if not obs.failed:
        return "ok"
    if obs.denied:
        return "denied"
    if obs.skipped:
        return "skipped"
    marked = (obs.structured or {}).get("retryable")
    if isinstance(marked, bool):
        return "transient" if marked else "permanent"
    text = obs.content
    if _NEGATED.search(text):
        return "permanent"
    if _TRANSIENT.search(text) or _STATUS_5XX.search(text) or _TRANSIENT_CODES.search(text):
        return "transient"
    return "permanent"


# The words servers use for "what you named is not there": POSIX (ENOENT, "No such file or
# directory"), SQLite ("no such table", "no such column"), HTTP 404 ("Not Found"), and the
# plain phrasings of the reference servers ("Could not find exact match for edit").
_MISSING = re.compile(
    r"\bno such\b|\bnot found\b|\bdoes ?n[o']t exist\b|\bENOENT\b|\b(?:could|can) ?n[o']t find\b|\bcannot find\b",
    re.IGNORECASE,
)
# ... and for "what you would create is there already" (POSIX EEXIST, SQL, the filesystem server).
_EXISTS = re.compile(r"\balready exists?\b|\bexists already\b|\bEEXIST\b", re.IGNORECASE)


def names_missing(obs: Observation) -> bool:
    """Whether a failed call says something it names does not exist (a file, a table, a column, a text).

    Read from the text, like `classify`: ``ENOENT``, ``no such ...``, ``not found``,
    ``does not exist``, ``could not find``. A skip or a denial never counts: the call did
    not run.
    """
    return obs.failed and not (obs.skipped or obs.denied) and _MISSING.search(obs.content) is not None


def already_exists(obs: Observation) -> bool:
    """Whether a failed call says what it would create is there already (``already exists``, ``EEXIST``).

    The change was not made, but its goal may hold (``CREATE TABLE notes`` when ``notes``
    exists), so the failed-write check does not send a ``finish`` back for it.
    """
    return obs.failed and not (obs.skipped or obs.denied) and _EXISTS.search(obs.content) is not None


_RETRYING = tenacity.Retrying()
_WAIT = tenacity.wait_exponential(multiplier=BACKOFF_MULTIPLIER_S, max=BACKOFF_MAX_S)


def backoff_s(attempt: int, wait: tenacity.wait.WaitBaseT = _WAIT) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based) of a call that failed transiently.

    Args:
        attempt: How many transient failures in a row the tool has had (1 for the first).
        wait: A tenacity wait strategy; the default is exponential, 0.5 s doubling to 8 s
            (``wait_exponential(multiplier=0.5, max=8)``: 0.5, 1, 2, 4, 8, 8 ...).

    Returns:
        The delay (seconds).
    """
    state = tenacity.RetryCallState(retry_object=_RETRYING, fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    return float(wait(state))


class WriteTools:
    """Whether each tool a run has called writes (`is_write`), learned as its calls are checked.

    One run's map, for the policies that judge progress by writes (the doom loop, the
    failed-write check). A name never checked (an unknown tool the host refused before
    any policy saw it) counts as not writing.
    """

    def __init__(self) -> None:
        self._writes: dict[str, bool] = {}

    def note(self, name: str, tool: ToolDef) -> None:
        """Record whether ``tool``, called as ``name``, writes (from ``check_call``)."""
        self._writes[name] = is_write(tool)

    def writes(self, name: str) -> bool:
        """Whether the tool called ``name`` writes; False for one never noted."""
        return self._writes.get(name, False)


def argument_strings(value: object) -> list[str]:
    """Every string inside a call's arguments (nested objects and lists included)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in cast("dict[str, object]", value).values() for s in argument_strings(v)]
    if isinstance(value, list):
        return [s for v in cast("list[object]", value) for s in argument_strings(v)]
    return []


def is_content(text: str) -> bool:
    """Whether an argument string is text rather than a name or a path: it has a space or a line break.

    A file's text, an SQL statement or an edit is content; ``notes.txt`` or ``old/log.txt``
    is not. Shared by the policies that judge what a write carries (read first, grounded writes).
    """
    return re.search(r"\s", text) is not None
