"""Typed values of a run: tool calls, observations, steps, the trajectory and the result.

They are pydantic models because they cross boundaries (``--json``, MCP resources,
memory passed between hosts). Every value carries a ``kind`` discriminator.
`Trajectory` is append-only: the loop never copies it, so a step costs the same at
step 200 as at step 10.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nexthop._recalled import RecalledRun, render_recalled
from nexthop._sanitize import clean_text, one_line

__all__ = [
    "Attempt",
    "Observation",
    "PolicyRecord",
    "RunResult",
    "RunStatus",
    "Step",
    "TerminationReason",
    "TerminationKind",
    "ToolCall",
    "Trajectory",
    "Usage",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")

# Some servers report a failure as a success: the SQLite reference server answers a bad
# statement with "Database error: no such table: city" and no isError. Only a label at
# the very start, followed by a colon, a dash or "executing", counts, so a file whose
# text begins "ERROR disk full", read back, is still a success.
_ERROR_LABEL = re.compile(r"\A\s*(?:[a-z]+ )?error(?:\s*:|\s+-|\s+executing\b)", re.IGNORECASE)


class Usage(BaseModel):
    """Tokens a model request cost.

    Attributes:
        input_tokens: Prompt tokens the provider billed or evaluated (tokens).
        output_tokens: Completion tokens (tokens).
        cached_input_tokens: Prompt tokens served from a cache, not evaluated again
            (tokens; the KV cache for the local model, prompt caching for providers).
        requests: Number of model requests.
    """

    model_config = _FROZEN
    kind: Literal["usage"] = "usage"
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            requests=self.requests + other.requests,
        )

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


class ToolCall(BaseModel):
    """One action: a call of a tool by its namespaced name (``<server>__<tool>``).

    Attributes:
        id: Identifier that pairs the call with its observation (provider-issued or generated).
        name: The tool's name as offered to the model.
        arguments: The arguments, a JSON object (``{}`` when they did not parse).
        invalid_arguments: The model's arguments text, as the model adapter received it,
            when it was not a JSON object (``arguments`` is then ``{}``); the host answers
            such a call with an error observation instead of running it.
    """

    model_config = _FROZEN
    kind: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    invalid_arguments: str | None = None


class Observation(BaseModel):
    """What one tool call returned.

    Attributes:
        call_id: The `ToolCall.id` this answers.
        content: The result as text, as the model sees it.
        is_error: True when the tool failed, timed out, crashed or was refused.
        denied: True when a policy (or the person it asked) refused the call; such an
            observation is also an error, but not a failure of the tool.
        skipped: True when a policy skipped the call as a known outcome
            (``CallVerdict(kind="skip")``): it did not run, and the observation is an
            error that says why. Policies that judge the work read past it: it is no
            new failure of the tool, and nothing changed.
        structured: The tool's structured content, when it returned any.
        duration_s: Wall time of the call (seconds).
    """

    model_config = _FROZEN
    kind: Literal["observation"] = "observation"
    call_id: str
    content: str
    is_error: bool = False
    denied: bool = False
    skipped: bool = False
    structured: dict[str, Any] | None = None
    duration_s: float = 0.0

    @property
    def failed(self) -> bool:
        """Whether the call failed: ``is_error``, or a result that starts with an error label.

        ``Error: ...``, ``Database error: ...``, ``Error - ...`` and ``Error executing
        tool ...`` at the very start count, flagged or not, because servers such as the
        SQLite reference server return failures as successes. Every reader of an outcome
        (the policies, the prompt's "ERROR" label, the terminal) asks this one property,
        so the model and the policies never disagree on whether a call failed.
        """
        return self.is_error or _ERROR_LABEL.match(self.content) is not None


class PolicyRecord(BaseModel):
    """What a policy recorded on a step, e.g. an abandonment draw ``{"p": 0.2, "roll": 0.73}``.

    Attributes:
        policy: The policy's name.
        event: What happened (``draw``, ``hint``, ``blocked`` ...).
        data: The facts, JSON-serialisable.
    """

    model_config = _FROZEN
    kind: Literal["policy_record"] = "policy_record"
    policy: str
    event: str
    data: dict[str, Any] = Field(default_factory=dict)


class Step(BaseModel):
    """One turn of the loop: the model's thought, its action(s) and what they observed.

    Attributes:
        index: 1-based step number.
        thought: The model's reasoning text before acting (may be empty).
        tool_calls: The calls the model made this step (several run concurrently).
        observations: One per call, in the same order.
        usage: Tokens this step's model request cost.
        duration_s: Wall time of the whole step, model plus tools (seconds).
        hint: A policy's note to the model, shown with this step's observations
            (e.g. a doom-loop correction); empty when none.
        records: What policies recorded at this step.
    """

    model_config = _FROZEN
    kind: Literal["step"] = "step"
    index: int
    thought: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    observations: tuple[Observation, ...] = ()
    usage: Usage = Usage()
    duration_s: float = 0.0
    hint: str = ""
    records: tuple[PolicyRecord, ...] = ()


TerminationKind = Literal[
    "completed", "gave_up", "max_steps", "error", "cancelled", "abandoned", "doom_loop", "budget", "denied", "policy"
]
RunStatus = Literal["completed", "incomplete", "error"]


class TerminationReason(BaseModel):
    """Why a run ended, machine-readable.

    Attributes:
        kind: ``completed`` (the model called ``finish`` or answered without a tool),
            ``gave_up`` (the model called ``finish`` with ``outcome: failed``: it
            says the task, or some part of it, is not done), ``max_steps`` (the step
            budget ran out), ``error`` (the model failed),
            ``cancelled`` (the caller cancelled); policies add ``abandoned``,
            ``doom_loop``, ``budget`` (tokens or wall time), ``denied``, and ``policy``
            (a user's policy stopped the run; ``policy`` and ``evidence`` say which and why).
        detail: One human-readable line.
        policy: The policy that stopped the run, if one did.
        evidence: Machine-readable facts behind the stop (e.g. ``{"budget": "tokens"}``).
    """

    model_config = _FROZEN
    kind: TerminationKind
    detail: str = ""
    policy: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)


class Trajectory(BaseModel):
    """The whole record of a run: the task and every step so far, in order.

    Each next action is generated from all of it. It is appended to, never copied.

    Attributes:
        task: The goal as the user gave it.
        context: What the caller already knows, given with the task (may be empty).
        memory: An earlier run handed over by whoever delegated this one (what was
            tried, what failed), after Autono's memory transfer between agents
            (arXiv 2504.04650); its steps are summarised to the model, not replayed.
        steps: Steps in order.
        reflection: For a failed attempt handed over as memory to a retry: what the model
            wrote on what went wrong (after Reflexion, Shinn et al. 2023, arXiv
            2303.11366); shown with the memory. Empty otherwise.
        recalled: Earlier runs of similar tasks from the run store, offered with the task
            when recall is on (long-term memory, beside ``memory``: the delegated or
            retried attempt of this same task); empty otherwise. They record which
            memories the run used (run ids, scores).
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["trajectory"] = "trajectory"
    task: str
    context: str = ""
    memory: Trajectory | None = None
    steps: list[Step] = Field(default_factory=list[Step])
    reflection: str = ""
    recalled: tuple[RecalledRun, ...] = ()

    def task_message(self) -> str:
        """The opening user message every model sees: the task, the caller's context, and the memory.

        All three may come from an MCP client (``run_task``), so they are cleaned here,
        where every provider builds its first message.
        """
        parts = [clean_text(self.task)]
        if self.context:
            parts.append(f"Context from the caller:\n{clean_text(self.context)}")
        if self.memory is not None:
            parts.append(_render_memory(self.memory))
        if self.recalled:
            parts.append(render_recalled(self.recalled))
        return "\n\n".join(parts)


class Attempt(BaseModel):
    """One earlier attempt of a run that was retried (``AgentHost.run(task, retries=N)``).

    Attributes:
        index: The attempt's number (1-based).
        status: Its status (``incomplete``: only early stops are retried).
        termination: Why it stopped.
        trajectory: Its steps; ``reflection`` holds what the model wrote on what went
            wrong. The next attempt got this trajectory as its memory.
        reflection: What the model wrote on what went wrong (empty if it could not say).
        usage: Tokens the attempt cost, its reflection included.
        wall_time_s: Wall time of the attempt and its reflection (seconds).
    """

    model_config = _FROZEN
    kind: Literal["attempt"] = "attempt"
    index: int
    status: RunStatus
    termination: TerminationReason
    trajectory: Trajectory
    reflection: str = ""
    usage: Usage = Usage()
    wall_time_s: float = 0.0


class RunResult(BaseModel):
    """What `AgentHost.run` returns, whatever the outcome.

    Attributes:
        status: ``completed`` when the task was finished, ``error`` when a model or host
            error stopped it, ``incomplete`` for every other early stop.
        result: The final answer text (from ``finish`` or the model's last reply); for
            ``gave_up``, the model's account of what is not done; empty after any other
            early stop.
        termination: Why the run ended.
        trajectory: Every step, including those before an early stop (of the last
            attempt, when the run was retried).
        usage: Tokens over the whole run (every attempt and reflection).
        wall_time_s: Wall time of the run (seconds; every attempt).
        attempts: The earlier attempts, oldest first, when the run was retried after
            early stops; this result is the attempt after the last of them. Empty when
            the first attempt's outcome stands.
    """

    model_config = _FROZEN
    kind: Literal["run_result"] = "run_result"
    status: RunStatus
    result: str
    termination: TerminationReason
    trajectory: Trajectory
    usage: Usage
    wall_time_s: float
    attempts: tuple[Attempt, ...] = ()

    @property
    def steps(self) -> list[Step]:
        """Shortcut for ``trajectory.steps``."""
        return self.trajectory.steps


def _render_memory(memory: Trajectory, limit: int = 300, depth: int = 4) -> str:
    task = one_line(memory.task, limit)
    # A retry's memory holds the attempt before it, which may hold its own: oldest first,
    # a few levels deep (memory may come from an MCP client, nested at will).
    earlier = memory.memory if depth > 1 else None
    lines = [_render_memory(earlier, limit, depth - 1)] if earlier is not None else []
    lines.append(f"Memory of an earlier attempt (task: {task}). What was tried and what happened:")
    start = len(lines)
    for step in memory.steps:
        for call, obs in zip(step.tool_calls, step.observations, strict=False):
            outcome = "FAILED" if obs.failed else "ok"
            name, arguments = one_line(call.name, 128), one_line(json.dumps(call.arguments, ensure_ascii=False), limit)
            lines.append(f"- step {step.index}: {name} {arguments} -> {outcome}: {one_line(obs.content, limit)}")
    if len(lines) == start:
        lines.append("- nothing was done")
    if memory.reflection:
        lines.append(f"Reflection on that attempt: {one_line(memory.reflection, 4 * limit)}")
    lines.append("Do not repeat what failed.")
    return "\n".join(lines)
