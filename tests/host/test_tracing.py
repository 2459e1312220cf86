"""OpenTelemetry traces after the GenAI conventions: the span tree of a run, in memory, over OTLP, across a delegation.

In this process, spans go to the SDK's `InMemorySpanExporter` through a provider that is
installed once and disabled between these tests (the global provider can be set only
once), so other tests run with no span recorded. Runs in child processes export over
OTLP/HTTP to a receiver in the test (``tests/support/otlp_receiver.py``).
"""

from __future__ import annotations

import contextvars
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import mcp
import pytest
from demo_server import make_server
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace import _default_tracer_configurator as _tracers_on  # pyright: ignore[reportPrivateUsage]
from opentelemetry.sdk.trace import _disable_tracer_configurator as _tracers_off  # pyright: ignore[reportPrivateUsage]
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from otlp_receiver import ReceivedSpan, otlp_receiver
from procs import no_new_children

from nexthop import AgentHost, ModelResponse, ScriptedModel, Usage
from nexthop.clients import MCPConnection
from nexthop.host._tracing import agent_span, carrier, join, leave
from nexthop.models import call, finish

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "tests" / "support" / "demo_server.py"
NEXTHOP = Path(sys.executable).parent / "nexthop"

_EXPORTER = InMemorySpanExporter()


def _provider() -> TracerProvider:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    return provider


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans recorded during the test; outside these tests the provider's tracers are disabled (nothing recorded)."""
    provider = _provider()
    _EXPORTER.clear()
    provider._set_tracer_configurator(tracer_configurator=_tracers_on)  # pyright: ignore[reportPrivateUsage]
    try:
        yield _EXPORTER
    finally:
        provider._set_tracer_configurator(tracer_configurator=_tracers_off)  # pyright: ignore[reportPrivateUsage]
        _EXPORTER.clear()


def _one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    out: list[ReadableSpan] = []
    while (parent := _parent(span)) in by_id:
        span = by_id[parent]  # type: ignore[index]
        out.append(span)
    return out


def _used(input_tokens: int, output_tokens: int, response: ModelResponse) -> ModelResponse:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, requests=1)
    return response.model_copy(update={"usage": usage})


async def test_a_run_is_an_invoke_agent_span_over_chat_and_execute_tool_with_the_mcp_spans_beneath(
    spans: InMemorySpanExporter,
) -> None:
    model = ScriptedModel([_used(120, 7, call("demo__echo", text="hi")), _used(150, 3, finish("done"))])
    async with AgentHost(model=model, servers=[MCPConnection("demo", make_server("demo"))]) as host:
        result = await host.run("say hi", run_id="r1")
    assert result.status == "completed"

    got = spans.get_finished_spans()
    agent = _one(got, "invoke_agent nexthop")
    assert agent.attributes is not None
    assert dict(agent.attributes) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "nexthop",
        "gen_ai.provider.name": "scripted",
        "gen_ai.system": "scripted",
        "gen_ai.request.model": "scripted",
        "nexthop.run.id": "r1",
        "nexthop.run.status": "completed",
        "nexthop.run.termination": "completed",
        "nexthop.run.steps": 2,
        "nexthop.run.attempts": 1,
        "gen_ai.usage.input_tokens": 270,
        "gen_ai.usage.output_tokens": 10,
        "gen_ai.usage.cache_read.input_tokens": 0,
    }
    chats = [s for s in got if s.name == "chat scripted"]
    assert [(s.attributes or {}).get("gen_ai.usage.input_tokens") for s in chats] == [120, 150]
    assert [(s.attributes or {}).get("gen_ai.usage.output_tokens") for s in chats] == [7, 3]
    assert {_parent(s) for s in chats} == {agent.context.span_id}
    assert chats[0].kind == trace.SpanKind.CLIENT

    tool = _one(got, "execute_tool demo__echo")
    assert _parent(tool) == agent.context.span_id
    assert tool.attributes is not None
    assert tool.attributes["gen_ai.tool.name"] == "demo__echo"
    assert tool.attributes["gen_ai.tool.call.id"] == result.steps[0].tool_calls[0].id
    assert tool.attributes["gen_ai.tool.type"] == "extension"
    assert tool.attributes["nexthop.tool.server"] == "demo"
    assert tool.status.status_code == StatusCode.UNSET
    # The MCP SDK's own spans, not a second set: the server's span under execute_tool (in memory the SDK
    # makes no client span; over stdio its "MCP send" span sits between, see the OTLP test).
    served = _one(got, "tools/call echo")
    assert served.instrumentation_scope is not None and served.instrumentation_scope.name == "mcp-python-sdk"
    by_id = {s.context.span_id: s for s in got}
    above = [a.name for a in _ancestors(served, by_id) if not a.name.startswith("MCP send")]
    assert above == ["execute_tool demo__echo", "invoke_agent nexthop"]
    assert {s.context.trace_id for s in (agent, *chats, tool, served)} == {agent.context.trace_id}
    assert not any(s.name.startswith("execute_tool finish") for s in got)


