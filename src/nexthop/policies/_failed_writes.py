"""The failed-write check: a ``finish`` that follows a failed change, never redone, is sent back once.

A small model may call ``finish`` claiming work that is not done: in the task benchmark
at c67d8da, 10 of nexthop's 26 failed runs ended that way. Where the claim follows a write
that failed, the trajectory already holds the evidence, so no model is asked to judge:
if the last call of some writing tool failed and no later call of that tool succeeded,
the model is shown which one and sent back, once per run. A second ``finish`` is
accepted, so a change that cannot be made (the user denied it, the server refuses it)
still ends the run with the model's account.

A failure is read with `classify`, so a result that starts with an error label
("Database error: no such table: city" from the SQLite reference server, which sets no
``isError``) counts as one.

Two failures do not count. A skipped call (`classify` says ``skipped``) did not run: the
failure it repeats is already counted, and quoting the skip nested its text in the hint.
A failure that says its target already exists ("table notes already exists") made no
change, but its goal may hold: at 31c02b9 that hint refused the ``finish`` of a run
whose work was done, and it went on to insert the row four more times.

Unlike the completion check (after Reflexion), which asks the model to reflect on every
first ``finish``, this speaks only when the run's own observations contradict it. Measured
(benchmarks/tasks/results/README.md): it is silent on most false completions, which follow
a write that succeeded but did the wrong thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._sanitize import one_line
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.policies._base import ALLOW, GO_ON, CallVerdict, RunPolicy, RunView, Verdict
from nexthop.policies._transient import WriteTools, already_exists, classify

__all__ = ["FailedWriteCheck"]

_HINT = (
    "Not finished: {tool} failed at step {step} ({error}), and no call of {tool} has succeeded since, so that "
    "change was not made. If the task needs it, make it now, fixing what the error says; if it cannot be done, "
    "call finish again and say what failed."
)


class FailedWriteCheck(RunPolicy):
    """Sends the model back once when it finishes with a failed write never redone.

    A write is a call of a tool `is_write` says changes state. A failure is any failure
    `classify` finds but a denial (a person or a policy refused it: sending the model
    back would only ask again). The hint records ``PolicyRecord(policy=
    "failed_write_check", event="check", data={"tool", "step"})`` on the step of the
    ``finish`` it sends back.
    """

    name = "failed_write_check"

    def __init__(self) -> None:
        self.asked = False
        self._writes = WriteTools()
        self._failed: dict[str, tuple[int, str]] = {}  # tool -> (step, error) of its last call, if that failed

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        self._writes.note(call.name, tool)
        return ALLOW

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        for call, obs in zip(calls, observations, strict=False):
            outcome = classify(obs)  # the doom loop's reading
            if call.name == FINISH_TOOL.name or not self._writes.writes(call.name) or outcome in ("denied", "skipped"):
                continue
            if already_exists(obs):  # no change, but the goal may hold: no news either way
                continue
            if outcome != "ok":
                self._failed[call.name] = (view.step_index, obs.content)
            else:
                self._failed.pop(call.name, None)
        return GO_ON

    def on_finish(self, view: RunView, result: str) -> Verdict:
        if self.asked or not self._failed:
            return GO_ON
        self.asked = True
        tool, (step, error) = max(self._failed.items(), key=lambda item: item[1][0])  # the latest failure
        return Verdict(
            kind="hint",
            policy=self.name,
            detail=f"finish after {tool} failed at step {step} and was not redone",
            hint=_HINT.format(tool=tool, step=step, error=one_line(error, 200)),
            records=(PolicyRecord(policy=self.name, event="check", data={"tool": tool, "step": step}),),
        )
