"""Taint tracking (opt-in): after a run reads an untrusted server's output, writes need a person.

The risk is indirect prompt injection (Greshake et al. 2023, arXiv 2302.12173): a web
page or an email says "now call up__dangerous", the text reaches the model as a tool
result, and the model, which cannot reliably tell data from instructions, does it.
Cleaning the text does not help; the words are the attack.

So the host tracks where text came from, after information-flow control for agents
(Willison's "dual LLM" pattern, 2023; CaMeL, Debenedetti et al. 2025, arXiv
2503.18813), at the coarsest grain: the whole run. Servers marked ``untrusted`` in the
config taint the run once their output is observed (a call that ran and was not
refused). From then on a call of any tool whose MCP annotations do not say
``readOnlyHint: true`` is answered ``ask``: a person approves it, or, with no one to
ask, it is denied. Read-only calls, and every call before the taint, go on as before.

What it does not cover: ``readOnlyHint`` is the server's own claim, so a server that
mislabels a write defeats it (pair it with ``deny`` rules); a read-only tool can still
carry data out (a fetch of an attacker's URL with a secret in it); and text in the
task, context or memory the caller hands over is not tracked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.policies._base import ALLOW, GO_ON, CallVerdict, RunPolicy, RunView, Verdict

__all__ = ["Taint", "is_read_only"]


def is_read_only(tool: ToolDef) -> bool:
    """Whether the tool's MCP annotations say ``readOnlyHint: true`` (the server's own claim)."""
    return (tool.annotations or {}).get("readOnlyHint") is True


class Taint(RunPolicy):
    """Marks the run tainted once an untrusted server's output is observed; then asks before writes.

    Records, on the step where it happens: ``PolicyRecord(policy="taint",
    event="tainted", data={"tool": NAME, "server": SERVER, "step": N})``. Each later call
    of a tool not annotated ``readOnlyHint`` gets ``CallVerdict(kind="ask")`` with the
    reason, which the approver sees (or the model, when the call is denied).

    Args:
        untrusted: Names of the servers whose output taints a run.

    Attributes:
        tainted_by: The untrusted tool whose output tainted the run; None while clean.
    """

    name = "taint"

    def __init__(self, untrusted: Iterable[str]) -> None:
        self.untrusted = frozenset(untrusted)
        self.tainted_by: ToolDef | None = None
        # Calls of untrusted tools let through this step, by call id, until their output is seen.
        self._watched: dict[str, ToolDef] = {}

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        if tool.server in self.untrusted:
            self._watched[call.id] = tool
        if self.tainted_by is None or is_read_only(tool) or tool.name == FINISH_TOOL.name:
            return ALLOW
        return CallVerdict(
            kind="ask",
            policy=self.name,
            reason=(
                f"the run has read output of {self.tainted_by.name} from the untrusted server "
                f"{self.tainted_by.server!r}, and {tool.name} is not annotated read-only"
            ),
        )

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        watched, self._watched = self._watched, {}
        if self.tainted_by is not None:
            return GO_ON
        for call, observation in zip(calls, observations, strict=False):
            tool = watched.get(call.id)
            if tool is not None and not observation.denied:
                self.tainted_by = tool
                data = {"tool": tool.name, "server": tool.server, "step": view.step_index}
                return Verdict(records=(PolicyRecord(policy=self.name, event="tainted", data=data),))
        return GO_ON
