"""The token budget: stop a run before a step once it has used its tokens.

Wall time is enforced by the loop itself (a cancel scope around the run, which also
cuts a slow tool call short) and steps by ``max_steps``; both end with the same
termination shapes as this one (``budget`` with ``{"budget": ..., "limit": ...}``).
"""

from __future__ import annotations

from nexthop.policies._base import RunPolicy, RunView, Verdict

__all__ = ["TokenBudget"]


class TokenBudget(RunPolicy):
    """Stops the run before a step once input plus output tokens reach ``limit``.

    It counts `Usage.total_tokens` of the run so far (input plus output, as the model
    clients report them; ``cached_input_tokens`` are not added again). The check runs
    before each model request, so a run may pass the limit by at most the tokens of its
    last step: the cost of a request is known only after it.

    Args:
        limit: Token budget for the run (tokens; `PolicyConfig.max_tokens`).
    """

    name = "budget"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def before_step(self, view: RunView) -> Verdict | None:
        used = view.usage.total_tokens
        if used < self.limit:
            return None
        return Verdict(
            kind="stop",
            policy=self.name,
            termination="budget",
            detail=f"the token budget of {self.limit} tokens ran out ({used} used)",
            evidence={"budget": "tokens", "limit": self.limit, "used": used},
        )
