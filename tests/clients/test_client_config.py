"""The config file's client-feature keys: sampling, roots, restart limits, health checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nexthop import ConfigError
from nexthop._config_file import load_config
from nexthop.clients import MCPConnection


def write(tmp_path: Path, server: dict[str, object]) -> Path:
    path = tmp_path / "servers.json"
    path.write_text(json.dumps({"mcpServers": {"s": {"command": "x", **server}}}))
    return path


def test_the_keys_are_read_and_reach_the_connection(tmp_path: Path) -> None:
    entry = {"sampling": "ask", "roots": ["data", "/abs"], "restartAttempts": 5, "maxRestarts": 2, "healthInterval": 7}
    [server] = load_config(write(tmp_path, entry)).servers
    assert server.sampling == "ask" and server.roots == (str(tmp_path / "data"), "/abs")
    conn = MCPConnection.from_config(server)
    assert (conn.reconnect_attempts, conn.max_restarts, conn.health_interval_s) == (5, 2, 7.0)
    assert conn.callbacks.sampling == "ask" and conn.callbacks.roots == (str(tmp_path / "data"), "/abs")


def test_defaults_leave_sampling_and_roots_to_the_host(tmp_path: Path) -> None:
    [server] = load_config(write(tmp_path, {})).servers
    assert (server.sampling, server.roots, server.restart_attempts, server.max_restarts) == (None, None, 3, None)
    assert server.health_interval_s == 30.0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"sampling": "sometimes"}, 'field "sampling": must be "off", "ask" or "allow", not "sometimes"'),
        ({"maxRestarts": -1}, 'field "maxRestarts": must be a whole number, 0 or more, not -1'),
        ({"healthInterval": "often"}, 'field "healthInterval": must be a number of seconds'),
        ({"roots": "data"}, 'field "roots": must be a list of strings'),
    ],
)
def test_mistakes_get_one_line_naming_the_field(tmp_path: Path, entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, entry))
