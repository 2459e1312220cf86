"""All policy settings in one place: the Python API, the config file's ``policies`` section, CLI flags.

Defaults are chosen for a person running tasks at a terminal: no approvals
(``full_auto``), doom loops caught after 3 repeats, no probabilistic abandonment
(it is opt-in: a person watching can press Ctrl-C), no token or
wall-time budget, tool pinning on, a nudge before a second text reply ends a run,
and tool narrowing past 12 tools. `start_policies` turns the settings into the
run policies the loop consults; the step budget (``max_steps``) and the tool timeout
are the host's settings, not these.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nexthop._exceptions import ConfigError
from nexthop.policies._abandonment import parse_personality
from nexthop.policies._permissions import Permissions

__all__ = ["PolicyConfig"]


class PolicyConfig(BaseModel):
    """Every policy's settings.

    Attributes:
        permissions: Autonomy level and allow / ask / deny rules.
        max_denials: Denied calls in one run before it stops with ``denied``.
        abandonment: ``prudent`` (persists), ``inquisitive`` (gives up readily),
            ``"<p0>,<beta>"`` or None (off, the default).
        abandonment_seed: Seed for the abandonment rolls (reproducible runs); None is random.
        doom_loop_n: Repeats that make a doom loop (same call, same error, or no new
            information N times); 0 turns detection off.
        transient_retries: Transient failures (timeouts, "retry", "temporarily
            unavailable", 5xx-like) of one tool in a row that the doom-loop detector
            excuses as retries, each after an exponential backoff; 0 counts every failure.
        call_retries: Times the host itself repeats a call that failed transiently, before
            the model sees it, when repeating is safe: the server answered with a retryable
            error, or the tool is read-only or idempotent (see host/_call_retry.py). Each
            waits an exponential backoff (0.5 s doubling to 8 s); 0 leaves every retry to
            the model.
        max_tokens: Token budget for a run (input plus output tokens); None is unlimited.
        max_wall_time_s: Wall-time budget for a run (seconds); None is unlimited.
        completion_check: Ask the model once, when it calls ``finish``, whether the
            result meets the task (after Reflexion, Shinn et al. 2023, arXiv 2303.11366).
        failed_write_check: Send the model back once when it calls ``finish`` while the
            last call of some writing tool failed and was never redone (see
            `FailedWriteCheck`).
        skip_known_failures: Do not run again a call (same tool, same arguments) that
            failed for good while no write has succeeded since; the model sees why, and
            the tool is left out of its next step (see `KnownFailures`).
        skip_repeated_writes: Do not run again a write (same tool, same arguments) that
            succeeded while no other write has succeeded since: it would make the same
            change twice; the model sees why, and the tool is left out of its next step
            (see `RepeatedWrites`).
        skip_repeated_reads: Do not run again a read (same tool, same arguments) that
            succeeded while no write has succeeded since, when its server marks the tool
            read-only and closed-world (``readOnlyHint: true``, ``openWorldHint: false``):
            it would return the same; the model sees which step holds the result, and the
            tool is left out of its next step (see `RepeatedReads`; off: it did not raise
            the embedded model's benchmark success).
        redraws: When a policy foresees a call's outcome without running it (a
            known failure, or a repeated read it would skip), ask the model again,
            sampled at temperature 1.0 with a fresh seed, up to this many times, and take
            the first action with no such call; if none, the first draw stands and is
            skipped as before (see `nexthop.host._loop._Run.draw`; 0 turns it off).
        skip_ungrounded_writes: Skip once a run a write whose content is mostly words
            found neither in the task nor in any result that succeeded: the model is told
            never to make up data; the same call made again runs (see `GroundedWrites`;
            off: it did not raise the embedded model's benchmark success).
        read_first: Skip the first write with content once while the first file the
            task names (``name.ext``) has not been used by a call that succeeded: the
            model is told to read it first and never make up data (see `ReadFirst`).
        look_first: After a call fails because something it names does not exist, hint
            the model to look at what does exist (naming list/describe/search tools on
            offer) before trying again or creating it, and name a near match once a
            listing shows one (see `LookFirst`; off: it did not raise the embedded
            model's benchmark success).
        pin_file: Where tool pins are stored; None uses the user config folder; pinning
            is off when ``pinning`` is False.
        pinning: Block tools whose definition changed since first use, until re-approved.
        text_replies: Replies without a tool call in a row that end a run as ``completed``;
            each earlier one gets a nudge to call a tool or ``finish`` (1 ends the run at the
            first, agentlib's rule). See `NoToolTurns`.
        narrow_tools_over: Narrow the tools on offer once more than this many are listed
            (``finish`` aside): the model sees only those relevant to the task and its steps.
            None turns narrowing off. See `ToolNarrowing`.
        narrow_tools_share: Past ``narrow_tools_over``, keep every tool on offer while
            listing them takes at most this share of the model's context window, for
            models that can tell (`Model.tool_list_share`: the embedded model); None (the
            default) narrows on the count alone. Opt-in: on the task benchmark the
            embedded model did better with all 22 and all 67 tools listed (16% and 50% of
            its 8,192-token window; 0.6 keeps both whole) than narrowed, but the README's
            own task then fails (``INSERT ... VALUES (?, ?, ?)`` with no values), where
            narrowed it passes. See `ToolNarrowing`.
        narrow_top_k: Tools chosen for the task at the first step when narrowing (at most
            ``narrow_tools_over``); later steps may add a few, and a tool once offered stays.
        synthesize: Offer ``create_tool``: the model may write Python tools, each call run in
            a bubblewrap sandbox (off by default; see docs/synthesis.md). A ``deny`` rule on
            ``create_tool`` forbids it even when on.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    permissions: Permissions = Field(default_factory=Permissions)
    max_denials: int = Field(default=3, ge=1)
    abandonment: str | None = None
    abandonment_seed: int | None = None
    doom_loop_n: int = Field(default=3, ge=0)
    transient_retries: int = Field(default=5, ge=0)
    call_retries: int = Field(default=3, ge=0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_wall_time_s: float | None = Field(default=None, gt=0)
    completion_check: bool = False
    failed_write_check: bool = True
    skip_known_failures: bool = True
    skip_repeated_writes: bool = True
    skip_repeated_reads: bool = False
    redraws: int = Field(default=0, ge=0)
    skip_ungrounded_writes: bool = False
    read_first: bool = False
    look_first: bool = False
    pinning: bool = True
    pin_file: Path | None = None
    text_replies: int = Field(default=2, ge=1)
    narrow_tools_over: int | None = Field(default=12, ge=1)
    narrow_tools_share: float | None = Field(default=None, gt=0)
    narrow_top_k: int = Field(default=8, ge=1)
    synthesize: bool = False

    @field_validator("abandonment")
    @classmethod
    def _known_personality(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_personality(value)
            except ConfigError as e:
                raise ValueError(str(e)) from None
        return value

    @field_validator("doom_loop_n")
    @classmethod
    def _not_one(cls, value: int) -> int:
        if value == 1:
            raise ValueError("a loop needs at least 2 repeats; use 2 or more, or 0 to turn detection off")
        return value
