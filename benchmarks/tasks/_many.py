"""The extra real servers of ``--tools many``: 60+ tools, to measure tool selection at scale.

Issue 8 asks for success and prompt tokens with 7, 20 and 60+ tools. The filesystem and
SQLite servers give 20; these five reference servers, none written by us, bring the sum
past 60 (counted through nexthop, which also offers ``list_resources``/``read_resource``
for servers with resources):

- npm ``@modelcontextprotocol/server-memory``: a knowledge graph in ``memory.jsonl`` in the
  workspace (``MEMORY_FILE_PATH``), so nothing outlives the run;
- npm ``@modelcontextprotocol/server-everything`` (stdio): the protocol's demo tools;
- npm ``@modelcontextprotocol/server-sequential-thinking``: one thinking tool;
- PyPI ``mcp-server-git``, confined to the workspace (``--repository``), which is made a
  git repository first: without that flag the model could name any repository on the
  machine;
- PyPI ``mcp-server-time``.

The PyPI two run under mcp 2.x but are not nexthop's dependencies: ``setup_many.sh``
puts them in their own venv, as examples/setup.sh does for the SQLite server.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "MANY_NPM",
    "MEMORY_FILE",
    "SETUP_SCRIPT",
    "extra_servers",
    "many_venv",
    "prepare_workspace",
    "tool_count_line",
]

# Keep in step with setup_many.sh.
MANY_NPM = {
    "memory": "@modelcontextprotocol/server-memory@2026.8.31",
    "everything": "@modelcontextprotocol/server-everything@2026.8.31",
    "thinking": "@modelcontextprotocol/server-sequential-thinking@2026.8.31",
}
SETUP_SCRIPT = Path(__file__).with_name("setup_many.sh")
MEMORY_FILE = "memory.jsonl"


def many_venv() -> Path:
    """Where setup_many.sh put the git and time servers (``NEXTHOP_MANY_VENV`` or the user cache)."""
    return Path(os.environ.get("NEXTHOP_MANY_VENV") or Path.home() / ".cache/nexthop/many-servers-venv")


def extra_servers(workspace: Path) -> dict[str, tuple[str, list[str], dict[str, str]]]:
    """The extra servers for one run: name to (command, args, extra environment).

    Args:
        workspace: The run's workspace (absolute); every server's state stays inside it.

    Returns:
        The servers in the order they are offered.
    """
    bin_dir = many_venv() / "bin"
    return {
        "memory": ("npx", ["-y", MANY_NPM["memory"]], {"MEMORY_FILE_PATH": str(workspace / MEMORY_FILE)}),
        "git": (str(bin_dir / "mcp-server-git"), ["--repository", str(workspace)], {}),
        "time": (str(bin_dir / "mcp-server-time"), [], {}),
        "everything": ("npx", ["-y", MANY_NPM["everything"], "stdio"], {}),
        "thinking": ("npx", ["-y", MANY_NPM["thinking"]], {}),
    }


def prepare_workspace(workspace: Path) -> None:
    """Make the workspace a git repository, the one the git server is confined to.

    Raises:
        subprocess.CalledProcessError: ``git init`` failed.
    """
    subprocess.run(["git", "init", "--quiet", str(workspace)], check=True, capture_output=True)


def tool_count_line(servers: Iterable[str | None]) -> tuple[int, dict[str, int], str]:
    """Count tools per server, from each offered tool's server name.

    Args:
        servers: The ``server`` of each tool on offer, in order.

    Returns:
        The total, the count per server (in first-seen order), and a line such as
        ``tools on offer: 67 (fs 14, db 8, memory 11, ...)``.
    """
    per_server = dict(Counter(s or "?" for s in servers))
    total = sum(per_server.values())
    parts = ", ".join(f"{name} {n}" for name, n in per_server.items())
    return total, per_server, f"tools on offer: {total} ({parts})"
