"""The one interface every policy answers through, built-in or the user's own.

A `Policy` is configuration; ``start()`` gives a `RunPolicy` holding one run's state, so
concurrent runs (``nexthop serve``) never share it. The loop treats every run policy
alike and asks each, in order, at five points of a step:

- ``before_step(view)``: go on, or stop before the model is asked (budgets);
- ``filter_tools(view, tools)``: which tools to offer this step (tool pinning);
- ``check_call(view, call, tool)``: allow, ask a person, skip or deny one call (permissions);
- ``after_step(view, calls, observations)``: go on, hint, or stop once the tools ran;
- ``on_finish(view, result)``: when the model calls ``finish``; a hint sends it back.

Every answer is a value that carries what the policy wants kept on the step
(`PolicyRecord`\\ s), so nothing is passed in to be mutated. The first ``stop`` wins
and becomes the run's `TerminationReason`; hints are shown to the model with the
step's observations; for a call, ``deny`` beats ``skip`` beats ``ask`` beats ``allow``.

After the answer shape of smolagents' step callbacks and openai-agents' guardrails
(a result value with a tripwire), with typed ``kind`` discriminators.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any, Literal, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, PolicyRecord, TerminationKind, ToolCall, Trajectory, Usage

__all__ = ["ALLOW", "GO_ON", "CallVerdict", "Policy", "PolicyRecord", "RunPolicy", "RunView", "ToolOffer", "Verdict"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Verdict(BaseModel):
    """A policy's answer at a step: go on, hint, or stop, with what the step should keep.

    Attributes:
        kind: ``go_on`` (nothing to say beyond ``records``), ``hint`` (tell the model
            something, go on) or ``stop`` (end the run).
        policy: The policy's name; the loop fills in `RunPolicy.name` when empty.
        detail: One line for people: what happened.
        hint: For ``hint``: the text the model sees with the step's observations.
        termination: For ``stop``: the termination kind recorded in the result
            (``policy`` when none fits better).
        evidence: For ``stop``: machine-readable facts, recorded in the result.
        records: What the step should keep (draws, hints, blocks...).
    """

    model_config = _FROZEN
    kind: Literal["go_on", "hint", "stop"] = "go_on"
    policy: str = ""
    detail: str = ""
    hint: str = ""
    termination: TerminationKind | None = None
    evidence: dict[str, Any] = Field(default_factory=dict[str, Any])
    records: tuple[PolicyRecord, ...] = ()


GO_ON = Verdict()
"""The answer of a policy with nothing to say."""


class CallVerdict(BaseModel):
    """A policy's answer for one tool call, before it leaves the host.

    Attributes:
        kind: ``allow`` (run it), ``ask`` (run it only if the approver says yes),
            ``skip`` (do not run it, because it is known to fail: the model sees ``not
            run: <reason>`` as a failed call, not a refusal, so no person is asked and
            `DenialLimit` does not count it) or ``deny`` (refuse it: the model sees
            ``denied by policy: <reason>``).
        policy: The policy's name; the loop fills in `RunPolicy.name` when empty.
        reason: Why, in one line (shown to the model when refused, and to the approver).
        delay_s: Wait this long before running the call (seconds; the longest asked for
            wins), e.g. a backoff before retrying a call that failed transiently.
        records: What the step should keep.
    """

    model_config = _FROZEN
    kind: Literal["allow", "ask", "skip", "deny"] = "allow"
    policy: str = ""
    reason: str = ""
    delay_s: float = Field(default=0.0, ge=0.0)
    records: tuple[PolicyRecord, ...] = ()


ALLOW = CallVerdict()
"""The answer of a policy with no objection to a call."""


class ToolOffer(BaseModel):
    """A policy's answer to "which tools may the model see this step?".

    Attributes:
        tools: The tools to list, in order (a subset of those given, possibly with
            cleaned descriptions). A tool left out here is gone from the model's view.
        withheld: Names among ``tools`` the model may not call this step, though they
            stay listed: a one-step withholding that keeps the prompt the same, so the
            embedded model's KV cache of its prefix survives (the model's reply grammar
            leaves them out; API models are sent only the tools they may call).
        records: What the step should keep (e.g. a tool withheld, with why).
    """

    model_config = _FROZEN
    kind: Literal["tool_offer"] = "tool_offer"
    tools: tuple[ToolDef, ...]
    withheld: frozenset[str] = frozenset()
    records: tuple[PolicyRecord, ...] = ()

    @classmethod
    def withholding(cls, tools: Sequence[ToolDef], names: frozenset[str], policy: str, step: int) -> ToolOffer:
        """``tools``, those named withheld for this step, with a ``withheld`` record (``{"tools", "step"}``) if any.

        The doom loop and the skipping policies leave the tools a model keeps misusing
        out of one step's choices, and record it the same way. The tools stay listed:
        listing them again a step later would change the prompt twice, and the embedded
        model would evaluate its whole prefix (about 1,700 tokens with 22 tools) both times.
        """
        withheld = names & {t.name for t in tools}
        if not withheld:
            return cls(tools=tuple(tools))
        data = {"tools": sorted(withheld), "step": step}
        return cls(
            tools=tuple(tools), withheld=withheld, records=(PolicyRecord(policy=policy, event="withheld", data=data),)
        )


class RunView(BaseModel):
    """What a policy may read of the run: the trajectory so far and the costs.

    Attributes:
        trajectory: The run so far (do not modify); ``trajectory.task`` is the goal.
        usage: Tokens used so far.
        elapsed_s: Wall time since the run started (seconds).
        step_index: The step being decided (1-based).
        tool_share: Set for ``filter_tools`` only: the share of the model's context
            window that listing every tool on offer this step would take
            (`Model.tool_list_share`); None when the model cannot tell.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    trajectory: Trajectory
    usage: Usage
    elapsed_s: float
    step_index: int
    tool_share: float | None = None


