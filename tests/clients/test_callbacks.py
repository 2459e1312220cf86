"""Servers asking the client: sampling, roots, elicitation and logs, through a whole run, on both revisions."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import anyio
import mcp
import mcp_types
import pytest
from features_server import make_server

from nexthop import AgentHost, ScriptedModel
from nexthop._trajectory import RunResult, ToolCall, Usage
from nexthop.clients import MCPConnection
from nexthop.clients._callbacks import (
    ClientHooks,
    ElicitationAnswer,
    ElicitationRequest,
    SamplingRequest,
    ServerCallbacks,
    ServerEvent,
)
from nexthop.host._server_events import RECORD_POLICY, model_sampler
from nexthop.models._model import ModelResponse, ModelSettings
from nexthop.models._scripted import call, finish
from nexthop.policies._config import PolicyConfig

pytestmark = pytest.mark.anyio
REVISIONS = pytest.mark.parametrize("mode", ["auto", "legacy"], ids=["2026-07-28", "2025-11-25"])
SUPPORT = Path(__file__).parent.parent / "support"
SAMPLED = Usage(input_tokens=40, output_tokens=7, requests=1)


def sampler_model() -> ScriptedModel:
    """The model that answers servers' sampling: a short summary, costing SAMPLED, every time."""
    return ScriptedModel(itertools.repeat(ModelResponse(thought="a short summary", usage=SAMPLED)), name="sampler")


def connection(mode: str, hooks: ClientHooks, **server: object) -> MCPConnection:
    callbacks = ServerCallbacks("f", hooks, **server)  # pyright: ignore[reportArgumentType]
    return MCPConnection("f", make_server(), mode=mode, callbacks=callbacks)


async def run_one(
    conn: MCPConnection, tool: str, hooks: ClientHooks, policy: PolicyConfig | None = None, **arguments: object
) -> RunResult:
    model = ScriptedModel([call(f"f__{tool}", **arguments), finish("done")])
    async with AgentHost(model=model, servers=[conn], hooks=hooks, policy=policy) as host:
        return await host.run("use the tool")


def records(result: RunResult, event: str) -> list[dict[str, object]]:
    return [r.data for r in result.steps[0].records if r.policy == RECORD_POLICY and r.event == event]


@REVISIONS
async def test_allowed_sampling_is_answered_by_the_hosts_model_and_counted(mode: str) -> None:
    hooks = ClientHooks(sampler=model_sampler(sampler_model(), ModelSettings()), sampling="allow")
    result = await run_one(connection(mode, hooks), "summarise", hooks, text="a long text")
    assert result.steps[0].observations[0].content == "sampler: a short summary"
    # Counted in the step's and the run's usage, and the step says which server sampled.
    assert result.steps[0].usage.input_tokens == SAMPLED.input_tokens
    assert result.usage.total_tokens == SAMPLED.total_tokens
    [record] = records(result, "sampling")
    assert record["server"] == "f" and record["outcome"] == "answered"


@REVISIONS
async def test_sampling_off_is_refused_with_a_reason_naming_the_server(mode: str) -> None:
    hooks = ClientHooks(sampler=model_sampler(sampler_model(), ModelSettings()))  # the default policy is off
    result = await run_one(connection(mode, hooks), "summarise", hooks, text="x")
    observation = result.steps[0].observations[0]
    assert observation.is_error and "'f' may not use nexthop's model" in observation.content
    assert '"sampling": "ask" or "allow"' in observation.content
    assert result.usage.total_tokens == 0
    assert records(result, "sampling")[0]["outcome"] == "denied"


@REVISIONS
async def test_ask_asks_and_a_no_refuses(mode: str) -> None:
    asked: list[SamplingRequest] = []

    async def say_no(request: SamplingRequest) -> bool:
        asked.append(request)
        return False

    hooks = ClientHooks(
        sampler=model_sampler(sampler_model(), ModelSettings()), sampling="allow", approve_sampling=say_no
    )
    conn = connection(mode, hooks, sampling="ask")  # the server's own setting beats the host's default
    result = await run_one(conn, "summarise", hooks, text="secret plans")
    assert asked[0].server == "f" and asked[0].messages == (("user", "Summarise: secret plans"),)
    assert asked[0].system_prompt == "Be brief." and asked[0].max_tokens == 50
    assert "the user refused" in result.steps[0].observations[0].content


@REVISIONS
async def test_a_sampling_request_over_the_token_budget_is_refused(mode: str) -> None:
    hooks = ClientHooks(sampler=model_sampler(sampler_model(), ModelSettings()), sampling="allow")
    result = await run_one(connection(mode, hooks), "greedy", hooks, policy=PolicyConfig(max_tokens=1000))
    observation = result.steps[0].observations[0]
    assert observation.is_error and "over the run's token budget (1000 left)" in observation.content
    assert result.usage.total_tokens == 0  # the run goes on with its trajectory; nothing was spent


@REVISIONS
async def test_roots_are_the_configured_folders(mode: str, tmp_path: Path) -> None:
    hooks = ClientHooks(roots=(str(tmp_path / "a"),))
    conn = connection(mode, hooks, roots=[str(tmp_path / "b"), str(tmp_path / "c")])
    result = await run_one(conn, "roots", hooks)
    assert result.steps[0].observations[0].content.splitlines() == [
        (tmp_path / "b").as_uri(),
        (tmp_path / "c").as_uri(),
    ]


