"""Which tool calls run freely, which need a person's approval, which are refused.

Autonomy levels after PraisonAI's ``suggest`` / ``auto_edit`` / ``full_auto``, and
rules in the manner of Claude Code's permission settings: ``deny``, ``ask`` and
``allow`` lists of glob patterns over ``<server>__<tool>``, evaluated in that order
(deny beats ask beats allow); a call no rule names falls to the autonomy level.

`Permissions` is the setting (a field of `PolicyConfig`, or a `Policy` of its own);
`PermissionCheck` answers each call through `RunPolicy.check_call`. Who is asked when
the answer is ``ask`` is the host's `Approver`, not a policy.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nexthop._toolset import ToolDef
from nexthop._trajectory import ToolCall
from nexthop.policies._base import CallVerdict, RunPolicy, RunView

__all__ = ["Autonomy", "PermissionCheck", "Permissions"]

Autonomy = Literal["suggest", "auto_edit", "full_auto"]


class Permissions(BaseModel):
    """Autonomy level plus allow / ask / deny rules.

    Attributes:
        autonomy: ``suggest``: every call needs approval. ``auto_edit``: calls to tools
            whose MCP annotations say ``readOnlyHint`` run freely, others need approval.
            ``full_auto`` (default): no approval unless a rule says ask.
        allow: Patterns that run without asking.
        ask: Patterns that need approval.
        deny: Patterns that are always refused.
    """

    model_config = ConfigDict(frozen=True)
    autonomy: Autonomy = "full_auto"
    allow: tuple[str, ...] = Field(default=())
    ask: tuple[str, ...] = Field(default=())
    deny: tuple[str, ...] = Field(default=())

    def decide(self, tool: ToolDef) -> CallVerdict:
        """The answer for a call of ``tool``: deny, then ask, then allow, then the autonomy level."""
        rules: tuple[tuple[Literal["deny", "ask", "allow"], tuple[str, ...]], ...] = (
            ("deny", self.deny),
            ("ask", self.ask),
            ("allow", self.allow),
        )
        for action, patterns in rules:
            matched = _match(tool.name, patterns)
            if matched is not None:
                return _verdict(action, f"{tool.name} matches the {action} rule {matched!r}")
        if self.autonomy == "full_auto":
            return _verdict("allow", "autonomy full_auto")
        if self.autonomy == "auto_edit" and (tool.annotations or {}).get("readOnlyHint") is True:
            return _verdict("allow", "autonomy auto_edit and the tool is read-only")
        return _verdict("ask", f"autonomy {self.autonomy} asks before {tool.name}")

    def start(self) -> PermissionCheck:
        """The run policy that answers each call with `decide`."""
        return PermissionCheck(self)


class PermissionCheck(RunPolicy):
    """Answers each tool call with its `Permissions`: allow, ask a person, or deny.

    Args:
        permissions: The autonomy level and rules.
    """

    name = "permissions"

    def __init__(self, permissions: Permissions) -> None:
        self.permissions = permissions

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        return self.permissions.decide(tool)


def _verdict(kind: Literal["allow", "ask", "deny"], reason: str) -> CallVerdict:
    return CallVerdict(kind=kind, policy=PermissionCheck.name, reason=reason)


def _match(name: str, patterns: Sequence[str]) -> str | None:
    return next((p for p in patterns if fnmatch.fnmatchcase(name, p)), None)
