"""An MCP server that asks its client things (sampling, elicitation, roots, logs), with resources and prompts.

In-memory (``make_server()``) or over stdio (``python features_server.py NAME``). Its
sampling, elicitation and roots go through ``Resolve(...)`` markers, which the SDK
sends as requests on 2025-11-25 and as input-required rounds on 2026-07-28.
"""

from __future__ import annotations

import sys
import warnings
from typing import Annotated, Literal

from mcp.server import MCPServer
from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit, ListRoots, Resolve, Sample
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import CreateMessageResult, ListRootsResult, SamplingMessage, TextContent
from pydantic import BaseModel, Field


class Booking(BaseModel):
    """The form ``book`` asks for: a string with a default, an enum, a bounded integer, a flag."""

    name: str = Field(default="Ada", description="Who is travelling")
    cabin: Literal["economy", "business"] = Field(default="economy", description="Cabin class")
    nights: int = Field(default=2, ge=1, le=14, description="How many nights")
    insurance: bool = Field(default=False, description="Add travel insurance?")


def _ask_summary(text: str) -> Sample:
    return Sample(
        [SamplingMessage(role="user", content=TextContent(type="text", text=f"Summarise: {text}"))],
        max_tokens=50,
        system_prompt="Be brief.",
    )


def _ask_greedy() -> Sample:
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text="say a lot"))], max_tokens=5000)


def _ask_booking() -> Elicit[Booking]:
    return Elicit("Book the trip?", Booking)


def _ask_roots() -> ListRoots:
    return ListRoots()


def make_server(name: str = "features") -> MCPServer:
    mcp = MCPServer(name)

    @mcp.tool()
    def summarise(text: str, summary: Annotated[CreateMessageResult, Resolve(_ask_summary)]) -> str:
        """Summarise text with the client's model."""
        content = summary.content
        return f"{summary.model}: {content.text if isinstance(content, TextContent) else '?'}"

    @mcp.tool()
    def greedy(reply: Annotated[CreateMessageResult, Resolve(_ask_greedy)]) -> str:
        """Ask the client's model for 5000 tokens."""
        return "sampled"

    @mcp.tool()
    def book(answer: Annotated[ElicitationResult[Booking], Resolve(_ask_booking)]) -> str:
        """Ask the user for booking details."""
        if answer.action != "accept":
            return f"not booked ({answer.action})"
        b = answer.data
        return f"booked {b.name} {b.cabin} {b.nights} nights insurance={b.insurance}"

    @mcp.tool()
    async def sign_in(ctx: Context) -> str:
        """Ask the user to visit a URL (URL-mode elicitation; 2025-11-25 only)."""
        result = await ctx.elicit_url("Sign in to the example service", "https://example.com/login", "e-1")
        return f"url {result.action}"

    @mcp.tool()
    def roots(listed: Annotated[ListRootsResult, Resolve(_ask_roots)]) -> str:
        """The client's roots, one URI a line."""
        return "\n".join(str(r.uri) for r in listed.roots) or "(none)"

    @mcp.tool()
    async def chatty(ctx: Context) -> str:
        """Log two messages while working."""
        with warnings.catch_warnings():  # logging is deprecated in 2026-07-28, still sent when asked for
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await ctx.info("starting the work")  # pyright: ignore[reportDeprecated]
            await ctx.warning("almost out of coffee")  # pyright: ignore[reportDeprecated]
        return "done"

    @mcp.resource("notes://today", name="today", mime_type="text/plain", description="Today's notes")
    def today() -> str:
        return "buy milk; call Bob"

    @mcp.resource("notes://day/{day}", name="day", mime_type="text/plain")
    def day(day: str) -> str:
        return f"notes for {day}"

    @mcp.prompt()
    def review(language: str, focus: str = "bugs") -> str:
        """Review code in a language."""
        return f"Review this {language} code, looking for {focus}."

    return mcp


if __name__ == "__main__":
    make_server(sys.argv[1] if len(sys.argv) > 1 else "features").run()
