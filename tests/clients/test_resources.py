"""Upstream resources and prompts: built-in tools, @server:uri attachments, prompts as tasks, catalogs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from demo_server import make_server as make_demo
from features_server import make_server
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from nexthop import AgentHost, ScriptedModel, ServerConnectionError, ToolCall
from nexthop.cli._app import main
from nexthop.cli._features import task_text
from nexthop.clients import MCPConnection
from nexthop.clients._resources import resource_mentions
from nexthop.models._scripted import call, finish

pytestmark = pytest.mark.anyio
REVISIONS = pytest.mark.parametrize("mode", ["auto", "legacy"], ids=["2026-07-28", "2025-11-25"])
FEATURES = f"f={sys.executable} {Path(__file__).parent.parent / 'support' / 'features_server.py'} f"


@REVISIONS
async def test_the_model_lists_and_reads_resources_through_built_in_tools(mode: str) -> None:
    model = ScriptedModel([call("f__list_resources"), call("f__read_resource", uri="notes://day/mon"), finish("done")])
    servers = [MCPConnection("f", make_server(), mode=mode), MCPConnection("d", make_demo(), mode=mode)]
    async with AgentHost(model=model, servers=servers) as host:
        names = {t.name for t in await host.list_tools()}
        result = await host.run("read my notes")
    # Only the server that holds resources gets the built-ins.
    assert {"f__list_resources", "f__read_resource"} <= names and "d__list_resources" not in names
    listing = json.loads(result.steps[0].observations[0].content)
    assert [r["uri"] for r in listing["resources"]] == ["notes://today"]
    assert [t["uri_template"] for t in listing["templates"]] == ["notes://day/{day}"]
    assert result.steps[1].observations[0].content == "notes for mon"


@REVISIONS
async def test_a_resource_that_does_not_exist_is_an_error_observation_and_the_run_goes_on(mode: str) -> None:
    model = ScriptedModel([call("f__read_resource", uri="notes://nowhere"), finish("gave up")])
    async with AgentHost(model=model, servers=[MCPConnection("f", make_server(), mode=mode)]) as host:
        result = await host.run("read it")
    observation = result.steps[0].observations[0]
    assert observation.is_error and "server 'f': cannot read notes://nowhere" in observation.content
    assert "list its resources with nexthop tools" in observation.content
    assert result.status == "completed" and len(result.steps) == 2  # the trajectory is kept


@REVISIONS
async def test_at_server_uri_attaches_the_resource_and_a_prompt_becomes_the_task(mode: str) -> None:
    async with AgentHost(model=ScriptedModel([]), servers=[MCPConnection("f", make_server(), mode=mode)]) as host:
        text = await task_text(host, "plan my day from @f:notes://today.", None)
        assert text.endswith("Attached resource @f:notes://today:\nbuy milk; call Bob")
        prompt = await task_text(host, "and be kind", ["f/review", "language=go"])
        assert prompt == "Review this go code, looking for bugs.\n\nand be kind"
        with pytest.raises(ServerConnectionError, match="server 'f': prompt 'nope' failed"):
            await task_text(host, None, ["f/nope"])
        with pytest.raises(ServerConnectionError, match="cannot read notes://gone"):
            await task_text(host, "see @f:notes://gone", None)


def test_mentions_are_found_once_without_trailing_punctuation() -> None:
    assert resource_mentions("read @fs:file:///a.txt, then @db:table://x and @fs:file:///a.txt. me@x.org") == [
        ("fs", "file:///a.txt"),
        ("db", "table://x"),
    ]


@REVISIONS
async def test_the_catalog_shows_capabilities_resources_templates_and_prompts(mode: str) -> None:
    conn = MCPConnection("f", make_server(), mode=mode)
    async with AgentHost(model=ScriptedModel([]), servers=[conn]):
        catalog = await conn.catalog()
    assert {"tools", "resources", "prompts"} <= set(catalog.capabilities)
    assert [r.uri for r in catalog.resources] == ["notes://today"]
    [review] = catalog.prompts
    assert [(a.name, a.required) for a in review.arguments] == [("language", True), ("focus", False)]


def test_nexthop_run_with_a_prompt_and_nexthop_tools_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "s.json"
    script.write_text(json.dumps([{"tool": "finish", "arguments": {"result": "reviewed"}}]))
    pins = ["--pin-file", str(tmp_path / "pins.json")]
    argv = ["run", "--prompt", "f/review", "language=rust", "focus=style", "--model", f"scripted:{script}"]
    assert main([*argv, "--server", FEATURES, "--json", *pins]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["trajectory"]["task"] == "Review this rust code, looking for style."
    assert main(["tools", "--json", "--server", FEATURES, *pins]) == 0
    listed = json.loads(capsys.readouterr().out)["f"]
    assert [p["name"] for p in listed["prompts"]] == ["review"] and listed["restarts"] == 0
    assert main(["run", "--prompt", "f", "--model", f"scripted:{script}", "--server", FEATURES, *pins]) == 2
    assert "--prompt SERVER/NAME" in capsys.readouterr().err


@REVISIONS
async def test_resources_that_appear_later_bring_the_built_in_tools(mode: str) -> None:
    server = MCPServer("late")

    @server.tool()
    async def publish(ctx: Context) -> str:
        """Add a resource and announce it."""
        server.resource("late://note", name="note")(lambda: "hello")
        await ctx.notify_resources_changed()
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            await ctx.session.send_resource_list_changed()
        return "published"

    conn = MCPConnection("late", server, mode=mode)
    async with AgentHost(model=ScriptedModel([]), servers=[conn]):
        assert "late__read_resource" not in {t.name for t in await conn.list_tools()}
        await conn.call_tool(ToolCall(id="p", name="late__publish"))
        with anyio.fail_after(10):
            while "late__read_resource" not in {t.name for t in await conn.list_tools()}:
                await anyio.sleep(0.01)  # the notification arrives on its own stream
        assert await conn.read_resource("late://note") == "hello"
