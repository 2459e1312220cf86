"""An upstream server's elicitation and sampling approval, forwarded through a served nexthop to its caller.

The caller is an `mcp.Client` with an elicitation callback; nexthop runs the task with
a scripted model whose tool call makes the upstream features server ask. On
2025-11-25 the question reaches the caller as a request mid-call; on 2026-07-28 as
an input-required round of ``run_task``.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import mcp
import pytest
from features_server import make_server
from mcp_types import ElicitRequestParams, ElicitResult

from nexthop import AgentHost, ScriptedModel
from nexthop.clients import MCPConnection
from nexthop.clients._callbacks import ClientHooks
from nexthop.models._model import ModelResponse
from nexthop.models._scripted import call, finish
from nexthop.servers._server import build_server

pytestmark = pytest.mark.anyio
REVISIONS = pytest.mark.parametrize("mode", ["auto", "legacy"], ids=["2026-07-28", "2025-11-25"])
SUPPORT = Path(__file__).resolve().parent.parent / "support"
NEXTHOP = str(Path(sys.executable).with_name("nexthop"))


def person(seen: list[ElicitRequestParams], content: dict[str, Any]) -> Any:
    async def on_elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        seen.append(params)
        return ElicitResult(action="accept", content=content)

    return on_elicit


async def observations(client: mcp.Client) -> list[str]:
    result = await client.call_tool("run_task", {"task": "book a trip"})
    assert result.structured_content is not None
    record = await client.read_resource(result.structured_content["run_uri"])
    run = json.loads(record.contents[0].text)  # type: ignore[union-attr]
    steps = run["trajectory"]["steps"]
    return [s["observations"][0]["content"] for s in steps if s["tool_calls"][0]["name"] != "finish"]


@REVISIONS
async def test_an_upstream_form_reaches_the_calling_client_and_its_answer_comes_back(mode: str) -> None:
    seen: list[ElicitRequestParams] = []
    model = ScriptedModel([call("f__book"), finish("done")], by_step=True)
    async with AgentHost(model=model, servers=[MCPConnection("f", make_server())]) as host:
        server = await build_server(host)
        answer = person(seen, {"name": "Di", "cabin": "business", "nights": 4, "insurance": True})
        async with mcp.Client(server, mode=mode, elicitation_callback=answer) as client:
            assert await observations(client) == ["booked Di business 4 nights insurance=True"]
    (question,) = seen
    assert "MCP server 'f'" in question.message and "Book the trip?" in question.message
    assert question.requested_schema["properties"]["cabin"]["enum"] == ["economy", "business"]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]


@REVISIONS
async def test_sampling_under_ask_is_approved_by_the_calling_client(mode: str) -> None:
    seen: list[ElicitRequestParams] = []
    sampler = ScriptedModel(itertools.repeat(ModelResponse(thought="brief")), name="host-model")
    hooks = ClientHooks(sampling="ask")
    model = ScriptedModel([call("f__summarise", text="long"), finish("done")], by_step=True)
    async with AgentHost(model=model, servers=[MCPConnection("f", make_server())], hooks=hooks) as host:
        from nexthop.host._server_events import model_sampler

        hooks.sampler = model_sampler(sampler, host.settings)
        server = await build_server(host)
        async with mcp.Client(server, mode=mode, elicitation_callback=person(seen, {"approve": True})) as client:
            assert await observations(client) == ["host-model: brief"]
    assert "asks to use nexthop's model" in seen[0].message


@REVISIONS
async def test_a_caller_without_elicitation_gets_a_decline_not_a_hang(mode: str) -> None:
    model = ScriptedModel([call("f__book"), finish("done")], by_step=True)
    async with AgentHost(model=model, servers=[MCPConnection("f", make_server())]) as host:
        server = await build_server(host)
        async with mcp.Client(server, mode=mode) as client:
            assert await observations(client) == ["not booked (decline)"]


@pytest.mark.integration
@REVISIONS
async def test_through_nexthop_serve_over_stdio(mode: str, tmp_path: Path) -> None:
    script = tmp_path / "actions.json"
    script.write_text(json.dumps([{"tool": "f__book"}, {"tool": "finish", "arguments": {"result": "ok"}}]))
    features = f"f={sys.executable} {SUPPORT / 'features_server.py'} f"
    args = ["serve", "--model", f"scripted:{script}", "--server", features]
    params = mcp.StdioServerParameters(command=NEXTHOP, args=args, env={"XDG_CONFIG_HOME": str(tmp_path)})
    seen: list[ElicitRequestParams] = []
    answer = person(seen, {"name": "Eve", "cabin": "economy", "nights": 1, "insurance": False})
    async with mcp.Client(params, mode=mode, elicitation_callback=answer) as client:
        assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
        assert await observations(client) == ["booked Eve economy 1 nights insurance=False"]
    assert len(seen) == 1
