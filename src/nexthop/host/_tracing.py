"""OpenTelemetry traces after the GenAI semantic conventions: ``invoke_agent``, ``chat``, ``execute_tool``.

One run is an ``invoke_agent`` span; each model request inside it a ``chat`` span with
its token usage; each tool call an ``execute_tool`` span with its server and, when it
failed, ``error.type`` and an ERROR status (span names and attributes after
https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-agent-spans/ and
gen-ai-spans/). The MCP spans are the SDK's own (tracer ``mcp-python-sdk``): a tool
call runs inside its ``execute_tool`` span, so the SDK's client span is its child and
the W3C trace context the SDK puts in the request's ``_meta`` (SEP-414) carries the
trace into the server, and into a delegated run when that server is another nexthop.

Off unless a tracer provider is installed: `install_otlp` installs one when the
environment names an OTLP endpoint (the CLI asks), and a Python user may install their
own. With none, every helper here checks one global and steps aside, and the SDK is
never imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, StatusCode

from nexthop._sanitize import one_line
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, RunResult, ToolCall, Usage
from nexthop.models._model import Model, ModelRequest, ModelResponse

__all__ = [
    "AGENT_NAME",
    "TracedModel",
    "agent_span",
    "carrier",
    "install_otlp",
    "join",
    "leave",
    "record_run",
    "record_tool",
    "tool_span",
    "tracing_on",
]

AGENT_NAME = "nexthop"
"""``gen_ai.agent.name`` of every run."""

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_ERROR_CHARS = 200  # longest error text put on a span (characters); the rest stays in the trajectory

# A proxy until a provider is installed, so spans started after `install_otlp` are real.
_tracer = trace.get_tracer("nexthop")


def tracing_on() -> bool:
    """Whether a tracer provider is installed (the API's default is a no-op proxy)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def install_otlp(environ: Mapping[str, str]) -> bool:
    """Export traces with OTLP over HTTP when ``environ`` names an endpoint; else do nothing.

    The endpoint is ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` as given, or
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` plus ``/v1/traces`` (the OTLP exporter's rule). The
    exporter reads its other settings (``OTEL_EXPORTER_OTLP_HEADERS``, ``..._TIMEOUT``)
    from the process environment itself. Spans are batched and flushed when the process
    exits. ``OTEL_SERVICE_NAME`` names the service, ``nexthop`` by default.

    Args:
        environ: The environment to read (the CLI passes ``os.environ``).

    Returns:
        True when a provider was installed; False when no endpoint is set,
        ``OTEL_SDK_DISABLED`` is true, or a provider was installed before.
    """
    traces, base = environ.get(_ENDPOINT_VARS[0]), environ.get(_ENDPOINT_VARS[1])
    if not (traces or base) or environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true" or tracing_on():
        return False
    # Only here: a run without an endpoint never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = traces or f"{(base or '').rstrip('/')}/v1/traces"
    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or AGENT_NAME})
    provider = TracerProvider(resource=resource)  # flushes at exit (shutdown_on_exit)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return True


def _model_attributes(name: str) -> dict[str, str]:
    """``gen_ai.provider.name`` and ``gen_ai.request.model`` from a model string (``openai:gpt-4o@url?opts``)."""
    provider, _, model = name.partition(":")
    model = model.split("?", 1)[0].split("@", 1)[0] or provider
    provider = "llama.cpp" if provider in ("local", "llama-cpp") else provider
    if provider == "scripted":  # scripted:<path/actions.json>: the file's name, not where it lies
        model = model.replace("\\", "/").rsplit("/", 1)[-1]
    # gen_ai.system is the older name of gen_ai.provider.name; many backends still read it.
    return {"gen_ai.provider.name": provider, "gen_ai.system": provider, "gen_ai.request.model": model}


def _fail(span: Span, error_type: str, message: str) -> None:
    span.set_attribute("error.type", error_type)
    span.set_status(StatusCode.ERROR, one_line(message, _ERROR_CHARS))


@contextlib.contextmanager
def _span(name: str, kind: SpanKind, attributes: dict[str, Any]) -> Generator[Span]:
    """A current span whose exceptions (cancellation too) end it as an error, named by their class."""
    with _tracer.start_as_current_span(
        name, kind=kind, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except BaseException as e:
            _fail(span, type(e).__qualname__, str(e) or type(e).__qualname__)
            raise


@contextlib.contextmanager
def agent_span(model_name: str, run_id: str | None = None) -> Generator[Span]:
    """The ``invoke_agent`` span of one run (every attempt of it); `record_run` adds the outcome.

    Args:
        model_name: The host's model string, for ``gen_ai.request.model``.
        run_id: The run's id, when it has one (a served or stored run).

    Yields:
        The span, current for the run; ``INVALID_SPAN`` (nothing recorded) when tracing is off.
    """
    if not tracing_on():
        yield INVALID_SPAN
        return
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": AGENT_NAME,
        **_model_attributes(model_name),
    }
    if run_id:
        attributes["nexthop.run.id"] = run_id
    with _span(f"invoke_agent {AGENT_NAME}", SpanKind.INTERNAL, attributes) as span:
        yield span


