"""The host's side of servers' questions: its model answers sampling, and each run records what servers did.

`model_sampler` turns the host's `Model` into the provider-neutral `Sampler` that
clients/ calls for ``sampling/createMessage``. `RunServerEvents` is one run's
`RunBinding`: it collects the events of servers working for that run (sampling,
elicitation, logs, progress), refuses a sampling request the run's token budget
cannot pay for, and is drained by the loop after each step's tool calls, so the
sampled tokens count in the step's and the run's usage (and so in the token budget)
and the step's records say which server sampled.
"""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._toolset import FINISH_TOOL
from nexthop._trajectory import PolicyRecord, Trajectory, Usage
from nexthop.clients._callbacks import (
    Elicitor,
    RunBinding,
    Sampler,
    SamplingApprover,
    SamplingEvent,
    SamplingReply,
    SamplingRequest,
    ServerEvent,
    ServerProgress,
)
from nexthop.models._model import Model, ModelRequest, ModelSettings

__all__ = ["RECORD_POLICY", "RunServerEvents", "model_sampler"]

RECORD_POLICY = "mcp_servers"
"""The ``policy`` name on step records of what servers did (``event`` is the event's kind)."""
_PROGRESS_KEPT = 20
"""Progress notifications recorded per step (the latest); the rest are only shown to observers."""


def model_sampler(model: Model, settings: ModelSettings) -> Sampler:
    """A `Sampler` that answers with ``model``: the server's messages become the task, no tools but ``finish``.

    ``finish`` is offered because some providers (the local model's grammar) always
    call a tool; its ``result`` is then the reply.
    """

    async def sample(request: SamplingRequest) -> SamplingReply:
        text = "\n\n".join(f"{role}: {content}" for role, content in request.messages)
        response = await model.request(
            ModelRequest(
                instructions=request.system_prompt or "Answer the request below directly.",
                trajectory=Trajectory(task=text),
                tools=[FINISH_TOOL],
                settings=settings.model_copy(
                    update={
                        "max_output_tokens": min(request.max_tokens, settings.max_output_tokens),
                        "temperature": request.temperature if request.temperature is not None else settings.temperature,
                    }
                ),
            )
        )
        finish = next((c for c in response.tool_calls if c.name == FINISH_TOOL.name), None)
        reply = finish.arguments.get("result", "") if finish is not None else response.thought
        return SamplingReply(text=str(reply), model=model.name, usage=response.usage)

    return sample


class RunServerEvents:
    """What servers did for one run, held until the loop drains it into the step.

    Args:
        trajectory: The run's trajectory (its steps' usage is what the run spent so far).
        max_tokens: The run's token budget; None is unlimited.
        elicitor: Who this run's elicitations go to (None: the host's).
        approve_sampling: Who approves sampling under ``ask`` for this run (None: the host's).
    """

    def __init__(
        self,
        trajectory: Trajectory,
        max_tokens: int | None = None,
        *,
        elicitor: Elicitor | None = None,
        approve_sampling: SamplingApprover | None = None,
    ) -> None:
        self.trajectory = trajectory
        self.max_tokens = max_tokens
        self._events: list[ServerEvent] = []
        self.binding = RunBinding(
            record=self._events.append,
            elicitor=elicitor,
            approve_sampling=approve_sampling,
            tokens_left=self.tokens_left,
        )

    def tokens_left(self) -> int | None:
        """Tokens the run may still spend: its budget less every step's usage and sampling not yet drained."""
        if self.max_tokens is None:
            return None
        used = sum(s.usage.total_tokens for s in self.trajectory.steps)
        used += sum(e.usage.total_tokens for e in self._events if isinstance(e, SamplingEvent))
        return self.max_tokens - used

    def drain(self) -> tuple[Usage, list[PolicyRecord]]:
        """The tokens servers' sampling cost since the last drain, and one record per event."""
        events, self._events[:] = list(self._events), []
        usage = Usage()
        for e in events:
            if isinstance(e, SamplingEvent):
                usage = usage + e.usage
        return usage, records_of(events)


def records_of(events: Sequence[ServerEvent]) -> list[PolicyRecord]:
    """Step records for server events: policy `RECORD_POLICY`, event = the event's kind, data = its fields."""
    progress = [e for e in events if isinstance(e, ServerProgress)][-_PROGRESS_KEPT:]
    kept = [e for e in events if not isinstance(e, ServerProgress) or e in progress]
    return [
        PolicyRecord(policy=RECORD_POLICY, event=e.kind, data=e.model_dump(mode="json", exclude={"kind"})) for e in kept
    ]
