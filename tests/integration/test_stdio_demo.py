"""The connection machinery against our demo server, run as a real child process over stdio.

Each test starts its own server processes (about 2 s each), so every test pays for
what it needs and no test sees another's crashed or stopped server.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp
import psutil
import pytest
from procs import descendants, find_process, stdin_backlog, suspend, wait_for, wait_gone

from nexthop import (
    AgentHost,
    Observation,
    RunResult,
    ScriptedModel,
    ServerConnectionError,
    ToolCall,
)
from nexthop.clients import MCPConnection, ServerGroup
from nexthop.models import call

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

DEMO = Path(__file__).parents[1] / "support" / "demo_server.py"
DEMO_TOOLS = {"echo", "add", "fail", "sleep", "busy", "crash", "pid", "unlock"}
PROMPT_S = 5.0
"""An error for a dead server must arrive within this, far inside the call's 60 s timeout."""


def demo(name: str = "demo", **kwargs: Any) -> MCPConnection:
    params = mcp.StdioServerParameters(command=sys.executable, args=[str(DEMO), name])
    return MCPConnection(name, params, **kwargs)


async def use(group: ServerGroup, name: str, **arguments: Any) -> Observation:
    return await group.call_tool(ToolCall(id=f"t-{name}", name=name, arguments=arguments))


async def server_pid(group: ServerGroup, server: str) -> int:
    return int((await use(group, f"{server}__pid")).content)


async def wait_until_in_flight(pid: int) -> None:
    """With the call just sent, wait until the server has read it (it is then being handled).

    The server is stopped first so the request can be seen waiting in its input pipe,
    then resumed and watched until it has taken the request in.
    """
    await wait_for(lambda: stdin_backlog(pid) > 0, 10, "the request to reach the stopped server's input")
    psutil.Process(pid).send_signal(signal.SIGCONT)
    await wait_for(lambda: stdin_backlog(pid) == 0, 10, "the server to read the request")


def says_server_died(obs: Observation, server: str) -> bool:
    """The message names the server and says its connection ended (closed or crashed)."""
    text = obs.content.lower()
    return server in obs.content and ("closed" in text or "crashed" in text)


async def tool_names(group: ServerGroup) -> set[str]:
    return {t.name for t in await group.list_tools()}


