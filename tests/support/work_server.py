"""A stdio MCP server with one tool, ``work(label)``, for the durable-run tests.

Run as ``python work_server.py LOG [HANG] [DELAY]`` (a stdio server gets no
environment of ours, so settings come as arguments). Each call appends
``<label> <pid>`` to LOG before it answers, so a test sees which calls ran and how
often. A call whose label is in HANG (comma-separated) hangs after logging, so a test
can kill the run while that call is in flight; DELAY (seconds) slows every call.
"""

from __future__ import annotations

import os
import sys

import anyio
from mcp.server import MCPServer

mcp = MCPServer("work")


@mcp.tool()
async def work(label: str) -> str:
    """Do some work and say which."""
    with open(sys.argv[1], "a") as log:  # noqa: ASYNC230 - one line, written before any hang
        log.write(f"{label} {os.getpid()}\n")
    if label in (sys.argv[2] if len(sys.argv) > 2 else "").split(","):
        await anyio.sleep_forever()
    await anyio.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
    return f"done {label}"


if __name__ == "__main__":
    mcp.run()
