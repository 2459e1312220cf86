"""What a served host holds is bounded: streamable HTTP sessions (cap, idle timeout, eviction) and the run registry.

Sessions are tested twice: in process against `EvictingSessionManager` (which session is
evicted, busy ones never), and against a real ``nexthop serve --http`` flooded with
abandoned 2025-11-25 ``initialize`` requests, after which a legacy client still works.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp
import pytest
from mcp.server import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from pydantic_core import to_json
from serve_http import INITIALIZE, MCP_HEADERS, serve_subprocess

from nexthop._trajectory import Observation, RunResult, Step, TerminationReason, ToolCall, Trajectory, Usage
from nexthop.servers._runs import RunLimits, RunRecord, RunRegistry
from nexthop.servers._server import RunTaskOutput
from nexthop.servers._sessions import EvictingSessionManager, SessionLimits

pytestmark = pytest.mark.anyio
SESSION = "mcp-session-id"


# --- sessions, in process -------------------------------------------------------------------------


class _Blocker:
    """An MCP server whose ``hold`` tool waits until released, to keep a session's request in flight."""

    def __init__(self) -> None:
        self.server = MCPServer("blocker")
        self.started = anyio.Event()
        self.release = anyio.Event()

        @self.server.tool()
        async def hold() -> str:
            """Wait until the test releases it."""
            self.started.set()
            await self.release.wait()
            return "released"


@pytest.fixture
async def sessions() -> AsyncIterator[tuple[EvictingSessionManager, httpx2.AsyncClient, _Blocker]]:
    """A manager capped at 2 sessions, and an HTTP client speaking to it in process."""
    blocker = _Blocker()
    manager = EvictingSessionManager(blocker.server._lowlevel_server, SessionLimits(max_sessions=2))  # pyright: ignore[reportPrivateUsage]
    transport = httpx2.ASGITransport(app=StreamableHTTPASGIApp(manager))
    async with manager.run(), httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield manager, http, blocker


async def _open(http: httpx2.AsyncClient) -> httpx2.Response:
    return await http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)


async def _touch(http: httpx2.AsyncClient, session_id: str) -> int:
    """A request on the session (the ``initialized`` notification, 202), or 404 once it is gone."""
    body = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    response = await http.post("/mcp", json=body, headers={**MCP_HEADERS, SESSION: session_id})
    return response.status_code


async def test_at_the_cap_the_session_idle_longest_is_evicted_and_the_new_one_admitted(
    sessions: tuple[EvictingSessionManager, httpx2.AsyncClient, _Blocker],
) -> None:
    manager, http, _ = sessions
    first, second = [(await _open(http)).headers[SESSION] for _ in range(2)]
    assert await _touch(http, first) == 202  # first is now the more recently used

    third = await _open(http)  # the SDK alone answers 503 "Too many open sessions" here

    assert third.status_code == 200, third.text
    assert (manager.open_sessions, manager.evicted) == (2, 1)
    assert await _touch(http, second) == 404  # idle the longest: evicted
    assert await _touch(http, first) == 202
    assert await _touch(http, third.headers[SESSION]) == 202


async def test_a_session_with_a_request_in_flight_is_never_evicted(
    sessions: tuple[EvictingSessionManager, httpx2.AsyncClient, _Blocker],
) -> None:
    manager, http, blocker = sessions
    busy, idle = [(await _open(http)).headers[SESSION] for _ in range(2)]
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "hold", "arguments": {}}}
    answers: list[httpx2.Response] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def hold() -> None:
                answers.append(await http.post("/mcp", json=call, headers={**MCP_HEADERS, SESSION: busy}))

            tg.start_soon(hold)
            await blocker.started.wait()
            newcomer = (await _open(http)).headers[SESSION]  # evicts the idle one, not the busy one
            assert await _touch(http, idle) == 404
            assert await _touch(http, newcomer) == 202
            blocker.release.set()
    assert answers[0].status_code == 200 and "released" in answers[0].text
    assert manager.evicted == 1


def test_session_limits_refuse_nonsense() -> None:
    for bad in ({"max_sessions": 0}, {"idle_timeout_s": 0.0}, {"idle_timeout_s": float("inf")}):
        with pytest.raises(ValueError):
            SessionLimits(**bad)


# --- sessions, flooding a real nexthop serve --http -------------------------------------------------


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bounds") / "script.json"
    path.write_text(json.dumps([{"tool": "finish", "arguments": {"result": "still here"}}]))
    return path


@pytest.fixture(scope="module")
def capped_port(script: Path) -> Iterator[int]:
    yield from serve_subprocess(script, "--max-sessions", "8", "--session-idle-timeout", "300")


