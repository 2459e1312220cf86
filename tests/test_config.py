"""Tests for nexthop.clients._config: IDE-format server files and the --server flag."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from nexthop._config_file import HostConfig, load_config, merge
from nexthop._exceptions import ConfigError
from nexthop.clients._config import (
    HTTPServerConfig,
    SSEServerConfig,
    StdioServerConfig,
    parse_server_flag,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def write(tmp_path: Path, data: Any, name: str = "servers.json") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def config_error(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={} if env is None else env)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def server_error(tmp_path: Path, entry: Any, env: dict[str, str] | None = None, name: str = "s1") -> str:
    path = write(tmp_path, {"mcpServers": {name: entry}})
    message = config_error(path, env)
    assert f'server "{name}"' in message
    return message


# --------------------------------------------------------------------------- formats


def test_claude_desktop_stdio(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "mcpServers": {
                "fs": {"command": "npx", "args": ["-y", "pkg", "/data"], "env": {"A": "1"}},
                "git": {"command": "uvx", "args": ["mcp-server-git"]},
            }
        },
    )
    config = load_config(path, env={})
    assert config.source == path.resolve()
    assert config.servers == (
        StdioServerConfig(name="fs", command="npx", args=["-y", "pkg", "/data"], env={"A": "1"}),
        StdioServerConfig(name="git", command="uvx", args=["mcp-server-git"]),
    )
    fs = config.servers[0]
    assert isinstance(fs, StdioServerConfig)
    assert (fs.kind, fs.cwd, fs.timeout_s, fs.max_timeout_s) == ("stdio", None, 60.0, 600.0)


def test_vscode_servers_with_types(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "inputs": [],
            "servers": {
                "local": {"type": "stdio", "command": "node", "args": ["server.js"]},
                "remote": {"type": "http", "url": "https://a.example/mcp", "headers": {"X-Key": "k"}},
                "stream": {"type": "streamable-http", "url": "http://localhost:8000/mcp"},
                "old": {"type": "sse", "url": "http://localhost:8001/sse"},
            },
        },
    )
    local, remote, stream, old = load_config(path, env={}).servers
    assert local == StdioServerConfig(name="local", command="node", args=["server.js"])
    assert remote == HTTPServerConfig(name="remote", url="https://a.example/mcp", headers={"X-Key": "k"})
    assert stream == HTTPServerConfig(name="stream", url="http://localhost:8000/mcp")
    assert old == SSEServerConfig(name="old", url="http://localhost:8001/sse")
    assert [s.kind for s in (local, remote, stream, old)] == ["stdio", "http", "http", "sse"]


def test_url_without_type_is_http(tmp_path: Path) -> None:
    path = write(tmp_path, {"mcpServers": {"api": {"url": "https://a.example/mcp"}}})
    (api,) = load_config(path, env={}).servers
    assert isinstance(api, HTTPServerConfig)


def test_type_is_case_insensitive_and_accepts_ide_spellings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "mcpServers": {
                "a": {"type": "streamableHttp", "url": "https://a.example/mcp"},
                "b": {"type": "SSE", "url": "https://b.example/sse"},
            }
        },
    )
    assert [s.kind for s in load_config(path, env={}).servers] == ["http", "sse"]


def test_vscode_settings_nesting_under_mcp(tmp_path: Path) -> None:
    path = write(tmp_path, {"editor.fontSize": 12, "mcp": {"servers": {"x": {"command": "x"}}}})
    assert [s.name for s in load_config(path, env={}).servers] == ["x"]


def test_jsonc_comments_and_trailing_commas(tmp_path: Path) -> None:
    text = """{
      // VS Code writes comments
      "servers": {
        /* a block comment */
        "fs": {"command": "npx", "args": ["a // not a comment", "b,]"],},
      },
    }"""
    (fs,) = load_config(write(tmp_path, text), env={}).servers
    assert isinstance(fs, StdioServerConfig)
    assert fs.args == ["a // not a comment", "b,]"]


@pytest.mark.parametrize("text", ['{"mcpServers": {,}}', '{"mcpServers": {"a": {"command": "x",,}}}', "[,]"])
def test_stray_commas_are_still_errors(tmp_path: Path, text: str) -> None:
    assert "invalid JSON at line 1" in config_error(write(tmp_path, text))


def test_empty_server_map_is_allowed(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, {"mcpServers": {}}), env={}).servers == ()


def test_order_is_kept(tmp_path: Path) -> None:
    names = ["zeta", "alpha", "mid-1", "B_2"]
    path = write(tmp_path, {"mcpServers": {n: {"command": "x"} for n in names}})
    assert [s.name for s in load_config(path, env={}).servers] == names


# --------------------------------------------------------------------------- ignored keys


def test_disabled_servers_are_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "mcpServers": {
                "off": {"command": "x", "disabled": True},
                "also_off": {"command": "x", "enabled": False},
                "broken_but_off": {"disabled": True},
                "on": {"command": "y", "disabled": False},
            }
        },
    )
    assert [s.name for s in load_config(path, env={}).servers] == ["on"]


def test_ide_keys_and_unknown_keys_are_ignored(tmp_path: Path) -> None:
    entry = {
        "command": "x",
        "envFile": "${workspaceFolder}/.env",
        "autoApprove": ["read"],
        "alwaysAllow": ["read"],
        "description": "d",
        "somethingNew": {"nested": 1},
    }
    (s,) = load_config(write(tmp_path, {"mcpServers": {"s": entry}}), env={}).servers
    assert s == StdioServerConfig(name="s", command="x")


# --------------------------------------------------------------------------- variables


def test_variables_are_expanded_everywhere(tmp_path: Path) -> None:
    env = {"ROOT": "/srv", "TOKEN": "t0k", "HOST": "api.example", "BIN": "/opt/bin"}
    path = write(
        tmp_path,
        {
            "servers": {
                "fs": {
                    "command": "${BIN}/server",
                    "args": ["--root", "${ROOT}/data", "${env:TOKEN}"],
                    "env": {"KEY": "Bearer ${TOKEN}"},
                    "cwd": "${ROOT}",
                },
                "api": {
                    "url": "https://${HOST}/mcp",
                    "headers": {"Authorization": "Bearer ${env:TOKEN}"},
                },
            }
        },
    )
    fs, api = load_config(path, env=env).servers
    assert fs == StdioServerConfig(
        name="fs",
        command="/opt/bin/server",
        args=["--root", "/srv/data", "t0k"],
        env={"KEY": "Bearer t0k"},
        cwd="/srv",
    )
    assert api == HTTPServerConfig(name="api", url="https://api.example/mcp", headers={"Authorization": "Bearer t0k"})


def test_env_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXTHOP_TEST_VAR", "from-os")
    path = write(tmp_path, {"mcpServers": {"s": {"command": "${NEXTHOP_TEST_VAR}"}}})
    (s,) = load_config(path).servers
    assert isinstance(s, StdioServerConfig) and s.command == "from-os"


def test_default_values_nest(tmp_path: Path) -> None:
    path = write(tmp_path, {"mcpServers": {"s": {"command": "${VENV:-${HOME}/.venv}/bin/x", "args": ["${EMPTY:-d}"]}}})
    (s,) = load_config(path, env={"HOME": "/home/u", "EMPTY": ""}).servers
    assert isinstance(s, StdioServerConfig)
    assert (s.command, s.args) == ("/home/u/.venv/bin/x", ["d"])
    (s,) = load_config(path, env={"VENV": "/v", "EMPTY": "set"}).servers
    assert isinstance(s, StdioServerConfig)
    assert (s.command, s.args) == ("/v/bin/x", ["set"])


def test_vscode_builtin_variables(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"servers": {"s": {"command": "x", "args": ["${workspaceFolder}", "${userHome}"]}}},
        name="proj/.vscode/mcp.json",
    )
    (s,) = load_config(path, env={}).servers
    assert isinstance(s, StdioServerConfig)
    assert s.args == [str((tmp_path / "proj").resolve()), str(Path.home())]


def test_text_without_variables_is_untouched(tmp_path: Path) -> None:
    path = write(tmp_path, {"mcpServers": {"s": {"command": "x", "args": ["$HOME", "a$b", "{}", "$"]}}})
    (s,) = load_config(path, env={"HOME": "/h"}).servers
    assert isinstance(s, StdioServerConfig) and s.args == ["$HOME", "a$b", "{}", "$"]


def test_undefined_variable(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"command": "x", "args": ["--db", "${DB_PATH}"]}, name="db")
    assert 'field "args[1]"' in message
    assert "${DB_PATH} is not set in the environment (set it or edit the file)" in message


def test_undefined_env_prefixed_variable_in_header(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"url": "https://a/mcp", "headers": {"Authorization": "${env:TOKEN}"}})
    assert 'field "headers.Authorization"' in message and "${TOKEN} is not set" in message


def test_vscode_input_variable_is_explained(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"command": "x", "env": {"KEY": "${input:api-key}"}})
    assert 'field "env.KEY"' in message and "prompt input" in message and "${env:VAR}" in message


def test_bad_variable_syntax(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"command": "${not a var}"})
    assert 'field "command"' in message and "not a variable reference" in message
    message = server_error(tmp_path, {"command": "x", "cwd": "${HOME"})
    assert 'field "cwd"' in message and "closing" in message


# --------------------------------------------------------------------------- cwd, timeouts


def test_relative_cwd_resolves_against_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, {"mcpServers": {"s": {"command": "x", "cwd": "work/../data"}}}, name="conf/servers.json")
    monkeypatch.chdir(tmp_path)
    (s,) = load_config(Path("conf/servers.json"), env={}).servers
    assert isinstance(s, StdioServerConfig)
    assert s.cwd == str(path.resolve().parent / "data")
    assert s.cwd is not None and os.path.isabs(s.cwd)


def test_absolute_cwd_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, {"mcpServers": {"s": {"command": "x", "cwd": "/var/tmp"}}})
    (s,) = load_config(path, env={}).servers
    assert isinstance(s, StdioServerConfig) and s.cwd == "/var/tmp"


def test_timeouts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "mcpServers": {
                "a": {"command": "x", "timeout": 5, "maxTimeout": 30.5},
                "b": {"command": "x", "timeout_s": 2.5},
                "c": {"url": "https://c/mcp", "timeout": 900},
            }
        },
    )
    a, b, c = load_config(path, env={}).servers
    assert (a.timeout_s, a.max_timeout_s) == (5.0, 30.5)
    assert (b.timeout_s, b.max_timeout_s) == (2.5, 600.0)
    assert (c.timeout_s, c.max_timeout_s) == (900.0, 900.0)  # an explicit long timeout lifts the default ceiling


@pytest.mark.parametrize("value", [0, -1, "10", True, None])
def test_bad_timeout(tmp_path: Path, value: Any) -> None:
    entry: dict[str, Any] = {"command": "x", "timeout": value}
    if value is None:
        entry = {"command": "x", "maxTimeout": [1]}
    message = server_error(tmp_path, entry)
    assert ('field "timeout"' if value is not None else 'field "maxTimeout"') in message
    assert "positive number of seconds" in message


def test_timeout_above_max(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"command": "x", "timeout": 100, "maxTimeout": 50})
    assert 'field "timeout"' in message and "maxTimeout" in message


# --------------------------------------------------------------------------- entry errors


def test_command_must_be_a_string(tmp_path: Path) -> None:
    path = write(tmp_path, {"mcpServers": {"fs": {"command": ["npx", "-y"]}}})
    assert config_error(path) == f'{path}: server "fs": field "command": must be a string (e.g. "npx")'


def test_command_missing_for_stdio_type(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"type": "stdio", "args": []})
    assert 'field "command": missing' in message and '"npx"' in message


def test_empty_command(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"command": "  "})
    assert 'field "command"' in message and "empty" in message


def test_url_missing_for_http_type(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"type": "http"})
    assert 'field "url": missing' in message


def test_url_scheme(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"url": "localhost:8000/mcp"})
    assert 'field "url"' in message and "http://" in message


def test_unknown_type(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"type": "websocket", "url": "ws://a"})
    assert 'field "type"' in message and '"websocket"' in message and '"streamable-http"' in message


def test_neither_command_nor_url(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"args": ["x"]})
    assert '"command"' in message and '"url"' in message


def test_both_command_and_url(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"command": "x", "url": "https://a"})
    assert "keep" in message


def test_args_must_be_a_list_of_strings(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"command": "x", "args": "-y pkg"})
    assert 'field "args"' in message and "list of strings" in message
    message = server_error(tmp_path, {"command": "x", "args": ["ok", {"no": 1}]})
    assert 'field "args[1]"' in message


def test_numbers_in_args_and_env_become_strings(tmp_path: Path) -> None:
    path = write(tmp_path, {"mcpServers": {"s": {"command": "x", "args": ["--port", 8080], "env": {"N": 3}}}})
    (s,) = load_config(path, env={}).servers
    assert isinstance(s, StdioServerConfig)
    assert (s.args, s.env) == (["--port", "8080"], {"N": "3"})


def test_env_and_headers_must_be_objects_of_strings(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"command": "x", "env": ["A=1"]})
    assert 'field "env"' in message and "object" in message
    message = server_error(tmp_path, {"command": "x", "env": {"A": None}})
    assert 'field "env.A"' in message and "must be a string" in message
    message = server_error(tmp_path, {"url": "https://a", "headers": {"X": True}})
    assert 'field "headers.X"' in message


def test_cwd_must_be_a_string(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"command": "x", "cwd": 3})
    assert 'field "cwd"' in message and "string" in message


def test_entry_must_be_an_object(tmp_path: Path) -> None:
    message = server_error(tmp_path, "npx -y pkg")
    assert "must be an object" in message


@pytest.mark.parametrize(("name", "hint"), [("my server", '"my_server"'), ("a.b", '"a_b"'), ("fs__x", '"fs_x"')])
def test_bad_server_names(tmp_path: Path, name: str, hint: str) -> None:
    message = server_error(tmp_path, {"command": "x"}, name=name)
    assert "name" in message and hint in message


def test_double_underscore_reason(tmp_path: Path) -> None:
    message = server_error(tmp_path, {"command": "x"}, name="a__b")
    assert "<server>__<tool>" in message


def test_duplicate_names(tmp_path: Path) -> None:
    path = write(tmp_path, '{"mcpServers": {"fs": {"command": "a"}, "fs": {"command": "b"}}}')
    message = config_error(path)
    assert 'server "fs"' in message and "twice" in message


# --------------------------------------------------------------------------- file errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    message = config_error(path)
    assert "no such file" in message


def test_folder_instead_of_file(tmp_path: Path) -> None:
    assert "folder" in config_error(tmp_path)


def test_invalid_json_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "mcpServers": {\n    "fs": {"command": "npx" "args": []}\n  }\n}')
    message = config_error(path)
    assert "invalid JSON at line 3, column 29" in message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "servers.json"
    path.write_bytes(b'{"mcpServers": {"\xff": {}}}')
    assert "UTF-8" in config_error(path)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "servers.json"
    path.write_bytes(b'\xef\xbb\xbf{"mcpServers": {}}')
    assert load_config(path, env={}).servers == ()


def test_neither_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, {"mcp_servers": {}, "other": 1})
    message = config_error(path)
    assert '"mcpServers"' in message and '"servers"' in message and '"mcp_servers"' in message


def test_top_level_not_an_object(tmp_path: Path) -> None:
    assert "top level" in config_error(write(tmp_path, []))


def test_server_map_not_an_object(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, {"servers": [{"command": "x"}]}))
    assert '"servers" must be an object' in message


def test_both_top_level_keys(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, {"servers": {}, "mcpServers": {}}))
    assert "keep one" in message


# --------------------------------------------------------------------------- --server, merge


def test_parse_server_flag() -> None:
    s = parse_server_flag("fs=npx -y @modelcontextprotocol/server-filesystem '/my dir'")
    assert s == StdioServerConfig(
        name="fs", command="npx", args=["-y", "@modelcontextprotocol/server-filesystem", "/my dir"]
    )


def test_parse_server_flag_keeps_equals_in_command() -> None:
    s = parse_server_flag("db=uvx mcp-server-sqlite --db-path=a=b.db")
    assert (s.name, s.command, s.args) == ("db", "uvx", ["mcp-server-sqlite", "--db-path=a=b.db"])


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("npx -y pkg", ["NAME=COMMAND"]),
        ("=npx", ["NAME=COMMAND"]),
        ("fs=", ["COMMAND is empty", "NAME=COMMAND"]),
        ("fs=   ", ["COMMAND is empty"]),
        ("fs=npx 'unclosed", ["quotes"]),
        ("my fs=npx", ["letters, digits"]),
        ("a__b=npx", ["<server>__<tool>"]),
    ],
)
def test_parse_server_flag_errors(spec: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_server_flag(spec)
    message = str(info.value)
    assert message.startswith("--server ") and "\n" not in message
    for word in words:
        assert word in message


def test_merge_adds_and_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, {"mcpServers": {"a": {"command": "a"}, "b": {"command": "b"}}})
    config = load_config(path, env={})
    merged = merge(config, [parse_server_flag("b=new"), parse_server_flag("c=c"), parse_server_flag("c=c2")])
    assert [(s.name, getattr(s, "command", None)) for s in merged.servers] == [("a", "a"), ("b", "new"), ("c", "c2")]
    assert merged.source == config.source
    assert [s.name for s in config.servers] == ["a", "b"]  # the original is untouched


def test_merge_into_empty_config() -> None:
    merged = merge(HostConfig(), [parse_server_flag("x=run")])
    assert merged.source is None and [s.name for s in merged.servers] == ["x"]


# --------------------------------------------------------------------------- models


def test_models_are_frozen_and_validate_names() -> None:
    s = StdioServerConfig(name="fs", command="x")
    with pytest.raises(ValidationError):
        s.command = "y"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        StdioServerConfig(name="a__b", command="x")
    with pytest.raises(ValidationError):
        HTTPServerConfig(name="a", url="ftp://x")
    with pytest.raises(ValidationError):
        HostConfig(servers=(StdioServerConfig(name="a", command="x"), SSEServerConfig(name="a", url="http://x")))


def test_host_config_round_trips_through_json() -> None:
    config = HostConfig(
        servers=(StdioServerConfig(name="a", command="x"), HTTPServerConfig(name="b", url="http://b/mcp")),
        source=Path("/tmp/servers.json"),
    )
    assert HostConfig.model_validate_json(config.model_dump_json()) == config


# --------------------------------------------------------------------------- the example


def test_example_config_loads(tmp_path: Path) -> None:
    config = load_config(EXAMPLES / "servers.json", env={"HOME": "/home/u"})
    fs, db = config.servers
    assert isinstance(fs, StdioServerConfig) and isinstance(db, StdioServerConfig)
    work = str(EXAMPLES.resolve() / "work")
    assert (fs.command, fs.cwd, fs.args[-1]) == ("npx", work, ".")
    assert db.command == "/home/u/.cache/nexthop/sqlite-server-venv/bin/mcp-server-sqlite"
    assert (db.cwd, db.args) == (work, ["--db-path", "orders.db"])
    (_, db) = load_config(EXAMPLES / "servers.json", env={"HOME": "/h", "NEXTHOP_SQLITE_VENV": "/v"}).servers
    assert isinstance(db, StdioServerConfig) and db.command == "/v/bin/mcp-server-sqlite"


def test_a_tools_allowlist_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, '{"mcpServers": {"fs": {"command": "npx", "tools": ["read_*", "write_file"]}}}')
    (server,) = load_config(path).servers
    assert server.tools == ("read_*", "write_file")
    path = write(tmp_path, '{"mcpServers": {"fs": {"command": "npx"}}}')
    assert load_config(path).servers[0].tools is None


def test_a_tools_allowlist_must_be_strings(tmp_path: Path) -> None:
    path = write(tmp_path, '{"mcpServers": {"fs": {"command": "npx", "tools": [1, {}]}}}')
    assert 'field "tools[1]"' in config_error(path)


def test_a_policies_section_is_read_and_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"mcpServers": {}, "policies": '
        '{"doom_loop_n": 4, "permissions": {"autonomy": "auto_edit", "deny": ["fs__*"]}}}',
    )
    policies = load_config(path).policies
    assert policies is not None and policies.doom_loop_n == 4
    assert policies.permissions.autonomy == "auto_edit" and policies.permissions.deny == ("fs__*",)
    bad = write(tmp_path, '{"mcpServers": {}, "policies": {"permissions": {"autonomy": "yolo"}}}')
    message = config_error(bad)
    assert '"policies"' in message and "permissions.autonomy" in message and str(bad) in message


def test_a_memory_section_is_on_off_or_settings_and_checked(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, {"mcpServers": {}, "memory": False})).memory is None
    assert load_config(write(tmp_path, {"mcpServers": {}})).memory is None
    on = load_config(write(tmp_path, {"mcpServers": {}, "memory": True})).memory
    assert on is not None and on.top_k == 3
    tuned = load_config(write(tmp_path, {"mcpServers": {}, "memory": {"top_k": 5}})).memory
    assert tuned is not None and tuned.top_k == 5
    bad = write(tmp_path, {"mcpServers": {}, "memory": {"top_k": 0}})
    message = config_error(bad)
    assert message.startswith(f'{bad}: "memory": field "top_k": ')
    assert message.endswith("(true, false, or an object with top_k, min_score, max_chars, candidates)")


def test_a_sandbox_section_mounts_folders_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    assert load_config(write(tmp_path, {"mcpServers": {}})).sandbox is None
    raw = {"mounts": [{"path": "work"}, {"path": "work", "writable": True}], "limits": {"wall_s": 5}, "workdir": "work"}
    sandbox = load_config(write(tmp_path, {"mcpServers": {}, "sandbox": raw})).sandbox
    assert sandbox is not None and sandbox.limits.wall_s == 5 and sandbox.workdir == tmp_path / "work"
    assert [(m.path, m.writable) for m in sandbox.mounts] == [(tmp_path / "work", False), (tmp_path / "work", True)]
    missing = write(tmp_path, {"mcpServers": {}, "sandbox": {"mounts": [{"path": "nowhere"}]}})
    assert config_error(missing) == (
        f'{missing}: "sandbox": mount "nowhere" is not a folder ({tmp_path / "nowhere"}); create it or fix the path'
    )
    bad = write(tmp_path, {"mcpServers": {}, "sandbox": {"mount": []}})
    assert config_error(bad).startswith(f'{bad}: "sandbox": field "mount": ')
    stray = write(tmp_path, {"mcpServers": {}, "sandbox": {"workdir": "work"}})
    assert "workdir work is not one of the mounts" in config_error(stray)


def test_a_bad_policies_section_names_the_file_section_field_and_where_to_read(tmp_path: Path) -> None:
    bad = write(tmp_path, {"mcpServers": {}, "policies": {"doom_loop_n": -1}})
    message = config_error(bad)
    assert message.startswith(f'{bad}: "policies": field "doom_loop_n": ')
    assert message.endswith("(see docs/policies.md for the settings)")