async def test_changed_roots_are_announced_and_offered() -> None:
    hooks = ClientHooks(roots=("/srv/one",))
    server = make_server()
    changed = anyio.Event()

    async def on_changed(ctx: object, params: object) -> None:
        changed.set()

    server._lowlevel_server.add_notification_handler(  # pyright: ignore[reportPrivateUsage]
        "notifications/roots/list_changed",
        mcp_types.NotificationParams,
        on_changed,  # pyright: ignore[reportArgumentType]
    )
    conn = MCPConnection("f", server, mode="legacy", callbacks=ServerCallbacks("f", hooks))
    async with anyio.create_task_group() as tg:
        await tg.start(conn.run)
        before = await conn.call_tool(ToolCall(id="r1", name="f__roots"))
        await conn.set_roots(["/srv/two"])
        with anyio.fail_after(10):
            await changed.wait()
        after = await conn.call_tool(ToolCall(id="r2", name="f__roots"))
        conn.close()
        assert (before.content, after.content) == ("file:///srv/one", "file:///srv/two")


@REVISIONS
async def test_an_elicitation_goes_to_the_runs_elicitor_with_its_schema(mode: str) -> None:
    asked: list[ElicitationRequest] = []

    async def person(request: ElicitationRequest) -> ElicitationAnswer:
        asked.append(request)
        return ElicitationAnswer(action="accept", content={"name": "Bo", "cabin": "business", "nights": 3})

    hooks = ClientHooks()
    conn = connection(mode, hooks)
    model = ScriptedModel([call("f__book"), finish("done")])
    async with AgentHost(model=model, servers=[conn], hooks=hooks) as host:
        result = await host.run("book it", elicitor=person)
    assert result.steps[0].observations[0].content == "booked Bo business 3 nights insurance=False"
    form = asked[0]
    assert form.server == "f" and form.mode == "form" and form.message == "Book the trip?"
    assert form.schema_["properties"]["cabin"]["enum"] == ["economy", "business"]
    assert records(result, "elicitation") == [{"server": "f", "mode": "form", "action": "accept", "reason": ""}]


@REVISIONS
async def test_with_no_one_to_ask_an_elicitation_is_declined_with_a_reason(mode: str) -> None:
    hooks = ClientHooks()
    with anyio.fail_after(20):  # declined at once, never left hanging
        result = await run_one(connection(mode, hooks), "book", hooks)
    assert result.steps[0].observations[0].content == "not booked (decline)"
    [record] = records(result, "elicitation")
    assert record["action"] == "decline" and "no one to ask" in str(record["reason"])


async def test_a_url_elicitation_carries_the_url() -> None:
    asked: list[ElicitationRequest] = []

    async def person(request: ElicitationRequest) -> ElicitationAnswer:
        asked.append(request)
        return ElicitationAnswer(action="accept")

    hooks = ClientHooks(elicitor=person)
    result = await run_one(connection("legacy", hooks), "sign_in", hooks)
    assert result.steps[0].observations[0].content == "url accept"
    assert (asked[0].mode, asked[0].url, asked[0].elicitation_id) == ("url", "https://example.com/login", "e-1")


@REVISIONS
async def test_server_logs_are_recorded_on_the_step_and_seen_by_observers(mode: str) -> None:
    seen: list[ServerEvent] = []
    hooks = ClientHooks(observers=[seen.append])
    result = await run_one(connection(mode, hooks), "chatty", hooks)
    logs = records(result, "server_log")
    assert [(r["level"], r["message"]) for r in logs] == [
        ("info", "starting the work"),
        ("warning", "almost out of coffee"),
    ]
    assert [e.kind for e in seen] == ["server_log", "server_log"]


@REVISIONS
async def test_a_stdio_server_samples_and_elicits(mode: str) -> None:
    async def person(request: ElicitationRequest) -> ElicitationAnswer:
        return ElicitationAnswer(action="accept", content={"name": "Cy", "nights": 5})

    hooks = ClientHooks(sampler=model_sampler(sampler_model(), ModelSettings()), sampling="allow", elicitor=person)
    params = mcp.StdioServerParameters(command=sys.executable, args=[str(SUPPORT / "features_server.py"), "f"])
    conn = MCPConnection("f", params, mode=mode, callbacks=ServerCallbacks("f", hooks))
    model = ScriptedModel([call("f__summarise", text="t"), call("f__book"), finish("done")])
    async with AgentHost(model=model, servers=[conn], hooks=hooks) as host:
        result = await host.run("both")
    assert [s.observations[0].content for s in result.steps[:2]] == [
        "sampler: a short summary",
        "booked Cy economy 5 nights insurance=False",
    ]
    assert result.usage.total_tokens == SAMPLED.total_tokens


@REVISIONS
async def test_progress_is_recorded_on_the_step(mode: str) -> None:
    from demo_server import make_server as make_demo

    seen: list[ServerEvent] = []
    hooks = ClientHooks(observers=[seen.append])
    model = ScriptedModel([call("d__busy", seconds=0.3, every=0.1), finish("done")])
    async with AgentHost(model=model, servers=[MCPConnection("d", make_demo(), mode=mode)], hooks=hooks) as host:
        result = await host.run("work")
    progress = records(result, "server_progress")
    assert [(r["server"], r["tool"], r["message"]) for r in progress] == [("d", "busy", "working")] * 3
    assert [r["progress"] for r in progress] == pytest.approx([0.1, 0.2, 0.3])
    assert len(seen) == 3
