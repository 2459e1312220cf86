"""Stop a run that keeps being refused: after N denied calls the reason is ``denied``."""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._trajectory import Observation, ToolCall
from nexthop.policies._base import GO_ON, RunPolicy, RunView, Verdict

__all__ = ["DenialLimit"]


class DenialLimit(RunPolicy):
    """Counts refused calls (observations with ``denied``); stops at ``limit``.

    Args:
        limit: Denials in one run that end it (default 3): past that, the model is
            not learning from "denied by policy" and a person should look.
    """

    name = "denials"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.denied: list[str] = []

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        self.denied += [c.name for c, o in zip(calls, observations, strict=False) if o.denied]
        if len(self.denied) < self.limit:
            return GO_ON
        return Verdict(
            kind="stop",
            policy=self.name,
            termination="denied",
            detail=f"{len(self.denied)} tool calls were denied by policy; stopping so a person can look",
            evidence={"denied": list(self.denied), "limit": self.limit},
        )
