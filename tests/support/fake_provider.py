"""A real HTTP endpoint on 127.0.0.1 that plays a model provider, for the adapters' tests.

Each request is recorded (path, headers, JSON body) and answered with a queued reply
in the provider's own wire format, so the SDKs run unmodified, transport included.
A fake may also enforce a real server's request schema (`llama_cpp_server_check`), so a
request that server would refuse fails here too, with the same status.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, NotRequired

import pydantic
from typing_extensions import TypedDict  # pydantic needs this one, not typing's, before Python 3.12

__all__ = ["FakeProvider", "Recorded", "llama_cpp_server_check", "serve"]

Check = Callable[[Any], "tuple[int, Any] | None"]
"""Looks at a request body; returns the server's (status, error body) to refuse it, or None."""


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
    check: Check | None = None

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
            refused = fake.check(fake.requests[-1].body) if fake.check is not None else None
            status, body = refused or fake.next_reply()
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
def serve(check: Check | None = None) -> Iterator[FakeProvider]:
    """Run a `FakeProvider` on an ephemeral port in a background thread; ``check`` may refuse requests."""
    fake = FakeProvider(check=check)
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


# llama-cpp-python 0.3.36's request schema for /v1/chat/completions, copied field for field
# from llama_cpp/llama_types.py and llama_cpp/server/types.py (CreateChatCompletionRequest);
# only the fields nexthop sends are kept. Its server validates with pydantic and, because
# its RouteErrorHandler catches every exception, answers a refused body with HTTP 500.
_JsonType = None | int | str | bool | list[Any] | dict[str, Any]  # no float: as upstream


class _Function(TypedDict):
    name: str
    arguments: str


class _ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: _Function


class _SystemMessage(TypedDict):
    role: Literal["system"]
    content: str | None


class _UserMessage(TypedDict):
    role: Literal["user"]
    content: str | list[dict[str, Any]] | None


class _AssistantMessage(TypedDict):
    role: Literal["assistant"]
    content: NotRequired[str]  # a string or absent: null is refused
    tool_calls: NotRequired[list[_ToolCall]]


class _ToolMessage(TypedDict):
    role: Literal["tool"]
    content: str | None
    tool_call_id: str


class _ToolFunction(TypedDict):
    name: str
    description: NotRequired[str]
    parameters: dict[str, _JsonType]


class _Tool(TypedDict):
    type: Literal["function"]
    function: _ToolFunction


class _NamedToolChoice(TypedDict):
    type: Literal["function"]
    function: dict[Literal["name"], str]


class _ChatRequest(pydantic.BaseModel):
    model: str | None = None
    messages: list[_SystemMessage | _UserMessage | _AssistantMessage | _ToolMessage] = []
    tools: list[_Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | _NamedToolChoice | None = None
    max_tokens: int | None = None
    temperature: float = 0.8


def llama_cpp_server_check(body: Any) -> tuple[int, Any] | None:
    """Refuse what llama-cpp-python's server refuses, as it does: HTTP 500, an OpenAI-style error."""
    try:
        _ChatRequest.model_validate(body)
    except pydantic.ValidationError as e:
        error = {"message": str(e), "type": "internal_server_error", "param": None, "code": None}
        return 500, {"error": error}
    return None
