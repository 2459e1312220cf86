"""Reading one server entry of an MCP config file into a `ServerConfig`.

`load_config` (nexthop/_config_file.py) reads the file and hands each entry of its
server map to `read_server`. Every mistake raises `ConfigError` naming the file, the
server and the field, and saying how to fix it. Strings may use ``${VAR}``,
``${env:VAR}`` (VS Code) and ``${VAR:-default}`` (shell); ``${workspaceFolder}`` and
``${userHome}`` mean what they mean in VS Code.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, NoReturn

from pydantic import ValidationError

from nexthop._exceptions import ConfigError
from nexthop.clients._config import (
    DEFAULT_MAX_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    HTTPServerConfig,
    OAuthConfig,
    ServerConfig,
    SSEServerConfig,
    StdioServerConfig,
    name_problem,
)

__all__ = ["read_server"]

_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# "type" values seen in the wild (VS Code, Cursor, Cline, Windsurf) and the kind each means.
_TYPES: dict[str, Literal["stdio", "http", "sse"]] = {
    "stdio": "stdio",
    "http": "http",
    "streamable-http": "http",
    "streamable_http": "http",
    "streamablehttp": "http",
    "sse": "sse",
}


def read_server(label: str, name: str, raw: Any, env: Mapping[str, str], base_dir: Path) -> ServerConfig | None:
    """One entry of a config file's server map, as a `ServerConfig`.

    Args:
        label: The file as the user named it, for messages.
        name: The entry's key: the server's name.
        raw: The entry's parsed JSON value.
        env: Where ``${VAR}`` values come from.
        base_dir: The file's folder, which a relative ``cwd`` or root is taken from.

    Returns:
        The server; None when the entry is turned off (``"disabled": true`` or
        ``"enabled": false``).

    Raises:
        ConfigError: The entry is not an object or describes the server wrongly (one
            line naming the file, the server and the field).
    """
    reader = _ServerReader(label, name, raw, env, base_dir)
    return None if reader.disabled() else reader.read()


class _ExpandError(Exception):
    """A ``${...}`` reference could not be expanded; the message says why."""


class _ServerReader:
    """Reads one server entry, raising `ConfigError` naming file, server and field."""

    def __init__(self, label: str, name: str, raw: Any, env: Mapping[str, str], base_dir: Path) -> None:
        self.label, self.name, self.raw, self.env, self.base_dir = label, name, raw, env, base_dir

    def fail(self, field: str | None, message: str) -> NoReturn:
        where = f'{self.label}: server "{self.name}"'
        raise ConfigError(f'{where}: field "{field}": {message}' if field else f"{where}: {message}")

    def disabled(self) -> bool:
        if not isinstance(self.raw, dict):  # JSON objects only: their keys are strings
            self.fail(None, 'settings must be an object, e.g. {"command": "npx", "args": [...]}')
        entry: dict[str, Any] = self.raw  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
        return entry.get("disabled") is True or entry.get("enabled") is False

    def read(self) -> ServerConfig:
        problem = name_problem(self.name)
        if problem:
            self.fail(None, problem)
        kind = self._kind()
        timeout_s, max_timeout_s = self._timeouts()
        common: dict[str, Any] = {
            "name": self.name,
            "timeout_s": timeout_s,
            "max_timeout_s": max_timeout_s,
            "tools": tuple(self._string_list("tools")) if self.raw.get("tools") is not None else None,
            "untrusted": self._flag("untrusted"),
            **self._client_features(),
        }
        if "timeout" not in self.raw and "timeout_s" not in self.raw:
            # Left unset so a host-wide default (--tool-timeout) can apply; see model_fields_set.
            del common["timeout_s"]
        if kind == "stdio":
            return StdioServerConfig(
                command=self._command(),
                args=self._string_list("args"),
                env=self._string_map("env"),
                cwd=self._cwd(),
                **common,
            )
        # Windsurf writes "serverUrl"; everyone else "url".
        url_key = "serverUrl" if "serverUrl" in self.raw and "url" not in self.raw else "url"
        url = self._string(url_key, example='"https://example.com/mcp"', required=True)
        if not url.startswith(("http://", "https://")):
            self.fail(url_key, f'"{url}" must start with http:// or https://')
        headers = self._string_map("headers")
        if kind == "sse":
            return SSEServerConfig(url=url, headers=headers, **common)
        return HTTPServerConfig(url=url, headers=headers, oauth=self._oauth(), **common)

    def _oauth(self) -> OAuthConfig:
        """The ``oauth`` key: false turns sign-in off; an object configures it (strings expanded)."""
        raw = self.raw.get("oauth")
        if raw is None or raw is True:
            return OAuthConfig()
        if raw is False:
            return OAuthConfig(enabled=False)
        if not isinstance(raw, dict):
            self.fail("oauth", 'must be false or an object, e.g. {"clientId": "...", "clientSecret": "${SECRET}"}')
        items: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
        expanded = {k: self._expand(v, f"oauth.{k}") if isinstance(v, str) else v for k, v in items.items()}
        try:
            return OAuthConfig.model_validate(expanded)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in ("oauth", *err["loc"]))
            self.fail(where, f"{err['msg']} (keys: clientId, clientSecret, grant, scopes, clientMetadataUrl, ...)")

    def _kind(self) -> Literal["stdio", "http", "sse"]:
        kind = self.raw.get("type", self.raw.get("transport"))
        if kind is not None:
            if not isinstance(kind, str) or kind.lower() not in _TYPES:
                field = "type" if "type" in self.raw else "transport"
                self.fail(field, f'{json.dumps(kind)} is not one of "stdio", "http", "streamable-http", "sse"')
            return _TYPES[kind.lower()]
        has_command = "command" in self.raw
        has_url = "url" in self.raw or "serverUrl" in self.raw
        if has_command and has_url:
            self.fail(None, 'has both "command" and "url"; keep "command" to start it or "url" to reach it')
        if has_command:
            return "stdio"
        if has_url:
            return "http"
        self.fail(None, 'needs "command" (a program to start, e.g. "npx") or "url" (an HTTP endpoint)')

    def _command(self) -> str:
        command = self._string("command", example='"npx"', required=True)
        if not command.strip():
            self.fail("command", 'must not be empty (e.g. "npx")')
        return command

    def _cwd(self) -> str | None:
        if self.raw.get("cwd") is None:
            return None
        cwd = Path(self._string("cwd", example='"./data"')).expanduser()
        return os.path.normpath(self.base_dir / cwd)  # a no-op join when cwd is absolute

    def _timeouts(self) -> tuple[float, float]:
        timeout_key = "timeout" if "timeout" in self.raw else "timeout_s"
        max_key = "maxTimeout" if "maxTimeout" in self.raw else "max_timeout_s"
        timeout = self._seconds(timeout_key, DEFAULT_TIMEOUT_S)
        max_given = max_key in self.raw
        maximum = self._seconds(max_key, DEFAULT_MAX_TIMEOUT_S)
        if timeout > maximum:
            if max_given:
                self.fail(
                    timeout_key, f'{timeout:g} s is above "{max_key}" {maximum:g} s (lower it or raise "{max_key}")'
                )
            maximum = timeout  # an explicit long timeout raises the unstated default ceiling
        return timeout, maximum

    def _client_features(self) -> dict[str, Any]:
        """The optional client-feature keys: sampling, roots, restart limits, health checks."""
        out: dict[str, Any] = {}
        if (sampling := self.raw.get("sampling")) is not None:
            if sampling not in ("off", "ask", "allow"):
                self.fail("sampling", f'must be "off", "ask" or "allow", not {json.dumps(sampling)}')
            out["sampling"] = sampling
        if self.raw.get("roots") is not None:
            # Relative folders are taken from the file's folder, like cwd.
            folders = [Path(r).expanduser() for r in self._string_list("roots")]
            out["roots"] = tuple(os.path.normpath(self.base_dir / f) for f in folders)
        for key, field in (("restartAttempts", "restart_attempts"), ("maxRestarts", "max_restarts")):
            given = key if key in self.raw else field
            value = self.raw.get(given)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self.fail(given, f"must be a whole number, 0 or more, not {json.dumps(value)}")
            out[field] = value
        given = "healthInterval" if "healthInterval" in self.raw else "health_interval_s"
        if self.raw.get(given) is not None:
            value = self.raw[given]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                self.fail(given, f"must be a number of seconds, 0 (off) or more, not {json.dumps(value)}")
            out["health_interval_s"] = float(value)
        return out

    def _seconds(self, key: str, default: float) -> float:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.fail(key, f"must be a positive number of seconds (e.g. {default:g}), not {json.dumps(value)}")
        return float(value)

    def _flag(self, key: str) -> bool:
        value = self.raw.get(key, False)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {json.dumps(value)}")
        return value

    def _string(self, key: str, *, example: str, required: bool = False) -> str:
        value = self.raw.get(key)
        if value is None and required:
            self.fail(key, f"missing; add it (e.g. {example})")
        if not isinstance(value, str):
            self.fail(key, f"must be a string (e.g. {example})")
        return self._expand(value, key)

    def _string_list(self, key: str) -> list[str]:
        value = self.raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(key, 'must be a list of strings (e.g. ["-y", "some-package"])')
        items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
        out: list[str] = []
        for i, item in enumerate(items):
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.fail(f"{key}[{i}]", f'must be a string, not {json.dumps(item)} (quote it: "...")')
            out.append(self._expand(str(item), f"{key}[{i}]"))
        return out

    def _string_map(self, key: str) -> dict[str, str]:
        value = self.raw.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, 'must be an object of strings (e.g. {"API_KEY": "${API_KEY}"})')
        items: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
        out: dict[str, str] = {}
        for k, item in items.items():
            # Numbers are a common slip ("PORT": 8080); a string is what they mean.
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.fail(f"{key}.{k}", f'must be a string, not {json.dumps(item)} (quote it: "...")')
            out[k] = self._expand(str(item), f"{key}.{k}")
        return out

    def _expand(self, text: str, field: str) -> str:
        try:
            return _expand(text, self._lookup)
        except _ExpandError as e:
            self.fail(field, str(e))

    def _lookup(self, expr: str) -> str:
        name, has_default, default = expr.partition(":-")
        if name.startswith("input:"):
            raise _ExpandError(
                f"${{{expr}}} is a VS Code prompt input, which nexthop cannot ask for "
                f"(use ${{env:VAR}} and set VAR instead)"
            )
        builtins = {"workspaceFolder": self._workspace_folder, "userHome": lambda: str(Path.home())}
        if name in builtins:
            return builtins[name]()
        var = name.removeprefix("env:")
        if not _VAR_RE.match(var):
            raise _ExpandError(f"${{{expr}}} is not a variable reference; write ${{NAME}} or ${{env:NAME}}")
        value = self.env.get(var)
        if value is not None and (value or not has_default):
            return value
        if has_default:
            return _expand(default, self._lookup)
        raise _ExpandError(f"${{{var}}} is not set in the environment (set it or edit the file)")

    def _workspace_folder(self) -> str:
        # VS Code's workspace is the folder holding .vscode/; elsewhere, the file's own folder.
        base = self.base_dir
        return str(base.parent if base.name == ".vscode" else base)


def _expand(text: str, lookup: Callable[[str], str]) -> str:
    """Replace each ``${...}`` in ``text`` by ``lookup(inside)``; braces may nest in defaults."""
    out: list[str] = []
    i = 0
    while (start := text.find("${", i)) >= 0:
        out.append(text[i:start])
        k, depth = start + 2, 1
        while k < len(text) and depth:
            if text.startswith("${", k):
                depth, k = depth + 1, k + 2
                continue
            depth -= text[k] == "}"
            k += 1
        if depth:
            raise _ExpandError(f'"{text}" has a "${{" without its closing "}}"')
        out.append(lookup(text[start + 2 : k - 1]))
        i = k
    out.append(text[i:])
    return "".join(out)
