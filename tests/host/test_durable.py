"""Durable runs through the Python API: recorded steps, replay by id, concurrent calls, the timeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexthop import AgentHost, ScriptedModel
from nexthop._trajectory import ToolCall
from nexthop.host._store import RunStore, StoreConfig
from nexthop.models._model import ModelResponse
from nexthop.models._scripted import call
from nexthop.policies import PolicyConfig

pytestmark = pytest.mark.anyio
NO_LOOPS = PolicyConfig(doom_loop_n=0)


class Counter:
    """Python tools that count how often they really ran."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def tools(self) -> list[object]:
        def shout(text: str) -> str:
            """Upper-case the text."""
            self.calls.append(text)
            return text.upper()

        return [shout]


def _store(tmp_path: Path, **kw: object) -> RunStore:
    return RunStore(StoreConfig(f"sqlite:///{tmp_path / 'runs.sqlite'}", **kw))  # type: ignore[arg-type]


async def test_a_rerun_with_the_same_id_returns_recorded_steps_without_running_them(tmp_path: Path) -> None:
    counter = Counter()
    model = ScriptedModel([call("shout", text="a"), call("shout", text="b"), call("finish", result="AB")])
    async with _store(tmp_path) as store:
        async with AgentHost(model=model, tools=counter.tools(), store=store, policy=NO_LOOPS) as host:
            first = await host.run("shout", run_id="r1")
            again = await host.run("shout", run_id="r1")
        summaries = await store.summaries()
    assert first.status == "completed" and first.result == "AB"
    assert again == first
    assert model.requests == 3 and counter.calls == ["a", "b"]  # nothing ran twice
    assert [(s.run_id, s.state, s.steps) for s in summaries] == [("r1", "completed", 3)]


async def test_concurrent_calls_get_their_own_recorded_results(tmp_path: Path) -> None:
    counter = Counter()
    both = ModelResponse(
        tool_calls=(
            ToolCall(id="x", name="shout", arguments={"text": "x"}),
            ToolCall(id="y", name="shout", arguments={"text": "y"}),
        )
    )
    model = ScriptedModel([both, call("finish", result="done")])
    async with _store(tmp_path) as store:
        async with AgentHost(model=model, tools=counter.tools(), store=store, policy=NO_LOOPS) as host:
            result = await host.run("two at once", run_id="r2")
        found = await store.timeline("r2")
    assert [o.content for o in result.steps[0].observations] == ["X", "Y"]
    assert found is not None
    summary, trajectory, in_flight = found
    assert summary.steps == 2 and in_flight == []
    assert [o.content for o in trajectory.steps[0].observations] == ["X", "Y"]


async def test_without_a_store_nothing_is_recorded(tmp_path: Path) -> None:
    model = ScriptedModel([call("finish", result="ok")])
    async with AgentHost(model=model) as host:
        assert host.store is None
        assert (await host.run("t")).result == "ok"
    assert not (tmp_path / "runs.sqlite").exists()


async def test_retention_keeps_the_newest_finished_runs(tmp_path: Path) -> None:
    model = ScriptedModel([call("finish", result=str(i)) for i in range(4)])
    async with _store(tmp_path, keep_runs=2) as store:
        async with AgentHost(model=model, store=store) as host:
            for i in range(4):
                await host.run(f"task {i}", run_id=f"k{i}")
        kept = [s.run_id for s in await store.summaries()]
    assert kept == ["k3", "k2"]


def _postgres_url() -> str:
    """A PostgreSQL URL for the tests, starting the local cluster (as root) if it is installed but down."""
    import shutil
    import subprocess

    if shutil.which("pg_ctlcluster") is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    subprocess.run(["pg_ctlcluster", "15", "main", "start"], capture_output=True, timeout=60)
    password = "ALTER USER postgres PASSWORD 'nexthop'"
    subprocess.run(["su", "postgres", "-c", f'psql -q -c "{password}"'], capture_output=True, timeout=60, check=True)
    return "postgresql://postgres:nexthop@127.0.0.1:5432/nexthop_test"


async def test_a_postgresql_store_records_runs_and_tells_live_owners_from_dead(tmp_path: Path) -> None:
    url = _postgres_url()
    counter = Counter()
    model = ScriptedModel([call("shout", text="pg"), call("finish", result="PG")])
    async with RunStore(StoreConfig(url)) as store:
        async with AgentHost(model=model, tools=counter.tools(), store=store, policy=NO_LOOPS) as host:
            run_id = f"pg{id(host)}"
            result = await host.run("shout over postgres", run_id=run_id)
            again = await host.run("shout over postgres", run_id=run_id)
        summary = await store.summary(run_id)
        assert store.is_alive(store.executor_id)
        assert not store.is_alive("worker-gone")
    assert result.result == "PG" and again == result and counter.calls == ["pg"]
    assert summary is not None and (summary.state, summary.steps) == ("completed", 2)