async def test_a_legacy_client_still_connects_after_a_flood_of_abandoned_initializes(capped_port: int) -> None:
    url = f"http://127.0.0.1:{capped_port}/mcp"
    async with httpx2.AsyncClient(timeout=10) as http:
        for _ in range(20):  # 2.5 times the cap, each abandoned after its initialize
            response = await http.post(url, json=INITIALIZE, headers=MCP_HEADERS)
            assert response.status_code == 200, response.text
    async with mcp.Client(url, mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        result = await client.call_tool("run_task", {"task": "are you there?"})
    assert RunTaskOutput.model_validate(result.structured_content).result == "still here"


# --- the run registry -------------------------------------------------------------------------------

BIG = 3_500_000  # characters: the 3.5 MB task of the probe that held +233 MB in 60 runs


def _step(index: int, *, text: str = "ok", structured: dict[str, Any] | None = None, arguments: str = "") -> Step:
    call = ToolCall(id=f"c{index}", name="demo__echo", arguments={"text": arguments} if arguments else {})
    return Step(
        index=index,
        tool_calls=(call,),
        observations=(Observation(call_id=call.id, content=text, structured=structured),),
    )


def _finish(record: RunRecord) -> None:
    record.observe(
        RunResult(
            status="completed",
            result="done",
            termination=TerminationReason(kind="completed"),
            trajectory=record.trajectory,
            usage=Usage(),
            wall_time_s=0.0,
        )
    )


def test_a_run_keeps_huge_task_text_and_structured_content_cut() -> None:
    registry = RunRegistry(limits=RunLimits(max_field_chars=1000))
    record = registry.start("x" * BIG, context="c" * BIG, memory=Trajectory(task="m" * BIG))
    record.observe(_step(1, text="t" * BIG, structured={"rows": ["r" * 100] * 40_000}, arguments="a" * BIG))
    _finish(record)

    (step,) = record.trajectory.steps
    observation = step.observations[0]
    assert observation.structured is not None and observation.structured["truncated"] is True
    assert observation.structured["json_chars"] > BIG and len(observation.structured["json_head"]) == 1000
    assert step.tool_calls[0].arguments["truncated"] is True
    assert observation.content.startswith("t" * 1000) and observation.content.endswith("more characters cut]")
    assert len(record.task) < 1100 and len(record.trajectory.context) < 1100
    assert record.trajectory.memory is not None and len(record.trajectory.memory.task) < 1100
    assert record.truncated and record.result is not None and record.result.trajectory is record.trajectory
    assert len(record.model_dump_json()) < 25_000  # the trajectory appears twice: as itself and in the result
    assert registry.size_bytes == record.size_bytes < 12_000


def test_steps_past_a_runs_byte_cap_keep_their_shape_but_not_their_text() -> None:
    registry = RunRegistry(limits=RunLimits(max_run_bytes=50_000, max_field_chars=10_000))
    record = registry.start("task")
    for index in range(1, 21):
        record.observe(_step(index, text="t" * 9_000))
    steps = record.trajectory.steps
    assert [s.index for s in steps] == list(range(1, 21))
    assert "t" * 9_000 in steps[0].observations[0].content
    assert "size cap" in steps[-1].observations[0].content and steps[-1].tool_calls[0].name == "demo__echo"
    assert record.size_bytes < 50_000 + 20 * 1_000
    assert len(to_json(record.trajectory)) < 50_000 + 20 * 1_000


def test_the_registry_is_bounded_in_bytes_dropping_the_oldest_finished_runs_first() -> None:
    registry = RunRegistry(limits=RunLimits(max_bytes=1_000_000, max_field_chars=50_000))
    live = registry.start("a live run, oldest of all")
    live.observe(_step(1, text="l" * 90_000))
    for n in range(60):
        record = registry.start(f"run {n}", context="c" * BIG)
        record.observe(_step(1, text="t" * 90_000, structured={"blob": "s" * BIG}))
        _finish(record)
        assert registry.size_bytes <= 1_000_000
    kept = registry.recent()
    assert kept[-1] is live  # never dropped while it runs
    assert [r.task for r in kept[:3]] == ["run 59", "run 58", "run 57"]
    assert len(kept) < 61
    held = sum(len(to_json(r.trajectory)) for r in kept)
    assert held <= 1_000_000 and registry.size_bytes == sum(r.size_bytes for r in kept), held
    assert registry.get(kept[1].uri) is kept[1] and registry.get("run 0") is None


def test_the_registry_still_keeps_at_most_its_count() -> None:
    registry = RunRegistry(keep=3)
    records = [registry.start(f"run {n}") for n in range(5)]
    for record in records:
        _finish(record)
    assert [r.task for r in registry.recent()] == ["run 4", "run 3", "run 2"]
    assert registry.size_bytes == sum(r.size_bytes for r in registry.recent())
