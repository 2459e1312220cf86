"""Stop a run that keeps being refused: after N denied calls the reason is ``denied``."""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.policies._base import RunPolicy, RunView, Verdict

__all__ = ["DenialLimit"]


class DenialLimit(RunPolicy):
    """Counts calls the permissions denied (their `PolicyRecord`); stops at ``limit``.

    Args:
        limit: Denials in one run that end it (default 3): past that, the model is
            not learning from "denied by policy" and a person should look.
    """

    name = "denials"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.denied: list[str] = []

    def after_step(
        self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation], records: list[PolicyRecord]
    ) -> Verdict | None:
        self.denied += [str(r.data.get("tool")) for r in records if r.policy == "permissions" and r.event == "denied"]
        if len(self.denied) < self.limit:
            return None
        return Verdict(
            kind="stop",
            policy=self.name,
            termination="denied",
            detail=f"{len(self.denied)} tool calls were denied by policy; stopping so a person can look",
            evidence={"denied": self.denied, "limit": self.limit},
        )
