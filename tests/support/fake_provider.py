"""A real HTTP endpoint on 127.0.0.1 that plays a model provider, for the adapters' tests.

Each request is recorded (path, headers, JSON body) and answered with a queued reply
in the provider's own wire format, so the SDKs run unmodified, transport included.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeProvider", "Recorded", "serve"]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeProvider:
    """A provider endpoint: records each request and answers with queued replies.

    Replies are ``(status, json_body)``; the last one is repeated once the queue is
    down to it. ``hang`` makes the handler wait (for timeout tests) until teardown.
    """

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    replies: list[tuple[int, Any]] = field(default_factory=list)
    hang: threading.Event | None = None
    release: threading.Event = field(default_factory=threading.Event)

    def reply(self, body: Any, status: int = 200) -> None:
        self.replies.append((status, body))

    def next_reply(self) -> tuple[int, Any]:
        if not self.replies:
            return 500, {"error": {"message": "the fake has no reply queued"}}
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def _handler(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            fake.requests.append(
                Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw or b"null"))
            )
            if fake.hang is not None:
                fake.hang.set()
                fake.release.wait(10)
                return
            status, body = fake.next_reply()
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    return Handler


@contextmanager
def serve() -> Iterator[FakeProvider]:
    """Run a `FakeProvider` on an ephemeral port in a background thread."""
    fake = FakeProvider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
