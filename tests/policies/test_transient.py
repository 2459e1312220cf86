"""Transient failures: classified, retried unchanged without counting as a loop (within a bound), backed off."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import anyio
import pytest
import tenacity
from loop_driver import Driver
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from nexthop import AgentHost, RunResult, ScriptedModel
from nexthop._toolset import ToolDef, is_write
from nexthop._trajectory import Observation
from nexthop.clients import MCPConnection
from nexthop.models import call, finish
from nexthop.policies import PolicyConfig
from nexthop.policies._doom_loop import DoomLoop
from nexthop.policies._registry import start_policies
from nexthop.policies._transient import backoff_s, classify

pytestmark = pytest.mark.anyio

UNAVAILABLE = "the service is temporarily unavailable; retry the same call"


def service(outcomes: Iterator[str | None]) -> MCPConnection:
    """A server whose ``fetch`` fails with the next error text of ``outcomes``, or answers on None."""
    server = MCPServer("svc")
    counter = itertools.count(1)

    @server.tool()
    def fetch(item: str) -> str:
        """Fetch an item."""
        error = next(outcomes, None)
        if error is not None:
            raise ToolError(error)
        return f"{item} #{next(counter)}"

    return MCPConnection("svc", server)


async def run(outcomes: list[str | None], script: list[str], loop: DoomLoop) -> RunResult:
    responses = [call("svc__fetch", item="report") if s == "fetch" else finish("got it") for s in script]
    model = ScriptedModel(responses)
    async with AgentHost(
        model=model,
        servers=[service(iter(outcomes))],
        policy=PolicyConfig(doom_loop_n=0, call_retries=0),
        policies=[loop],
    ) as host:
        return await host.run("fetch the report")


def events(result: RunResult) -> list[tuple[int, str]]:
    return [
        (s.index, r.event) for s in result.steps for r in s.records if r.policy == "doom_loop" and r.event != "withheld"
    ]


FAST = tenacity.wait_exponential(multiplier=0.01)
"""A backoff of 10, 20, 40 ms, so the tests run quickly."""


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("svc__fetch failed: the server did not respond (temporary fault). Nothing was changed.", "transient"),
        (UNAVAILABLE, "transient"),
        ("fs__read timed out after 60 s and was cancelled on the server", "transient"),
        ("rate limit exceeded", "transient"),
        ("upstream answered HTTP 503", "transient"),
        ("502 Bad Gateway", "transient"),
        ("db: request timed out (code -32001)", "transient"),
        ("server 'fs' crashed or closed the connection during the call; restarting it, try again shortly", "transient"),
        ("flaky failure", "permanent"),
        ("ENOENT: no such file or directory, open 'x.txt'", "permanent"),
        ("invalid SQL near 'SELEC'; this error is not retryable", "permanent"),
        ("line 500 of the file is malformed", "permanent"),
    ],
)
def test_failures_are_classified_by_what_they_say(text: str, outcome: str) -> None:
    assert classify(Observation(call_id="1", content=text, is_error=True)) == outcome


def test_marks_and_kinds_of_observation_are_classified() -> None:
    assert classify(Observation(call_id="1", content="ok")) == "ok"
    refused = Observation(call_id="1", content="denied by policy: try again later", is_error=True, denied=True)
    assert classify(refused) == "denied"
    # A skip quotes the failure it repeats, retry words and all: it is still no failure of its own.
    skip = "not run: this exact call already failed at step 2 (Error: timed out, try again)"
    assert classify(Observation(call_id="1", content=skip, is_error=True, skipped=True)) == "skipped"
    marked = Observation(call_id="1", content="busy", is_error=True, structured={"retryable": True})
    assert classify(marked) == "transient"
    unmarked = Observation(call_id="1", content="try again", is_error=True, structured={"retryable": False})
    assert classify(unmarked) == "permanent"


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("Database error: no such table: city", "permanent"),  # the SQLite reference server, no isError
        ("Error: table users already exists", "permanent"),
        ("Error - ENOENT: no such file", "permanent"),
        ("Error executing tool fetch: the service is temporarily unavailable", "transient"),
        ("ERROR disk full\nINFO retry", "ok"),  # a log read back: no colon, dash or 'executing' after the label
        ("Done; no error: 3 rows", "ok"),  # a label counts only at the very start
        ("[{'affected_rows': 1}]", "ok"),
    ],
)
def test_a_success_that_starts_with_an_error_label_is_a_failure(text: str, outcome: str) -> None:
    assert classify(Observation(call_id="1", content=text)) == outcome


def test_backoff_doubles_from_half_a_second_to_eight() -> None:
    assert [backoff_s(k) for k in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_writes_are_told_by_annotations_or_by_name() -> None:
    assert is_write(ToolDef(name="fs__write_file", remote_name="write_file"))
    assert is_write(ToolDef(name="shop__cancelOrder"))
    assert not is_write(ToolDef(name="fs__read_file", remote_name="read_file"))
    assert not is_write(ToolDef(name="app__get_settings"))  # "settings" is not "set"
    assert not is_write(ToolDef(name="db__write_query", annotations={"readOnlyHint": True}))
    assert is_write(ToolDef(name="db__lookup", annotations={"destructiveHint": False}))


async def test_a_transient_failure_retried_then_succeeding_is_no_loop() -> None:
    # Issue 13: three "temporarily unavailable" answers, then the same call succeeds.
    result = await run([UNAVAILABLE] * 3, ["fetch"] * 4 + ["finish"], DoomLoop(3, backoff=FAST))
    assert (result.termination.kind, result.result) == ("completed", "got it")
    assert events(result) == [
        (1, "transient"),
        (2, "backoff"),
        (2, "transient"),
        (3, "backoff"),
        (3, "transient"),
        (4, "backoff"),
    ]
    backoffs = [r.data for s in result.steps for r in s.records if r.event == "backoff"]
    assert [(b["attempt"], b["backoff_s"]) for b in backoffs] == [(1, 0.01), (2, 0.02), (3, 0.04)]
    assert all(0 <= b["wait_s"] <= b["backoff_s"] for b in backoffs)
    # Without the retry handling the model is told at step 3 not to retry; the success at step 4
    # (the call the issue saw stopped) still ends nothing, since a stop never follows a success.
    before = await run([UNAVAILABLE] * 3, ["fetch"] * 4 + ["finish"], DoomLoop(3, transient_retries=0))
    assert events(before) == [(3, "hint")] and "will not change the outcome" in before.steps[2].hint
    assert before.termination.kind == "completed"


async def test_a_permanent_error_repeated_still_stops() -> None:
    result = await run(["no such report"] * 9, ["fetch"] * 9, DoomLoop(3, backoff=FAST))
    assert events(result) == [(3, "hint"), (4, "stop")]
    assert result.termination.evidence["pattern"] == "same_call"
    assert not any(r.event == "backoff" for s in result.steps for r in s.records)


async def test_the_host_waits_the_backoff_before_the_retry() -> None:
    result = await run([UNAVAILABLE], ["fetch", "fetch", "finish"], DoomLoop(3, backoff=tenacity.wait_fixed(0.3)))
    [record] = [r for r in result.steps[1].records if r.event == "backoff"]
    assert record.data["backoff_s"] == 0.3 and record.data["wait_s"] > 0.2
    assert result.steps[1].duration_s >= record.data["wait_s"]
    assert result.steps[1].observations[0].content == "report #1"


def test_transient_retries_have_a_bound_of_their_own() -> None:
    driver = Driver(transient_retries=5)
    verdicts = [driver.one("svc__fetch", UNAVAILABLE, error=True, item="r") for _ in range(9)]
    assert [v.kind for v in verdicts] == ["go_on"] * 7 + ["hint", "stop"]
    assert [r.data["retry"] for v in verdicts[:5] for r in v.records] == [1, 2, 3, 4, 5]
    assert verdicts[8].evidence["pattern"] == "same_call"


def test_the_pause_counts_the_time_the_model_took() -> None:
    # The driver's clock reads k seconds at step k: each retry comes one second after its failure.
    driver = Driver()
    for _ in range(5):
        assert driver.one("svc__fetch", UNAVAILABLE, error=True, item="r").kind == "go_on"
    pauses = [(c.delay_s, c.records[0].data) for c in driver.checks if c.records]
    assert pauses == [
        (0.0, {"tool": "svc__fetch", "attempt": 1, "backoff_s": 0.5, "wait_s": 0.0}),
        (0.0, {"tool": "svc__fetch", "attempt": 2, "backoff_s": 1.0, "wait_s": 0.0}),
        (1.0, {"tool": "svc__fetch", "attempt": 3, "backoff_s": 2.0, "wait_s": 1.0}),
        (3.0, {"tool": "svc__fetch", "attempt": 4, "backoff_s": 4.0, "wait_s": 3.0}),
    ]


async def test_abandonment_alone_decides_on_a_flaky_tool() -> None:
    # The tool fails transiently every other call: each failure is retried, so the doom loop never
    # counts one; abandonment draws once per failure (no double count) and gives up.
    outcomes = iter(["svc__fetch failed: temporary fault" if i % 2 else None for i in range(1, 200)])
    policy = PolicyConfig(abandonment="inquisitive", abandonment_seed=3, doom_loop_n=0, call_retries=0)
    model = ScriptedModel(itertools.repeat(call("svc__fetch", item="report")))
    loop = DoomLoop(3, backoff=FAST)
    with anyio.fail_after(20):
        async with AgentHost(
            model=model, servers=[service(outcomes)], policy=policy, policies=[loop], max_steps=40
        ) as host:
            result = await host.run("fetch the report")
    failures = sum(o.is_error for s in result.steps for o in s.observations)
    draws = [r.data for s in result.steps for r in s.records if r.policy == "abandonment"]
    assert result.termination.kind == "abandoned"
    assert not [e for _, e in events(result) if e in ("hint", "stop", "finish_offer")]
    assert len(draws) == failures and all(d["transient"] for d in draws)


def test_the_bound_is_a_policy_setting() -> None:
    [loop] = [p for p in start_policies(PolicyConfig(transient_retries=0)) if isinstance(p, DoomLoop)]
    assert loop.transient_retries == 0
    [default] = [p for p in start_policies(PolicyConfig()) if isinstance(p, DoomLoop)]
    assert default.transient_retries == 5