async def test_a_failed_call_is_an_error_on_its_execute_tool_span(spans: InMemorySpanExporter) -> None:
    model = ScriptedModel([call("demo__fail", message="disk full"), call("demo__nope"), finish("gave up")])
    async with AgentHost(model=model, servers=[MCPConnection("demo", make_server("demo"))]) as host:
        result = await host.run("write the report")

    got = spans.get_finished_spans()
    failed = _one(got, "execute_tool demo__fail")
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.status.description == result.steps[0].observations[0].content  # the error the model read
    assert (failed.attributes or {})["error.type"] == "tool_error"
    assert (_one(got, "tools/call fail").attributes or {})["error.type"] == "tool_error"  # the SDK's server span
    unknown = _one(got, "execute_tool demo__nope")
    assert (unknown.status.status_code, (unknown.attributes or {})["error.type"]) == (StatusCode.ERROR, "unknown_tool")
    agent = _one(got, "invoke_agent nexthop")
    assert agent.status.status_code == StatusCode.UNSET  # a failed call is an observation, not a failed run


async def test_a_model_error_fails_the_chat_span_and_the_run(spans: InMemorySpanExporter) -> None:
    async with AgentHost(model=ScriptedModel([])) as host:  # the script is out at the first request
        result = await host.run("anything")
    assert result.status == "error"

    got = spans.get_finished_spans()
    chat = _one(got, "chat scripted")
    assert (chat.status.status_code, (chat.attributes or {})["error.type"]) == (StatusCode.ERROR, "ModelError")
    agent = _one(got, "invoke_agent nexthop")
    assert (agent.status.status_code, (agent.attributes or {})["error.type"]) == (StatusCode.ERROR, "run_error")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return {**env, **extra}


