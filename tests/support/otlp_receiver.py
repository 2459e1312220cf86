"""A local OTLP/HTTP trace receiver for tests: POST /v1/traces, protobuf decoded with ``opentelemetry-proto``.

Runs `http.server` in a thread on 127.0.0.1 and keeps every span it was sent as a
`ReceivedSpan`. `wait_for` blocks (in a worker thread, from async tests) until a span
with a given name has arrived.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived (ids in lower-case hex, as W3C traceparent writes them)."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str
    scope: str
    service: str
    attributes: dict[str, Any]
    status_code: int  # 0 unset, 1 ok, 2 error (the OTLP enum)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass
class Receiver:
    """What arrived so far; ``endpoint`` is the base URL to put in ``OTEL_EXPORTER_OTLP_ENDPOINT``."""

    endpoint: str = ""
    spans: list[ReceivedSpan] = field(default_factory=list[ReceivedSpan])
    requests: int = 0
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self._arrived:
            self.requests += 1
            for resource_spans in request.resource_spans:
                attrs = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for s in scope_spans.spans:
                        self.spans.append(
                            ReceivedSpan(
                                name=s.name,
                                trace_id=s.trace_id.hex(),
                                span_id=s.span_id.hex(),
                                parent_id=s.parent_span_id.hex(),
                                scope=scope_spans.scope.name,
                                service=str(attrs.get("service.name", "")),
                                attributes={a.key: _value(a.value) for a in s.attributes},
                                status_code=s.status.code,
                            )
                        )
            self._arrived.notify_all()

    def wait_for(self, done: Callable[[list[ReceivedSpan]], bool], timeout_s: float = 20.0) -> bool:
        """Block until ``done(spans)`` holds (True) or ``timeout_s`` seconds pass (False)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: done(self.spans), timeout_s)


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    """Serve POST /v1/traces on a free loopback port for the block's duration."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            receiver.add(body)
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