class RunPolicy:
    """One run's state of a policy. Override the hooks the policy needs; the defaults say nothing.

    Attributes:
        name: The policy's name, written on its records and on a stop it causes.
        time_limit_s: Wall time after which the loop cuts the run short, whatever it is
            doing (a slow model request or tool call included), and asks this policy's
            ``before_step`` for the stop (seconds; ``inf``, the default, never).

    A `RunPolicy` is also a `Policy`: ``start()`` returns a deep copy, so one configured
    instance can be handed to ``AgentHost(policies=[...])`` and every run gets fresh
    state. Override ``start`` if the state cannot be copied.
    """

    name: str = "policy"
    time_limit_s: float = math.inf

    def start(self) -> Self:
        """Fresh state for one run: a deep copy of this instance."""
        return copy.deepcopy(self)

    def before_step(self, view: RunView) -> Verdict:
        """Called before the model is asked for step ``view.step_index``; a ``hint`` is ignored here."""
        return GO_ON

    def filter_tools(self, view: RunView, tools: Sequence[ToolDef]) -> ToolOffer:
        """Called each step with the tools on offer (``finish`` aside); may withhold or rewrite some."""
        return ToolOffer(tools=tuple(tools))

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        """Called for each call of a tool on offer whose arguments fit its schema, before it runs."""
        return ALLOW

    def foresee(self, view: RunView, call: ToolCall) -> str | None:
        """The outcome ``call`` is known to have without running it, or None; must change no state.

        The loop asks before it dispatches a step's calls: a call foreseen as futile
        (it would be skipped as a known failure, say) is drawn again (`RunSetup.redraws`).
        """
        return None

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        """Called once the step's tools ran; one observation per call, in order."""
        return GO_ON

    def on_finish(self, view: RunView, result: str) -> Verdict:
        """Called when the model calls ``finish`` with ``result``; a ``hint`` sends it back to work."""
        return GO_ON


@runtime_checkable
class Policy(Protocol):
    """What ``AgentHost(policies=[...])`` accepts: anything whose ``start()`` makes one run's `RunPolicy`."""

    def start(self) -> RunPolicy:
        """Fresh state for one run."""
        ...
