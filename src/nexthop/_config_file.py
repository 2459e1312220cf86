"""Reading server configuration files: JSON/JSONC, the server map and the top-level sections, one-line errors.

`load_config` turns an IDE's MCP config file into `HostConfig`; every mistake raises
`ConfigError` naming the file, the server and the field. The server models live in
`clients/_config`; `HostConfig` (servers plus policies) lives here, so that clients/
never imports policies/. Each server entry is read by `_config_entry.read_server`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import json5
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from nexthop._config_entry import read_server
from nexthop._exceptions import ConfigError
from nexthop._recalled import RecallConfig
from nexthop.clients._config import ServerConfig
from nexthop.host._sandbox import SandboxConfig, SandboxMount
from nexthop.policies._config import PolicyConfig

__all__ = ["HostConfig", "load_config", "merge"]

_Model = TypeVar("_Model", bound=BaseModel)


class HostConfig(BaseModel):
    """Every server the host connects to, in the order given.

    Attributes:
        servers: The enabled servers; names are unique.
        source: The absolute path of the file they came from; None if none did.
        policies: The file's ``policies`` section (see `PolicyConfig`); None if it has none.
        memory: The file's ``memory`` (recall earlier runs, see `RecallConfig`): ``true``
            or an object of settings turns it on; None when absent or ``false``.
        sandbox: The file's ``sandbox`` section (synthesized tools' limits, mounted folders
            and packages, see `SandboxConfig`), relative mount paths taken from the file's
            folder; None if it has none.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    servers: tuple[ServerConfig, ...] = ()
    source: Path | None = None
    policies: PolicyConfig | None = None
    memory: RecallConfig | None = None
    sandbox: SandboxConfig | None = None

    @field_validator("servers")
    @classmethod
    def _unique_names(cls, servers: tuple[ServerConfig, ...]) -> tuple[ServerConfig, ...]:
        seen: set[str] = set()
        for server in servers:
            if server.name in seen:
                raise ValueError(f"two servers are named {server.name!r}")
            seen.add(server.name)
        return servers


def merge(config: HostConfig, extra_servers: Iterable[ServerConfig]) -> HostConfig:
    """Add servers (from ``--server`` flags) to a configuration.

    A server whose name is already there replaces that entry in place; new ones
    go at the end, in the order given. Among the extras, a later one with the
    same name wins.

    Args:
        config: The configuration from the file (or an empty `HostConfig()`).
        extra_servers: The servers to add.

    Returns:
        A new `HostConfig` with the same ``source``.
    """
    by_name: dict[str, ServerConfig] = {s.name: s for s in config.servers}
    for server in extra_servers:
        by_name[server.name] = server  # dicts keep the first insertion's position
    return config.model_copy(update={"servers": tuple(by_name.values())})


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> HostConfig:
    """Read an MCP server configuration file in the format IDEs use.

    Servers with ``"disabled": true`` (or ``"enabled": false``) are left out. Keys
    nexthop does not use (``autoApprove``, ``alwaysAllow``, ``description``,
    ``envFile``, ...) are ignored. Optional per-server keys of our own:
    ``timeout`` (or ``timeout_s``) and ``maxTimeout`` (or ``max_timeout_s``), in
    seconds; ``untrusted`` (true for a server that returns others' text, see the
    taint policy); ``sampling`` (``off``/``ask``/``allow``), ``roots`` (folders),
    ``restartAttempts``, ``maxRestarts`` and ``healthInterval`` (seconds, 0 off), see
    `StdioServerConfig`. A relative ``cwd`` or root is taken from the file's folder.

    Args:
        path: The JSON (or JSONC) file.
        env: Where ``${VAR}`` values come from; defaults to ``os.environ``.

    Returns:
        The servers, in file order, with every variable expanded.

    Raises:
        ConfigError: The file is missing or unreadable, is not valid JSON, or
            describes a server wrongly; the one-line message names the file, the
            server and the field, and says how to fix it.
    """
    file = Path(path)
    label = str(path)
    text = _read_text(file, label)
    top = _parse_json(text, label)
    servers_obj = _server_map(top, label)
    duplicates = getattr(servers_obj, "duplicates", ())
    if duplicates:
        raise ConfigError(f'{label}: server "{duplicates[0]}" is defined twice (rename or remove one)')
    env = os.environ if env is None else env
    base_dir = file.resolve().parent
    servers: list[ServerConfig] = []
    for name, raw in servers_obj.items():
        if (server := read_server(label, name, raw, env, base_dir)) is not None:
            servers.append(server)
    return HostConfig(
        servers=tuple(servers),
        source=file.resolve(),
        policies=_policies(top, label),
        memory=_memory(top, label),
        sandbox=_sandbox(top, label, base_dir),
    )


