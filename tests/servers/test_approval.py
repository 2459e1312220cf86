"""A person's approval over MCP: the served host asks its calling client through elicitation."""

from __future__ import annotations

from typing import Any

import mcp
import pytest
from demo_server import make_server
from mcp_types import ElicitRequestParams, ElicitResult

from nexthop import AgentHost, ScriptedModel
from nexthop.clients import MCPConnection
from nexthop.host._approval import ApprovalDecision, ApprovalRequest
from nexthop.models import call, finish
from nexthop.policies._config import PolicyConfig
from nexthop.policies._permissions import Permissions
from nexthop.servers._server import build_server

pytestmark = pytest.mark.anyio


def host(ask: tuple[str, ...] = ("demo__add",)) -> AgentHost:
    model = ScriptedModel([call("demo__add", a=2, b=3), finish("done")], by_step=True)
    return AgentHost(
        model=model,
        servers=[MCPConnection("demo", make_server())],
        policy=PolicyConfig(permissions=Permissions(ask=ask)),
    )


def answering(approve: bool, seen: list[str]) -> Any:
    async def on_elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        seen.append(params.message)
        return ElicitResult(action="accept", content={"approve": approve})

    return on_elicit


async def run(client: mcp.Client) -> dict[str, Any]:
    result = await client.call_tool("run_task", {"task": "add 2 and 3"})
    assert result.structured_content is not None
    uri = result.structured_content["run_uri"]
    record = await client.read_resource(uri)
    import json

    return json.loads(record.contents[0].text)  # type: ignore[union-attr]


@pytest.mark.parametrize("approve", [True, False])
async def test_the_calling_client_is_asked_with_the_full_call(approve: bool) -> None:
    seen: list[str] = []
    async with host() as h:
        server = await build_server(h)
        async with mcp.Client(server, mode="legacy", elicitation_callback=answering(approve, seen)) as client:
            record = await run(client)
    (question,) = seen
    assert "demo__add" in question and '"a": 2' in question and "add 2 and 3" in question
    obs = record["trajectory"]["steps"][0]["observations"][0]
    if approve:
        assert (obs["content"], obs["is_error"]) == ("5", False)
    else:
        assert obs["is_error"] and obs["content"].startswith("denied by policy")


async def test_a_client_without_elicitation_gets_a_clear_denial_not_a_hang() -> None:
    async with host() as h:
        server = await build_server(h)
        async with mcp.Client(server, mode="legacy") as client:
            record = await run(client)
    obs = record["trajectory"]["steps"][0]["observations"][0]
    assert obs["is_error"] and "does not support elicitation" in obs["content"]


async def test_a_stateless_connection_is_asked_through_input_required_rounds() -> None:
    seen: list[str] = []
    async with host() as h:
        server = await build_server(h)
        async with mcp.Client(server, elicitation_callback=answering(True, seen)) as client:
            assert client.protocol_version == "2026-07-28"
            record = await run(client)
    (question,) = seen
    assert "demo__add" in question and '"a": 2' in question
    obs = record["trajectory"]["steps"][0]["observations"][0]
    assert (obs["content"], obs["is_error"]) == ("5", False)


async def test_a_python_callback_approves_and_calls_outside_ask_run_freely() -> None:
    asked: list[ApprovalRequest] = []

    async def approver(request: ApprovalRequest) -> ApprovalDecision:
        asked.append(request)
        return ApprovalDecision(approved=request.arguments.get("a") == 2, reason="only a=2")

    model = ScriptedModel(
        [call("demo__add", a=2, b=3), call("demo__add", a=9, b=1), call("demo__echo", text="x"), finish("ok")]
    )
    async with AgentHost(
        model=model,
        servers=[MCPConnection("demo", make_server())],
        policy=PolicyConfig(permissions=Permissions(ask=("demo__add",))),
        approver=approver,
    ) as h:
        result = await h.run("t")
    first, second, third = (s.observations[0] for s in result.steps[:3])
    assert first.content == "5"
    assert second.is_error and second.content == "denied by policy: only a=2"
    assert third.content == "x"
    assert [r.arguments for r in asked] == [{"a": 2, "b": 3}, {"a": 9, "b": 1}]
    assert asked[0].server == "demo" and asked[0].task == "t"


async def test_with_no_one_to_ask_the_call_is_denied() -> None:
    model = ScriptedModel([call("demo__add", a=2, b=3), finish("ok")])
    async with AgentHost(
        model=model,
        servers=[MCPConnection("demo", make_server())],
        policy=PolicyConfig(permissions=Permissions(ask=("demo__*",))),
    ) as h:
        result = await h.run("t")
    obs = result.steps[0].observations[0]
    assert obs.is_error and "no one can be asked" in obs.content
