"""``nexthop serve --publish-tools``: saved synthesized tools served over MCP, each call sandboxed.

In memory with our own SDK client, then through the MCP Inspector CLI (a client we did not
write). Needs bubblewrap; the Inspector test needs npx (``integration``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mcp
import pytest
from mcp.server import MCPServer

from nexthop.host._tool_library import SavedTool, ToolLibrary
from nexthop.servers._publish import publish_tools

SUPPORT = Path(__file__).parents[1] / "support"
INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
SHA = """import hashlib

def sha(text, upper=False):
    h = hashlib.sha256(text.encode()).hexdigest()
    return h.upper() if upper else h
"""
SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string"}, "upper": {"type": "boolean"}},
    "required": ["text"],
}
DIGEST = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ToolLibrary:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    lib = ToolLibrary()
    lib.add_candidate(
        SavedTool(name="sha", description="sha256 of a text", source=SHA, function="sha", input_schema=SCHEMA)
    )
    bad = SavedTool(name="bad", source="def bad(x):\n    return 1 / x\n", function="bad", input_schema=SCHEMA)
    lib.add_candidate(bad)
    lib.add_candidate(bad.model_copy(update={"name": "unsaved"}))
    lib.save("sha")
    lib.save("bad")
    return lib


@pytest.mark.anyio
async def test_saved_tools_are_listed_with_their_schema_and_run_sandboxed(library: ToolLibrary) -> None:
    server = MCPServer("t")
    assert sorted(publish_tools(server, library=library)) == ["synth__bad", "synth__sha"]  # not the unsaved one
    async with mcp.Client(server) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert listed["synth__sha"].input_schema == SCHEMA
        ok = await client.call_tool("synth__sha", {"text": "abc"})
        assert (ok.is_error, ok.content[0].text) == (False, DIGEST)  # pyright: ignore[reportAttributeAccessIssue]
        failed = await client.call_tool("synth__bad", {"text": "abc", "x": 0})
    assert failed.is_error


@pytest.mark.integration
def test_the_inspector_cli_calls_a_saved_tool_through_nexthop_serve(library: ToolLibrary, tmp_path: Path) -> None:
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx not found: these tests run the MCP Inspector CLI (install Node.js)")
    config = tmp_path / "servers.json"
    demo = {"command": sys.executable, "args": [str(SUPPORT / "demo_server.py")]}
    config.write_text(json.dumps({"mcpServers": {"demo": demo}}))
    script = tmp_path / "script.json"  # the model is never asked: only the published tool is called
    script.write_text("[]")
    env = {
        "NEXTHOP_CONFIG": str(config),
        "NEXTHOP_MODEL": f"scripted:{script}",
        "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"],
    }
    nexthop = Path(sys.executable).with_name("nexthop")
    # A loaded machine can take more than the Inspector's default 15 s to start nexthop serve.
    cmd = [
        npx,
        "-y",
        INSPECTOR,
        "--cli",
        "--connect-timeout",
        "90000",
        *(a for k, v in env.items() for a in ("-e", f"{k}={v}")),
        str(nexthop),
    ]
    cmd += ["serve", "--publish-tools", "--method", "tools/call", "--tool-name", "synth__sha", "--tool-arg", "text=abc"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["content"][0]["text"] == DIGEST, result