def _memory(top: Any, label: str) -> RecallConfig | None:
    raw = _section(top, "memory")
    if raw is None or raw is False:
        return None
    if raw is True:
        return RecallConfig()
    hint = "true, false, or an object with top_k, min_score, max_chars, candidates"
    return _validated(RecallConfig, raw, label, "memory", hint)


def _sandbox(top: Any, label: str, base_dir: Path) -> SandboxConfig | None:
    raw = _section(top, "sandbox")
    if raw is None:
        return None
    hint = (
        'an object with "mounts" ([{"path": "work", "writable": false}]), "packages", "limits"; see docs/synthesis.md'
    )
    config = _validated(SandboxConfig, raw, label, "sandbox", hint)

    def from_file(path: Path) -> Path:  # a relative path is taken from the file's folder
        return Path(os.path.normpath(base_dir / path.expanduser()))

    mounts: list[SandboxMount] = []
    for mount in config.mounts:
        if not (folder := from_file(mount.path)).is_dir():
            raise ConfigError(
                f'{label}: "sandbox": mount "{mount.path}" is not a folder ({folder}); create it or fix the path'
            )
        mounts.append(mount.model_copy(update={"path": folder}))
    workdir = None if config.workdir is None else from_file(config.workdir)
    return config.model_copy(update={"mounts": tuple(mounts), "workdir": workdir})


def _policies(top: Any, label: str) -> PolicyConfig | None:
    raw = _section(top, "policies")
    if raw is None:
        return None
    return _validated(PolicyConfig, raw, label, "policies", "see docs/policies.md for the settings")


def _section(top: Any, key: str) -> Any:
    """A top-level key's raw value; None when absent (or when the top level is not an object)."""
    return cast("dict[str, Any]", top).get(key) if isinstance(top, dict) else None


def _validated(model: type[_Model], raw: Any, label: str, key: str, hint: str) -> _Model:
    """``raw`` as a ``model``; the first error raises `ConfigError` naming the file, the section and the field."""
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or key
        raise ConfigError(f'{label}: "{key}": field "{field}": {err["msg"]} ({hint})') from None


class _DupDict(dict[str, Any]):
    """A JSON object that remembers the keys it saw twice (json keeps only the last)."""

    duplicates: tuple[str, ...] = ()


def _pairs_hook(pairs: Iterable[tuple[str, Any]]) -> _DupDict:
    obj = _DupDict()
    dups: list[str] = []
    for key, value in pairs:
        if key in obj:
            dups.append(key)
        obj[key] = value
    obj.duplicates = tuple(dups)
    return obj


def _read_text(file: Path, label: str) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(
            f"{label}: no such file (give the path of an MCP config file, "
            "e.g. claude_desktop_config.json or .vscode/mcp.json)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a folder; give the path of the JSON file in it") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{label}: not UTF-8 text ({e.reason}); save it as UTF-8") from e
    except OSError as e:
        raise ConfigError(f"{label}: cannot read it ({e.strerror})") from e


def _parse_json(text: str, label: str) -> Any:
    # json5 reads VS Code's JSONC (comments, trailing commas) as well as plain JSON.
    try:
        return json5.loads(text, object_pairs_hook=_pairs_hook)
    except ValueError as e:
        m = re.match(r"<string>:(\d+) (.*) at column (\d+)$", str(e))
        detail = f"line {m[1]}, column {m[3]}: {m[2]}" if m else str(e)
        raise ConfigError(f"{label}: invalid JSON at {detail} (check the quotes, commas and brackets there)") from e


def _server_map(parsed: Any, label: str) -> dict[str, Any]:
    if not isinstance(parsed, dict):
        raise ConfigError(f'{label}: the top level must be a JSON object with "mcpServers" or "servers"')
    top = cast("dict[str, Any]", parsed)
    if "mcpServers" not in top and "servers" not in top and isinstance(top.get("mcp"), dict):
        top = cast("dict[str, Any]", top["mcp"])  # VS Code user settings.json nests it under "mcp"
    if "mcpServers" in top and "servers" in top:
        raise ConfigError(f'{label}: has both "mcpServers" and "servers"; keep one')
    key = "mcpServers" if "mcpServers" in top else "servers"
    if key not in top:
        found = ", ".join(f'"{k}"' for k in list(top)[:5]) or "none"
        raise ConfigError(
            f'{label}: expected a top-level "mcpServers" object (Claude Desktop, Cursor) '
            f'or "servers" object (VS Code); found keys: {found}'
        )
    servers = top[key]
    if not isinstance(servers, dict):
        raise ConfigError(
            f'{label}: "{key}" must be an object mapping each server name to its settings, '
            f'e.g. {{"fs": {{"command": "npx", "args": [...]}}}}'
        )
    return cast("dict[str, Any]", servers)
