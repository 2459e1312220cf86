"""A file tree in memory, served over MCP, for the policies that judge failed writes.

``Folders()`` holds ``data.csv`` at the top and no folders; ``Folders().connection`` is an
`MCPConnection` named ``fs`` with these tools, each counted in ``calls``:

- ``move_file(source, destination)``: fails with the filesystem server's ENOENT text when
  the destination's folder does not exist;
- ``create_directory(path)``: makes the folder;
- ``read_text_file(path)``: ``"a,b"`` for a file that exists, else ENOENT;
- ``list_directory(path)``: the files; its first ``flaky_left`` calls fail transiently
  ("temporarily unavailable, try again").

``Folders(annotated=True)`` marks the tools as the reference filesystem server does:
the reads ``readOnlyHint: true`` and ``openWorldHint: false``, the writes
``readOnlyHint: false``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import PurePosixPath

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from nexthop.clients import MCPConnection


class Folders:
    """The tree, its call counts and its MCP connection; see the module docstring."""

    def __init__(self, flaky_left: int = 0, *, annotated: bool = False) -> None:
        self.calls: Counter[str] = Counter()
        self.flaky_left = flaky_left
        self.dirs: set[str] = set()
        self.files = {"data.csv"}
        server = MCPServer("fs")
        read = ToolAnnotations(read_only_hint=True, open_world_hint=False) if annotated else None
        write = ToolAnnotations(read_only_hint=False, open_world_hint=False) if annotated else None
        server.tool(annotations=write)(self.move_file)
        server.tool(annotations=write)(self.create_directory)
        server.tool(annotations=read)(self.read_text_file)
        server.tool(annotations=read)(self.list_directory)
        self.connection = MCPConnection("fs", server)

    def move_file(self, source: str, destination: str) -> str:
        """Move a file."""
        self.calls["move_file"] += 1
        if str(PurePosixPath(destination).parent) not in (".", *self.dirs):
            raise ToolError(f"ENOENT: no such file or directory, rename '{source}' -> '{destination}'")
        self.files.discard(source)
        self.files.add(destination)
        return f"Successfully moved {source} to {destination}"

    def create_directory(self, path: str) -> str:
        """Create a folder."""
        self.calls["create_directory"] += 1
        self.dirs.add(path)
        return f"Successfully created directory {path}"

    def read_text_file(self, path: str) -> str:
        """Read a file."""
        self.calls["read_text_file"] += 1
        if path not in self.files:
            raise ToolError(f"ENOENT: no such file or directory, open '{path}'")
        return "a,b"

    def list_directory(self, path: str) -> str:
        """List a folder (read-only)."""
        self.calls["list_directory"] += 1
        if self.flaky_left:
            self.flaky_left -= 1
            raise ToolError("the server is temporarily unavailable, try again")
        return "\n".join(f"[FILE] {name}" for name in sorted(self.files))