def record_run(span: Span, result: RunResult) -> RunResult:
    """Put a run's outcome on its ``invoke_agent`` span; returns ``result`` unchanged."""
    if span.is_recording():
        reason = result.termination
        span.set_attributes(
            {
                "nexthop.run.status": result.status,
                "nexthop.run.termination": reason.kind,
                "nexthop.run.steps": len(result.steps),
                "nexthop.run.attempts": len(result.attempts) + 1,
                **_usage(result.usage),
            }
        )
        if reason.policy:
            span.set_attribute("nexthop.run.termination.policy", reason.policy)
        if result.status == "error":
            _fail(span, "run_error", reason.detail)
    return result


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cached_input_tokens,
    }


class TracedModel(Model):
    """``inner`` with each request a ``chat`` span (after pydantic-ai's ``InstrumentedModel``).

    It wraps the model the host calls (the loop's, the retry reflection's and the
    servers' sampling), so every request is traced; with tracing off it adds one check.
    """

    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.name = inner.name
        self._attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", **_model_attributes(inner.name)}

    async def request(self, request: ModelRequest) -> ModelResponse:
        """``inner.request`` inside a ``chat`` span with the request's settings and the reply's usage."""
        if not tracing_on():
            return await self.inner.request(request)
        attributes = {**self._attributes, "gen_ai.request.max_tokens": request.settings.max_output_tokens}
        if request.settings.temperature is not None:
            attributes["gen_ai.request.temperature"] = request.settings.temperature
        with _span(f"chat {self._attributes['gen_ai.request.model']}", SpanKind.CLIENT, attributes) as span:
            response = await self.inner.request(request)
            span.set_attributes(_usage(response.usage))
            return response

    def tool_list_share(self, tools: Sequence[ToolDef]) -> float | None:
        """``inner``'s answer (tool narrowing asks it)."""
        return self.inner.tool_list_share(tools)

    async def aclose(self) -> None:
        """Close ``inner``."""
        await self.inner.aclose()


@contextlib.contextmanager
def tool_span(call: ToolCall, tool: ToolDef | None) -> Generator[Span]:
    """The ``execute_tool`` span of one call (its checks, approval and the call itself).

    Args:
        call: The model's call.
        tool: The tool on offer under that name; None when there is none.

    Yields:
        The span, current while the call runs, so an MCP call's SDK spans are its
        children; ``INVALID_SPAN`` when tracing is off or the call is ``finish``.
    """
    if call.name == FINISH_TOOL.name or not tracing_on():
        yield INVALID_SPAN
        return
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.name,
        "gen_ai.tool.call.id": call.id,
        # The convention's types: an MCP server's tool is an "extension", a Python one a "function".
        "gen_ai.tool.type": "extension" if tool is not None and tool.server else "function",
    }
    if tool is not None and tool.server:
        attributes["nexthop.tool.server"] = tool.server
    with _span(f"execute_tool {call.name}", SpanKind.INTERNAL, attributes) as span:
        yield span


def record_tool(span: Span, tool: ToolDef | None, observation: Observation) -> None:
    """Mark a failed call on its span: ``error.type`` (``unknown_tool``, ``denied``, ``tool_error``), ERROR status.

    The status text is the error's first 200 characters, already cleaned (it may quote the server).
    """
    if not span.is_recording() or not observation.is_error:
        return
    kind = "unknown_tool" if tool is None else "denied" if observation.denied else "tool_error"
    _fail(span, kind, observation.content)


def carrier() -> dict[str, str]:
    """The current trace context as W3C headers (``traceparent``), to hand a run to another task or process."""
    headers: dict[str, str] = {}
    if tracing_on():
        propagate.inject(headers)
    return headers


def join(headers: Mapping[str, str] | None) -> object | None:
    """Make the trace context in ``headers`` (from `carrier`) current, so spans started here join that trace.

    Returns:
        A token for `leave`, or None when there was nothing to join (or tracing is off).
    """
    if not headers or not tracing_on():
        return None
    return otel_context.attach(propagate.extract(dict(headers)))


def leave(token: object | None) -> None:
    """Undo `join` (in the same task)."""
    if token is not None:
        otel_context.detach(token)  # pyright: ignore[reportArgumentType] - the token `join` returned