def test_without_an_endpoint_no_span_is_made_and_the_sdk_is_never_imported(tmp_path: Path) -> None:
    script = tmp_path / "actions.json"
    script.write_text(json.dumps([{"tool": "demo__echo", "arguments": {"text": "hi"}}, {"tool": "finish"}]))
    probe = f"""
import sys
from opentelemetry import trace
from nexthop.cli import main
from nexthop.host._tracing import install_otlp, tracing_on
assert not install_otlp({{"OTEL_EXPORTER_OTLP_HEADERS": "x=1"}})
status = main(["run", "hi", "--model", "scripted:{script}", "--server", "demo={sys.executable} {DEMO}",
               "--pin-file", "{tmp_path / "pins.json"}"])
assert status == 0, status
assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
assert not tracing_on()
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter")))
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", probe], env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def _received_tree(spans: Sequence[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def test_nexthop_run_exports_its_spans_to_an_otlp_receiver(tmp_path: Path) -> None:
    script = tmp_path / "actions.json"
    script.write_text(json.dumps([{"tool": "demo__echo", "arguments": {"text": "hi"}}, {"tool": "finish"}]))
    argv = [str(NEXTHOP), "run", "say hi", "--model", f"scripted:{script}", "--server", f"demo={sys.executable} {DEMO}"]
    with otlp_receiver() as receiver:
        env = _clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_SERVICE_NAME="host-a")
        done = subprocess.run(
            [*argv, "--pin-file", str(tmp_path / "p.json")], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-3000:]
        spans = list(receiver.spans)  # flushed before the process exited

    agent = _received_tree(spans, "invoke_agent nexthop")
    assert (agent.service, agent.scope) == ("host-a", "nexthop")
    assert agent.attributes["nexthop.run.termination"] == "completed"
    assert agent.attributes["nexthop.run.steps"] == 2
    tool = _received_tree(spans, "execute_tool demo__echo")
    sent = _received_tree(spans, "MCP send tools/call echo")
    assert (tool.parent_id, sent.parent_id) == (agent.span_id, tool.span_id)
    chats = [s for s in spans if s.name == "chat actions.json"]  # scripted:<path>: the file's name
    assert len(chats) == 2 and {c.parent_id for c in chats} == {agent.span_id}
    assert {s.trace_id for s in (agent, tool, sent, *chats)} == {agent.trace_id}


def _as_received(span: ReadableSpan) -> ReceivedSpan:
    attributes: dict[str, Any] = dict(span.attributes or {})
    return ReceivedSpan(
        name=span.name,
        trace_id=format(span.context.trace_id, "032x"),
        span_id=format(span.context.span_id, "016x"),
        parent_id=format(span.parent.span_id, "016x") if span.parent else "",
        scope=span.instrumentation_scope.name if span.instrumentation_scope else "",
        service="host-a",
        attributes=attributes,
        status_code=span.status.status_code.value,
    )


def _postgres(database: str) -> str:
    """A database URL on the machine's PostgreSQL (started here, as tests/test_scale_out.py does)."""
    if shutil.which("pg_ctlcluster") is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    subprocess.run(["pg_ctlcluster", "15", "main", "start"], capture_output=True, timeout=60)
    password = "ALTER USER postgres PASSWORD 'nexthop'"
    subprocess.run(["su", "postgres", "-c", f'psql -q -c "{password}"'], capture_output=True, timeout=60, check=True)
    return f"postgresql://postgres:nexthop@127.0.0.1:5432/{database}"


def _received_ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[str]:
    names: list[str] = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        names.append(span.name)
    return names


