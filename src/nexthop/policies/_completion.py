"""The completion check: the first time the model calls ``finish``, ask it to check its result first.

After Reflexion (Shinn et al. 2023, arXiv 2303.11366): a model that reflects on its
attempt against the task before committing catches some of its own mistakes. Here
the reflection is one verbal prompt, with no external evaluator, and bounded: at
most one check per run, so a model that finishes twice is never sent back again.
"""

from __future__ import annotations

from nexthop._trajectory import PolicyRecord
from nexthop.policies._base import RunPolicy, RunView, Verdict

__all__ = ["CompletionCheck"]


class CompletionCheck(RunPolicy):
    """Sends the model back once, at its first ``finish``, to check the result against the task.

    Records ``PolicyRecord(policy="completion_check", event="check", data={"result"})``
    on the step of the first ``finish`` and ``event="accepted"`` on the step of the
    second.
    """

    name = "completion_check"

    def __init__(self) -> None:
        self.checked_at: int | None = None

    def on_finish(self, view: RunView, result: str) -> Verdict:
        if self.checked_at is not None:
            accepted = PolicyRecord(policy=self.name, event="accepted", data={"checked_at": self.checked_at})
            return Verdict(records=(accepted,))
        self.checked_at = view.step_index
        return Verdict(
            kind="hint",
            policy=self.name,
            detail="asked the model to check its result against the task before finishing",
            hint=(
                f"Before finishing, check the result against the task: {view.trajectory.task}. "
                "If it fully meets it, call finish again with the result; otherwise continue."
            ),
            records=(PolicyRecord(policy=self.name, event="check", data={"result": result[:500]}),),
        )
