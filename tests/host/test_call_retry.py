"""The host repeats a call that failed transiently, when repeating it is safe, before the model sees it."""

from __future__ import annotations

from typing import Any

import pytest

from nexthop import AgentHost, ScriptedModel, tool
from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.host._call_retry import call_with_retries, safe_to_repeat
from nexthop.models import call, finish
from nexthop.policies import PolicyConfig

pytestmark = pytest.mark.anyio

UNAVAILABLE = "the service is temporarily unavailable"
TIMED_OUT = "db: request timed out (code -32001)"


class Flaky:
    """A toolset whose one tool fails with ``errors`` in turn, then answers ``ok``."""

    def __init__(self, errors: list[str], annotations: dict[str, Any] | None = None, name: str = "write_row") -> None:
        self.errors = list(errors)
        self.calls = 0
        self.tool = ToolDef(name=name, description="", input_schema={"type": "object"}, annotations=annotations)

    async def list_tools(self) -> list[ToolDef]:
        return [self.tool]

    async def call_tool(self, c: ToolCall) -> Observation:
        self.calls += 1
        if self.errors:
            return Observation(call_id=c.id, content=self.errors.pop(0), is_error=True)
        return Observation(call_id=c.id, content="ok")


def no_wait(attempt: int) -> float:
    return 0.0


async def test_an_answered_transient_failure_is_repeated_until_it_succeeds() -> None:
    flaky = Flaky([UNAVAILABLE, UNAVAILABLE])
    obs, records = await call_with_retries(flaky, flaky.tool, ToolCall(id="c1", name="write_row"), 3, no_wait)
    assert (obs.content, obs.is_error, flaky.calls) == ("ok", False, 3)
    (record,) = records
    assert (record.policy, record.event) == ("retry", "retried")
    assert record.data["attempts"] == 3 and record.data["outcome"] == "succeeded"
    assert record.data["errors"] == [UNAVAILABLE, UNAVAILABLE]


async def test_the_backoff_is_exponential_and_recorded_in_seconds() -> None:
    flaky = Flaky([UNAVAILABLE, UNAVAILABLE, UNAVAILABLE])
    waits: list[int] = []

    def spy(attempt: int) -> float:
        waits.append(attempt)
        return 0.0

    _, (record,) = await call_with_retries(flaky, flaky.tool, ToolCall(id="c1", name="write_row"), 3, spy)
    assert waits == [1, 2, 3]
    assert record.data["waited_s"] == 0.0
    from nexthop.policies._transient import backoff_s

    assert [backoff_s(k) for k in (1, 2, 3)] == [0.5, 1.0, 2.0]


async def test_retries_are_bounded_and_the_last_failure_says_how_often_it_was_tried() -> None:
    flaky = Flaky([UNAVAILABLE] * 10)
    obs, (record,) = await call_with_retries(flaky, flaky.tool, ToolCall(id="c1", name="write_row"), 2, no_wait)
    assert flaky.calls == 3 and obs.is_error
    assert "tried this call 3 times" in obs.content
    assert record.data["outcome"] == "failed"


async def test_a_permanent_failure_is_not_repeated() -> None:
    flaky = Flaky(["no such table: orders"])
    obs, records = await call_with_retries(flaky, flaky.tool, ToolCall(id="c1", name="write_row"), 3, no_wait)
    assert (flaky.calls, obs.is_error, records) == (1, True, ())


async def test_a_timed_out_write_is_left_to_the_model_but_a_timed_out_read_is_repeated() -> None:
    write = Flaky([TIMED_OUT])
    await call_with_retries(write, write.tool, ToolCall(id="c1", name="write_row"), 3, no_wait)
    assert write.calls == 1  # it may have taken effect: repeating could write twice
    read = Flaky([TIMED_OUT], name="read_rows")
    obs, _ = await call_with_retries(read, read.tool, ToolCall(id="c1", name="read_rows"), 3, no_wait)
    assert (read.calls, obs.content) == (2, "ok")


def test_annotations_decide_over_the_name() -> None:
    failure = Observation(call_id="c", content=TIMED_OUT, is_error=True)
    idempotent = ToolDef(name="write_file", description="", input_schema={}, annotations={"idempotentHint": True})
    writes = ToolDef(name="lookup", description="", input_schema={}, annotations={"readOnlyHint": False})
    assert safe_to_repeat(idempotent, failure)
    assert not safe_to_repeat(writes, failure)


async def test_zero_retries_hands_the_first_failure_to_the_model() -> None:
    flaky = Flaky([UNAVAILABLE])
    obs, records = await call_with_retries(flaky, flaky.tool, ToolCall(id="c1", name="write_row"), 0, no_wait)
    assert (flaky.calls, obs.content, records) == (1, UNAVAILABLE, ())


async def test_in_a_run_the_model_sees_only_the_result_and_the_step_records_the_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("nexthop.host._call_retry.backoff_s", no_wait)
    failures = [UNAVAILABLE, UNAVAILABLE]

    @tool
    def fetch_total() -> str:
        """Return the total."""
        if failures:
            raise RuntimeError(failures.pop(0))
        return "42"

    model = ScriptedModel([call("fetch_total"), finish("42")])
    async with AgentHost(model=model, tools=[fetch_total]) as host:
        result = await host.run("what is the total?")
    first = result.steps[0]
    assert [o.content for o in first.observations] == ["42"]
    assert [(r.policy, r.data["attempts"]) for r in first.records if r.policy == "retry"] == [("retry", 3)]
    assert result.termination.kind == "completed"


async def test_the_policy_setting_turns_host_retries_off(monkeypatch: pytest.MonkeyPatch) -> None:
    failures = [UNAVAILABLE]

    @tool
    def fetch_total() -> str:
        """Return the total."""
        if failures:
            raise RuntimeError(failures.pop(0))
        return "42"

    model = ScriptedModel([call("fetch_total"), finish("gave up")])
    async with AgentHost(model=model, tools=[fetch_total], policy=PolicyConfig(call_retries=0)) as host:
        result = await host.run("what is the total?")
    (obs,) = result.steps[0].observations
    assert obs.is_error and UNAVAILABLE in obs.content
    assert not [r for r in result.steps[0].records if r.policy == "retry"]


async def test_a_permanent_failure_after_transient_ones_carries_no_note() -> None:
    flaky = Flaky([UNAVAILABLE, "ENOTDIR: not a directory"])
    obs, (record,) = await call_with_retries(flaky, flaky.tool, ToolCall(id="c1", name="write_row"), 3, no_wait)
    assert (flaky.calls, obs.content) == (2, "ENOTDIR: not a directory")
    assert record.data["outcome"] == "failed"
