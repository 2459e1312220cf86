"""Which tool calls run freely, which need a person's approval, which are refused.

Autonomy levels after PraisonAI's ``suggest`` / ``auto_edit`` / ``full_auto``, and
rules in the manner of Claude Code's permission settings: ``deny``, ``ask`` and
``allow`` lists of glob patterns over ``<server>__<tool>``, evaluated in that order
(deny beats ask beats allow); a call no rule names falls to the autonomy level.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nexthop._toolset import ToolDef

__all__ = ["Autonomy", "Permissions", "Rule"]

Autonomy = Literal["suggest", "auto_edit", "full_auto"]


class Rule(BaseModel):
    """The permission for one call: what to do and why (the why is shown when refused)."""

    model_config = ConfigDict(frozen=True)
    action: Literal["allow", "ask", "deny"]
    reason: str


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

    def decide(self, tool: ToolDef) -> Rule:
        """The rule for a call of ``tool``: deny, then ask, then allow, then the autonomy level."""
        for action, patterns in (("deny", self.deny), ("ask", self.ask), ("allow", self.allow)):
            matched = _match(tool.name, patterns)
            if matched is not None:
                return Rule(action=action, reason=f"{tool.name} matches the {action} rule {matched!r}")  # pyright: ignore[reportArgumentType]
        if self.autonomy == "full_auto":
            return Rule(action="allow", reason="autonomy full_auto")
        if self.autonomy == "auto_edit" and (tool.annotations or {}).get("readOnlyHint") is True:
            return Rule(action="allow", reason="autonomy auto_edit and the tool is read-only")
        return Rule(action="ask", reason=f"autonomy {self.autonomy} asks before {tool.name}")


def _match(name: str, patterns: Sequence[str]) -> str | None:
    return next((p for p in patterns if fnmatch.fnmatchcase(name, p)), None)
