"""The client side of the official MCP conformance suite, driving nexthop's real client code.

The suite (npm ``@modelcontextprotocol/conformance``) starts a mock server per scenario
and runs ``python -m nexthop.cli._conformance <url>`` with the scenario in
``MCP_CONFORMANCE_SCENARIO``, the revision in ``MCP_CONFORMANCE_PROTOCOL_VERSION`` and,
for some, ``MCP_CONFORMANCE_CONTEXT`` (JSON: client credentials, tool calls to make). It
judges what this process sends; the process must exit 0 within the suite's timeout.

Everything goes through what ``nexthop run`` uses: an `HTTPServerConfig` with its
``oauth`` settings, the OAuth provider and token store (in a temporary folder), an
`MCPConnection` with the client callbacks, and an `AgentHost` whose `ScriptedModel`
makes the tool calls the scenario names (or, when it names none, calls each tool once
with arguments built from its schema). The only stand-in is the person: the suite's
mock authorization server approves at once, so "opening the browser" here means
fetching the authorization URL and reading the redirect's ``Location`` (not following
it), and elicitations are accepted with the schema's defaults.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

import anyio
import httpx2

from nexthop._toolset import ToolDef
from nexthop.clients._callbacks import ClientHooks, ElicitationAnswer, ElicitationRequest
from nexthop.clients._config import HTTPServerConfig, OAuthConfig
from nexthop.clients._connection import MCPConnection
from nexthop.clients._oauth import oauth_provider, parse_redirect
from nexthop.clients._oauth_store import token_store
from nexthop.host._host import AgentHost
from nexthop.models._model import ModelRequest, ModelResponse
from nexthop.models._scripted import ScriptedModel, call, finish
from nexthop.policies._config import PolicyConfig

__all__ = ["main", "run_scenario"]

_log = logging.getLogger("nexthop.conformance")
_REDIRECT_URI = "http://127.0.0.1:3000/callback"
_CIMD_URL = "https://conformance-test.local/client-metadata.json"
# 2025-11-25 scenarios get the initialize handshake; 2026-07-28 ones nexthop's default, "auto"
# (server/discover, retried at a version the server names on -32022, else initialize).
_MODES = {"2025-11-25": "legacy"}


def _context() -> dict[str, Any]:
    raw = os.environ.get("MCP_CONFORMANCE_CONTEXT")
    return json.loads(raw) if raw else {}


def oauth_settings(scenario: str, context: dict[str, Any]) -> OAuthConfig:
    """The config-file ``oauth`` settings a user would write for this scenario's server."""
    if not scenario.startswith("auth/"):
        return OAuthConfig(enabled=False)
    client_id, secret = context.get("client_id"), context.get("client_secret")
    if scenario == "auth/client-credentials-basic":
        return OAuthConfig.model_validate(
            {"grant": "client_credentials", "clientId": client_id, "clientSecret": secret}
        )
    return OAuthConfig.model_validate({"clientId": client_id, "clientSecret": secret, "clientMetadataUrl": _CIMD_URL})


class _AutoApprove:
    """The person who signs in: fetches the authorization URL and keeps the redirect it answers with."""

    def __init__(self) -> None:
        self.location = ""

    async def open(self, authorization_url: str) -> None:
        async with httpx2.AsyncClient() as http:
            response = await http.get(authorization_url, follow_redirects=False)
        self.location = response.headers.get("location", "")
        if not self.location:
            raise RuntimeError(f"authorization endpoint answered {response.status_code} without a redirect")

    async def redirect(self) -> str:
        return self.location


async def _accept_defaults(request: ElicitationRequest) -> ElicitationAnswer:
    """Accept a form with every default its schema offers (SEP-1034)."""
    properties: dict[str, Any] = request.schema_.get("properties", {})
    content: dict[str, Any] = {k: v["default"] for k, v in properties.items() if "default" in v}
    return ElicitationAnswer(action="accept", content=content)


def example_arguments(tool: ToolDef) -> dict[str, Any]:
    """Arguments for a tool from its input schema: defaults, else a plain value of each required type."""
    samples: dict[str, Any] = {"number": 1, "integer": 1, "string": "x", "boolean": True, "array": [], "object": {}}
    properties: dict[str, Any] = tool.input_schema.get("properties", {})
    required: list[str] = tool.input_schema.get("required", [])
    out: dict[str, Any] = {}
    for name, schema in properties.items():
        spec: dict[str, Any] = cast("dict[str, Any]", schema) if isinstance(schema, dict) else {}
        if "default" in spec:
            out[name] = spec["default"]
        elif name in required:
            out[name] = samples.get(str(spec.get("type")), "x")
    return out


def _without_nulls(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if v is not None}


def _script(calls: list[dict[str, Any]]) -> ScriptedModel:
    """A model that makes the scenario's tool calls in order, or calls every tool once, then finishes."""

    def plan(request: ModelRequest) -> list[ModelResponse]:
        tools = [t for t in request.tools if t.server == "conformance"]
        if calls:
            by_remote = {t.remote_name: t.name for t in tools}
            # nexthop checks a model's arguments against the tool's schema before calling, and
            # refuses null for a typed field; a model omits such a field instead.
            chosen = [
                (by_remote.get(c["name"], f"conformance__{c['name']}"), _without_nulls(c.get("arguments", {})))
                for c in calls
            ]
        else:
            chosen = [(t.name, example_arguments(t)) for t in tools]
        return [call(name, "", **args) for name, args in chosen] + [finish("done")]

    steps: list[ModelResponse] = []

    def step(request: ModelRequest) -> ModelResponse:
        if not steps:
            steps.extend(reversed(plan(request)))
        return steps.pop()

    return ScriptedModel(iter(lambda: step, None), name="conformance")


async def run_scenario(url: str, scenario: str, context: dict[str, Any], protocol: str, token_dir: Path) -> None:
    """Connect to the scenario's server as ``nexthop run`` would, make its calls, disconnect.

    Raises:
        ServerConnectionError: The server could not be reached or signed in to.
    """
    config = HTTPServerConfig(name="conformance", url=url, oauth=oauth_settings(scenario, context), timeout_s=20)
    person = _AutoApprove()

    async def callback() -> Any:
        return parse_redirect(config.name, await person.redirect())

    store = token_store(config.name, url, token_dir, keyring=False)
    auth = oauth_provider(
        config, store, redirect_uri=_REDIRECT_URI, redirect_handler=person.open, callback_handler=callback
    )
    hooks = ClientHooks(elicitor=_accept_defaults)
    connection = MCPConnection.from_config(config, mode=_MODES.get(protocol, "auto"), hooks=hooks, auth=auth)
    connection.connect_timeout_s = 25
    # Every scenario's mock server is named "conformance": pins from the last one are not a rug pull.
    policy = PolicyConfig(doom_loop_n=0, pinning=False)
    calls: list[dict[str, Any]] = list(context.get("toolCalls") or [])
    async with AgentHost(model=_script(calls), servers=[connection], hooks=hooks, strict=True, policy=policy) as host:
        result = await host.run("Make the calls the conformance scenario asks for.", max_steps=len(calls) + 40)
    _log.info("run ended: %s after %d steps", result.termination.kind, len(result.steps))


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m nexthop.cli._conformance <server-url>``; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m nexthop.cli._conformance <server-url>", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    protocol = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION", "2025-11-25")
    with tempfile.TemporaryDirectory(prefix="nexthop-conformance-") as tmp:
        anyio.run(run_scenario, args[-1], scenario, _context(), protocol, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
