"""nexthop as an MCP server: other hosts hand it a whole task with ``run_task``.

One `MCPServer` wraps one connected `AgentHost`. Each ``run_task`` call is its own
run (its own trajectory) over the host's shared server connections, so concurrent
calls are isolated and one slow run holds up no other. Every run stays readable as
the resource ``nexthop://runs/{run_id}``; memory can be passed between hosts as a
trajectory or a run URI (after Autono's memory transfer, arXiv 2504.04650).
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp_types import CallToolResult, ResourceLink, TextContent
from pydantic import BaseModel, Field

from nexthop._sanitize import clean_text, one_line
from nexthop._trajectory import RunStatus, Step, TerminationReason, Trajectory, Usage
from nexthop.host._host import AgentHost
from nexthop.host._loop import RunEvent
from nexthop.servers._elicit import CallerQuestions, InputBridge
from nexthop.servers._runs import RUN_URI_PREFIX, RunRecord, RunRegistry
from nexthop.servers._status import add_status_resource

__all__ = ["RunTaskOutput", "build_server", "describe_host"]


class RunTaskOutput(BaseModel):
    """The structured result of ``run_task``.

    Attributes:
        status: ``completed``, ``incomplete`` or ``error``.
        result: The final answer text (empty unless completed).
        termination: Why the run ended (``kind`` and a one-line ``detail``).
        steps: How many steps the run took.
        usage: Tokens the run cost.
        run_uri: ``nexthop://runs/{run_id}``: read it for the whole trajectory.
    """

    status: RunStatus
    result: str
    termination: TerminationReason
    steps: int
    usage: Usage
    run_uri: str


def describe_host(host: AgentHost, tool_summaries: dict[str, list[str]]) -> str:
    """One paragraph a calling agent can read to decide what to delegate.

    Args:
        host: The connected host.
        tool_summaries: Tool names by server name (namespaced), as listed now.
    """
    lines = [
        "nexthop runs whole tasks with its own model and MCP servers: call run_task with a goal "
        "in plain language; it plans nothing up front and adapts as tools succeed or fail.",
        f"Model: {host.model.name}.",
    ]
    if tool_summaries:
        lines.append("Connected MCP servers and their tools:")
        for server, names in tool_summaries.items():
            # Names as servers gave them (the policies withhold bad ones only in a run): cleaned for the caller's model.
            shown = ", ".join(one_line(n.split("__", 1)[-1], 128) for n in names[:12])
            more = f" and {len(names) - 12} more" if len(names) > 12 else ""
            lines.append(f"- {one_line(server, 128)}: {shown}{more}")
    else:
        lines.append("No MCP servers are connected; only the model's own knowledge is available.")
    lines.append(f"Every run is readable afterwards as the resource {RUN_URI_PREFIX}{{run_id}}.")
    return "\n".join(lines)


async def build_server(host: AgentHost, *, registry: RunRegistry | None = None, name: str = "nexthop") -> MCPServer:
    """Build the MCP server for a connected host.

    Args:
        host: An `AgentHost` already entered (its servers connected).
        registry: Where runs are kept; a new one by default.
        name: The server's name as clients see it.

    Returns:
        An `MCPServer` with the tool ``run_task`` and the run resources; run it over
        stdio or mount it over HTTP (see `nexthop.servers.serve_stdio`, `serve_http`).
    """
    runs = registry or RunRegistry()
    summaries: dict[str, list[str]] = {}
    for t in await host.list_tools():
        summaries.setdefault(t.server or "python", []).append(t.name)
    description = describe_host(host, summaries)
    from nexthop import __version__

    bridge = InputBridge()  # keeps 2026-07-28 runs alive between the rounds of their questions
    server = MCPServer(
        name, instructions=description, log_level="WARNING", version=__version__, lifespan=bridge.lifespan
    )

    @server.tool(name="run_task", description=description)
    async def run_task(
        task: Annotated[str, Field(description="The goal, in plain language.")],
        ctx: Context,
        context: Annotated[str, Field(description="What you already know that helps (optional).")] = "",
        memory: Annotated[
            Trajectory | str | None,
            Field(
                description="An earlier run to continue from: its trajectory (JSON), or the URI "
                "nexthop://runs/{run_id} of a run on this host. The run is told what was tried and what failed."
            ),
        ] = None,
        max_steps: Annotated[int | None, Field(ge=1, description="Step budget (default: the host's).")] = None,
        retries: Annotated[
            int,
            Field(
                ge=0,
                le=3,
                description="Retry a run that stops early (a loop, abandoned, a budget) up to this many times, "
                "each told what failed and why (default 0).",
            ),
        ] = 0,
    ) -> Annotated[CallToolResult, RunTaskOutput]:
        """Run a whole task and return its outcome; progress is reported once per step."""
        if bridge.uses_rounds(ctx) and ctx.request_state:  # 2026-07-28: an answer for a run under way
            return await bridge.drive(ctx, None)  # pyright: ignore[reportReturnType]
        # From an MCP client: cleaned where it enters, so no record, hint or model sees it raw.
        task, context = clean_text(task), clean_text(context)
        recalled = _recall(memory, runs)
        record = runs.start(task, context, recalled)

        async def on_event(event: RunEvent) -> None:
            record.observe(event)
            if isinstance(event, Step):
                with contextlib.suppress(Exception):  # a 2026-07-28 first round may have returned already
                    await ctx.report_progress(event.index, None, _progress_line(event))

        async def run(ask: CallerQuestions) -> CallToolResult:
            # The person behind the client approves calls and answers upstream servers' questions.
            await host.run(
                task,
                context=context,
                memory=recalled,
                max_steps=max_steps,
                on_event=on_event,
                approver=ask.approve,
                retries=retries,
                elicitor=ask.elicit,
                approve_sampling=ask.approve_sampling,
                run_id=record.run_id,  # with a run store, the recorded run has the resource's id
            )
            return _tool_result(record)

        if bridge.uses_rounds(ctx):
            return await bridge.drive(ctx, run)  # pyright: ignore[reportReturnType]
        return await run(CallerQuestions(ctx))

    @server.resource(f"{RUN_URI_PREFIX}{{run_id}}", mime_type="application/json", name="run")
    async def read_run(run_id: str) -> str:
        """A run's full record: task, state, trajectory and result, as JSON."""
        record = await runs.find(run_id)  # this host's, else the run store's (any worker's, any restart)
        if record is None:
            raise ResourceNotFoundError(
                f"no run {run_id!r} on this host (it may be older than the last {runs.keep} runs)"
            )
        return record.model_dump_json()

    @server.resource("nexthop://runs", mime_type="application/json", name="recent runs")
    def list_runs() -> str:
        """The recent runs, newest first: uri, task, state and status."""
        return json.dumps(
            [
                {
                    "uri": r.uri,
                    "task": r.task,
                    "state": r.state,
                    "status": r.result.status if r.result else None,
                    "steps": len(r.trajectory.steps),
                }
                for r in runs.recent()
            ]
        )

    add_status_resource(server, host)
    server.runs = runs  # type: ignore[attr-defined]  # for tests and the CLI
    return server


