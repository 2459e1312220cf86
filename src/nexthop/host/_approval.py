"""Asking a person before a tool call: the request, the answer, and who is asked.

Which calls need approval is a policy's decision (an ``ask`` list of glob patterns
over ``<server>__<tool>``, in the manner of Claude Code's permission rules); who is
asked is an `Approver`: a Python callback, the person at the CLI, or, when nexthop
is served, the calling MCP client through elicitation. A call that is not approved
becomes an observation the model sees; with no one to ask, the answer is no.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["ApprovalDecision", "ApprovalRequest", "Approver"]


class ApprovalRequest(BaseModel):
    """What a person is asked to approve.

    Attributes:
        tool: The namespaced tool name, e.g. ``fs__write_file``.
        server: The server it belongs to (None for Python tools).
        arguments: The full arguments of the call.
        description: The tool's description, to show beside the call.
        task: The task of the run making the call.
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["approval_request"] = "approval_request"
    tool: str
    server: str | None
    arguments: dict[str, Any]
    description: str = ""
    task: str = ""


class ApprovalDecision(BaseModel):
    """The answer: approved or not, and why (shown to the model when denied)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["approval_decision"] = "approval_decision"
    approved: bool
    reason: str = ""


Approver = Callable[[ApprovalRequest], Awaitable[ApprovalDecision]]
"""Who is asked: an async function from request to decision. It must answer, never hang."""
