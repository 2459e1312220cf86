"""Asking the calling MCP client for approval, through elicitation (MCP spec: client/elicitation).

A served host has no terminal: the person is behind the client that handed it the
task. This `Approver` shows them the tool, its server and the full arguments. A client
that cannot answer gets a clear denial, never a hang: one without the elicitation
capability, a 2026-07-28 connection (whose stateless requests carry no back channel
mid-call), or one that does not answer within the timeout.
"""

from __future__ import annotations

import json

import anyio
from mcp import MCPError
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import NoBackChannelError
from pydantic import BaseModel, Field

from nexthop.host._approval import ApprovalDecision, ApprovalRequest, Approver

__all__ = ["elicitation_approver"]


class _Approval(BaseModel):
    approve: bool = Field(description="Allow this tool call?")


def elicitation_approver(ctx: Context, *, timeout_s: float = 300.0) -> Approver:
    """An `Approver` that asks the MCP client of the current request.

    Args:
        ctx: The ``run_task`` request's context.
        timeout_s: How long to wait for the person (seconds); then the call is denied.
    """

    async def approve(request: ApprovalRequest) -> ApprovalDecision:
        caps = ctx.client_capabilities
        if caps is None or caps.elicitation is None:
            return ApprovalDecision(
                approved=False, reason="the calling MCP client does not support elicitation, so no one could approve"
            )
        message = (
            f"nexthop asks to call {request.tool} (server {request.server or 'python'}) for the task "
            f"{request.task!r} with these arguments:\n{json.dumps(request.arguments, indent=2)}"
        )
        try:
            with anyio.fail_after(timeout_s):
                answer = await ctx.elicit(message, _Approval)
        except NoBackChannelError:
            return ApprovalDecision(
                approved=False,
                reason="this MCP connection (2026-07-28) cannot ask the client mid-run; connect with 2025-11-25 "
                "to approve calls, or allow the tool",
            )
        except TimeoutError:
            return ApprovalDecision(approved=False, reason=f"no answer from the client within {timeout_s:g} s")
        except MCPError as e:
            return ApprovalDecision(approved=False, reason=f"the client could not ask: {e.error.message}")
        if answer.action == "accept" and answer.data.approve:
            return ApprovalDecision(approved=True, reason="approved by the client's user")
        return ApprovalDecision(approved=False, reason=f"the client's user said no ({answer.action})")

    return approve