def _recall(memory: Trajectory | str | None, runs: RunRegistry) -> Trajectory | None:
    if memory is None or isinstance(memory, Trajectory):
        return memory
    record = runs.get(memory)
    if record is None:
        raise ToolError(
            f"memory {memory!r} is not a run on this host; pass a trajectory, or a URI like {RUN_URI_PREFIX}<run_id>"
        )
    return record.trajectory


def _progress_line(step: Step) -> str:
    calls: list[str] = []
    for call, obs in zip(step.tool_calls, step.observations, strict=False):
        calls.append(f"{call.name} {'failed' if obs.is_error else 'ok'}")
    return f"step {step.index}: " + (", ".join(calls) or "answered")


def _tool_result(record: RunRecord) -> CallToolResult:
    result = record.result
    assert result is not None
    output = RunTaskOutput(
        status=result.status,
        result=result.result,
        termination=result.termination,
        steps=len(result.steps),
        usage=result.usage,
        run_uri=record.uri,
    )
    summary = f"{result.termination.kind} after {len(result.steps)} steps: {result.result or result.termination.detail}"
    return CallToolResult(
        content=[
            TextContent(type="text", text=summary),
            ResourceLink(
                type="resource_link", uri=record.uri, name=f"run {record.run_id}", mime_type="application/json"
            ),
        ],
        structured_content=output.model_dump(mode="json"),
        is_error=result.status == "error",
    )