@pytest.mark.parametrize(("mode", "revision"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
async def test_a_session_in_each_protocol_revision(mode: str, revision: str) -> None:
    async with ServerGroup([demo(mode=mode)]) as group:
        assert group.connections["demo"].protocol_version == revision
        tools = await group.list_tools()
        assert {t.name for t in tools} == {f"demo__{n}" for n in DEMO_TOOLS}
        assert all(t.server == "demo" and t.name == f"demo__{t.remote_name}" for t in tools)

        echoed = await use(group, "demo__echo", text="hello over stdio")
        assert (echoed.content, echoed.is_error) == ("hello over stdio", False)
        added = await use(group, "demo__add", a=2, b=3)
        assert added.content == "5" and added.structured == {"result": 5}
        failed = await use(group, "demo__fail", message="kaput")
        assert failed.is_error and "fail" in failed.content  # MCPServer hides the exception's text

        # tools/list_changed: a notification on 2025-11-25, the listen stream on 2026-07-28.
        assert (await use(group, "demo__unlock")).content == "unlocked"
        with anyio.fail_after(5):
            while "demo__secret" not in await tool_names(group):
                await anyio.sleep(0.02)
        assert (await use(group, "demo__secret")).content == "the secret is 42"


async def test_a_crash_mid_call_is_an_error_and_the_host_keeps_working() -> None:
    async with ServerGroup([demo("a"), demo("b")]) as group:
        server = psutil.Process(await server_pid(group, "a"))
        obs = await use(group, "a__crash")
        assert obs.is_error and says_server_died(obs, "a")
        assert obs.duration_s < PROMPT_S
        assert await wait_gone([server]) == []
        assert (await use(group, "b__echo", text="still here")).content == "still here"
        again = await use(group, "a__echo", text="anyone?")
        assert again.is_error


async def test_a_crashed_server_is_marked_failed_and_its_tools_withdrawn() -> None:
    async with ServerGroup([demo("a"), demo("b")]) as group:
        obs = await use(group, "a__crash")
        assert "crashed" in obs.content
        assert group.connections["a"].state == "failed"
        assert "a" in group.failed
        assert not any(name.startswith("a__") for name in await tool_names(group))


async def test_a_server_killed_during_a_call_ends_the_call_promptly(stopper: list[psutil.Process]) -> None:
    async with ServerGroup([demo("a", timeout_s=60), demo("b")]) as group:
        pid = await server_pid(group, "a")
        server = psutil.Process(pid)
        observations: list[Observation] = []
        stopper.append(server)
        await suspend(server)
        async with anyio.create_task_group() as tg:

            async def sleep_call() -> None:
                observations.append(await use(group, "a__sleep", seconds=30))

            tg.start_soon(sleep_call)
            await wait_until_in_flight(pid)
            server.kill()
        [obs] = observations
        assert obs.is_error and says_server_died(obs, "a")
        assert obs.duration_s < PROMPT_S
        assert (await use(group, "b__add", a=20, b=22)).content == "42"


async def test_a_hanging_call_times_out_and_the_server_stays_usable() -> None:
    async with ServerGroup([demo(timeout_s=1.0)]) as group:
        obs = await use(group, "demo__sleep", seconds=30)
        assert obs.is_error and "timed out after 1 s" in obs.content
        assert 1.0 <= obs.duration_s < PROMPT_S
        assert (await use(group, "demo__echo", text="ok")).content == "ok"


async def test_progress_restarts_the_timeout_up_to_the_hard_maximum() -> None:
    async with ServerGroup([demo(timeout_s=0.5, max_timeout_s=3.0)]) as group:
        silent = await use(group, "demo__sleep", seconds=1.5)
        assert silent.is_error and "timed out after 0.5 s" in silent.content

        working = await use(group, "demo__busy", seconds=1.5, every=0.1)
        assert (working.content, working.is_error) == ("done", False)
        assert working.duration_s > 1.0  # twice the timeout: only progress kept it alive

        endless = await use(group, "demo__busy", seconds=30, every=0.1)
        assert endless.is_error and "timed out after 3 s" in endless.content
        assert 3.0 <= endless.duration_s < 3.0 + PROMPT_S


async def test_servers_that_fail_to_start_are_reported_by_name_while_the_others_work() -> None:
    missing = MCPConnection("missing", mcp.StdioServerParameters(command="/nonexistent/nexthop-no-such-server"))
    dies = MCPConnection("dies", mcp.StdioServerParameters(command=sys.executable, args=["-c", "raise SystemExit(3)"]))
    async with ServerGroup([demo("good"), missing, dies]) as group:
        assert set(group.failed) == {"missing", "dies"}
        assert "nexthop-no-such-server" in group.failed["missing"]
        assert group.failed["dies"]
        assert [c.name for c in group.active] == ["good"]
        assert {n.partition("__")[0] for n in await tool_names(group)} == {"good"}
        assert (await use(group, "good__echo", text="fine")).content == "fine"
        refused = await use(group, "missing__echo", text="x")
        assert refused.is_error and "not connected" in refused.content


async def test_a_server_that_dies_at_start_up_is_reported_with_its_last_stderr_line() -> None:
    script = "import sys; sys.exit('config file not found: /etc/nowhere.toml')"
    dies = MCPConnection("dies", mcp.StdioServerParameters(command=sys.executable, args=["-c", script]))
    async with ServerGroup([dies]) as group:
        assert "config file not found" in group.failed["dies"]


async def test_strict_makes_a_failed_server_fatal() -> None:
    before = descendants()
    missing = MCPConnection("missing", mcp.StdioServerParameters(command="/nonexistent/nexthop-no-such-server"))
    with pytest.raises(ServerConnectionError) as raised:
        async with ServerGroup([demo("good"), missing], strict=True):
            pytest.fail("strict=True must not enter with a failed server")
    assert raised.value.server == "missing"
    assert "nexthop-no-such-server" in str(raised.value)
    assert await wait_gone(descendants(exclude=before)) == []  # the good server was stopped too


@pytest.mark.parametrize("how", ["host exits under the call", "run cancelled"])
async def test_no_orphans_when_the_host_exits_during_a_call(how: str, stopper: list[psutil.Process]) -> None:
    before = descendants()
    model = ScriptedModel([call("demo__sleep", seconds=60)])
    results: list[RunResult] = []

    async def run(host: AgentHost) -> None:
        results.append(await host.run("sleep a minute"))

    with anyio.fail_after(30):  # shutdown is bounded: stdin close, then SIGTERM, then SIGKILL
        async with anyio.create_task_group() as tg:
            async with AgentHost(model=model, servers=[demo()]) as host:
                tree = descendants(exclude=before)
                server = find_process(tree, str(DEMO))
                stopper.append(server)
                await suspend(server)
                tg.start_soon(run, host)
                await wait_until_in_flight(server.pid)
                if how == "run cancelled":
                    tg.cancel_scope.cancel()
    assert tree, "the server's process tree was not seen"
    if how == "host exits under the call":  # the run outlived the host: its call failed, then it ended
        [result] = results
        [obs] = result.trajectory.steps[0].observations
        assert obs.is_error and says_server_died(obs, "demo")
    else:
        assert results == []
    assert await wait_gone(tree) == []
    assert descendants(exclude=before) == []


async def test_servers_connect_concurrently() -> None:
    async with ServerGroup([demo("solo")]) as one:
        assert one.active
    single_s = one.connect_time_s

    before = descendants()
    async with ServerGroup([demo(f"s{i}") for i in range(5)]) as five:
        assert len(five.active) == 5
        started = sorted(p.create_time() for p in descendants(exclude=before))
    assert len(started) == 5
    # Behaviour: all five were spawned together, not one after another's handshake. (How long
    # the five take in all depends on the machine's load; benchmarks/bench_host.py measures it.)
    assert started[-1] - started[0] < single_s


class _Preparing(ScriptedModel):
    """Notes the servers' states when the host asks it to get ready, and when that ends."""

    def __init__(self) -> None:
        super().__init__([])
        self.host: AgentHost | None = None
        self.seen: list[list[str]] = []

    async def prepare(self) -> None:
        assert self.host is not None
        self.seen.append([s.state for s in self.host.server_states()])
        await anyio.sleep(0.2)
        self.seen.append([s.state for s in self.host.server_states()])


async def test_the_model_gets_ready_while_the_servers_start() -> None:
    model = _Preparing()
    host = AgentHost(model=model, servers=[demo()])
    model.host = host
    async with host:
        assert [s.state for s in host.server_states()] == ["connected"]
    # Asked at once, before the server (about 2 s to start) was connected; still starting 0.2 s later.
    assert model.seen == [["pending"], ["pending"]], model.seen