@pytest.mark.integration
@pytest.mark.parametrize(
    ("mode", "b_store"),
    [
        ("auto", "off"),  # 2026-07-28: B runs the task in its server's background task group
        ("legacy", "off"),  # 2025-11-25: B runs it in the request's handler
        ("auto", "sqlite"),  # B's run is a DBOS workflow
        ("auto", "postgresql"),  # B is a queue worker: the run is taken from the queue, outside the call's context
    ],
)
async def test_one_trace_spans_host_a_and_the_host_b_it_delegates_to(
    spans: InMemorySpanExporter, tmp_path: Path, mode: str, b_store: str
) -> None:
    stores = {"off": "off", "sqlite": f"sqlite:///{tmp_path / 'b.sqlite'}"}
    store = stores.get(b_store) or _postgres(f"nexthop_trace_{uuid.uuid4().hex[:8]}")
    script = tmp_path / "b.json"
    script.write_text(
        json.dumps([{"tool": "demo__echo", "arguments": {"text": "from B"}}, {"tool": "finish", "arguments": {}}])
    )
    model = ScriptedModel([call("b__run_task", task="echo from B"), finish("done")])
    with no_new_children(), otlp_receiver() as receiver:
        params = mcp.StdioServerParameters(
            command=str(NEXTHOP),
            args=["serve", "--model", f"scripted:{script}", "--server", f"demo={sys.executable} {DEMO}"],
            env=_clean_env(
                OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
                OTEL_SERVICE_NAME="host-b",
                OTEL_BSP_SCHEDULE_DELAY="100",  # the batch processor's export interval (ms)
                NEXTHOP_STORE=store,
            ),
        )
        with anyio.fail_after(60):
            async with AgentHost(model=model, servers=[MCPConnection("b", params, mode=mode)]) as host:
                result = await host.run("have B echo")
                protocol = host.server_states()[0].protocol_version

                def arrived(received: list[ReceivedSpan]) -> bool:  # B's run, and its server span (ends last)
                    return {"invoke_agent nexthop", "tools/call run_task"} <= {s.name for s in received}

                # While B lives (it exports every 100 ms here), not at its exit: a slow exit may be cut short.
                assert await anyio.to_thread.run_sync(receiver.wait_for, arrived), [s.name for s in receiver.spans]
                b_spans = list(receiver.spans)
            assert result.status == "completed", result.termination
            assert (protocol == "2025-11-25") == (mode == "legacy"), protocol
            assert not result.steps[0].observations[0].is_error, result.steps[0].observations[0].content

    a_spans = [_as_received(s) for s in spans.get_finished_spans()]
    a_agent = _received_tree(a_spans, "invoke_agent nexthop")
    a_tool = _received_tree(a_spans, "execute_tool b__run_task")
    b_agent = _received_tree(b_spans, "invoke_agent nexthop")
    assert b_agent.service == "host-b"
    b_run = [s for s in b_spans if s.scope == "nexthop" and s.name != b_agent.name]
    assert len(b_run) == 3  # B's two model requests and its call to the demo server
    assert {s.trace_id for s in (b_agent, *b_run)} == {a_agent.trace_id}  # one trace over both hosts
    by_id = {s.span_id: s for s in (*a_spans, *b_spans)}
    # B's run sits under its MCP server span, under A's MCP client span, under A's execute_tool.
    assert _received_ancestors(b_agent, by_id)[:4] == [
        "tools/call run_task",
        "MCP send tools/call run_task",
        a_tool.name,
        a_agent.name,
    ]
    assert _received_ancestors(_received_tree(b_spans, "execute_tool demo__echo"), by_id)[0] == "invoke_agent nexthop"
    # Inside B's run too (a DBOS step when B has a store), the MCP SDK's span nests under execute_tool.
    assert _received_ancestors(_received_tree(b_spans, "MCP send tools/call echo"), by_id)[:2] == [
        "execute_tool demo__echo",
        "invoke_agent nexthop",
    ]
    b_chats = [s for s in b_spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(b_chats) == 2 and {s.parent_id for s in b_chats} == {b_agent.span_id}


def test_a_run_handed_to_another_task_joins_the_trace_it_carries(spans: InMemorySpanExporter) -> None:
    # What a run taken from the PostgreSQL queue does: its recorded input carries the caller's context.
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("caller") as caller:
        headers = carrier()
    assert headers["traceparent"].split("-")[2] == format(caller.get_span_context().span_id, "016x")

    def elsewhere() -> None:  # a fresh context, as in a queue worker's task
        token = join(headers)
        try:
            with agent_span("openai:gpt-4o@http://127.0.0.1:8000/v1?temperature=0", "q1"):
                pass
        finally:
            leave(token)

    contextvars.Context().run(elsewhere)
    agent = _one(spans.get_finished_spans(), "invoke_agent nexthop")
    assert agent.parent is not None and agent.parent.span_id == caller.get_span_context().span_id
    assert agent.context.trace_id == caller.get_span_context().trace_id
    assert agent.attributes is not None
    assert (agent.attributes["gen_ai.provider.name"], agent.attributes["gen_ai.request.model"]) == ("openai", "gpt-4o")
    assert join({}) is None and join(None) is None
