"""Tool pinning: withhold a server's tool whose definition changed after it was trusted.

A "rug pull" is a server that offers a harmless tool, is trusted, and later changes
the tool's description or schema (e.g. to carry hidden instructions). On first sight
a tool is pinned (trust on first use, as SSH does with host keys): the SHA-256 of its
canonical definition is stored. Later, a different hash blocks the tool: it is not
offered to the model, and the step records the change with a diff, until a person
re-approves it (``nexthop tools --approve SERVER__TOOL``). The raw definition is
hashed, so a change in invisible characters is a change; the model is offered the
description cleaned by `clean_text`.

The pin file (JSON)::

    {"version": 1,
     "pins":    {"srv__tool": {"sha256": ..., "definition": {...}, "pinned_at": ISO time}},
     "pending": {"srv__tool": {"sha256": ..., "definition": {...}, "seen_at": ISO time}}}

``pending`` holds the last changed definition seen for each blocked tool, so it can
be approved by name without connecting again.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexthop._exceptions import ConfigError
from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.policies._base import RunPolicy, RunView, Verdict

if TYPE_CHECKING:
    from nexthop.policies._config import PolicyConfig

__all__ = ["PinStore", "ToolPinning", "canonical", "default_pin_file", "diff", "fingerprint"]

DESCRIPTION_LIMIT = 2000
"""Longest tool description offered to the model (characters)."""

# One process may run several hosts at once (``nexthop serve``, threads); the
# read-merge-write of the pin file is short, so one lock for all stores is enough.
_LOCK = threading.Lock()


def default_pin_file() -> Path:
    """Where pins live when the config names no file: ``<user config dir>/nexthop/pins.json``."""
    return Path(platformdirs.user_config_dir("nexthop")) / "pins.json"


def canonical(tool: ToolDef) -> dict[str, Any]:
    """The parts of a tool that are pinned: name, description, both schemas, annotations."""
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": tool.input_schema,
        "output_schema": tool.output_schema,
        "annotations": tool.annotations,
    }


def fingerprint(definition: dict[str, Any]) -> str:
    """SHA-256 (hex) of a canonical definition's JSON (sorted keys, no whitespace, UTF-8)."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A unified diff of two canonical definitions as indented JSON, for people.

    Non-ASCII and invisible characters are shown escaped (``\\u200b``), so a change
    that hides in them is visible at a terminal.
    """
    a, b = (json.dumps(d, indent=2, sort_keys=True).splitlines() for d in (old, new))
    return "\n".join(difflib.unified_diff(a, b, "pinned", "current", lineterm=""))


class Pin(BaseModel):
    """A trusted definition.

    Attributes:
        sha256: `fingerprint` of ``definition``.
        definition: The `canonical` definition that was trusted.
        pinned_at: When it was trusted (ISO 8601, UTC).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    sha256: str
    definition: dict[str, Any]
    pinned_at: str


class Pending(BaseModel):
    """The last changed definition seen for a blocked tool, awaiting a person's approval.

    Attributes:
        sha256: `fingerprint` of ``definition``.
        definition: The `canonical` definition the server offers now.
        seen_at: When it was last seen (ISO 8601, UTC).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    sha256: str
    definition: dict[str, Any]
    seen_at: str


class _PinFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    pins: dict[str, Pin] = Field(default_factory=dict[str, Pin])
    pending: dict[str, Pending] = Field(default_factory=dict[str, Pending])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class PinStore:
    """The pin file: trusted tool definitions by namespaced name.

    Every operation re-reads the file and writes it atomically (a temporary file, then
    ``os.replace``), so runs in one process that share the file merge rather than
    overwrite each other; the first pin of a name wins.

    Args:
        path: The JSON file; created with its folder on the first pin.

    Raises:
        ConfigError: From every method, when the file is not valid JSON of this shape
            or cannot be read or written.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def pins(self) -> dict[str, Pin]:
        """Every trusted definition, by namespaced tool name."""
        with _LOCK:
            return dict(self._load().pins)

    def check(self, tools: Sequence[ToolDef]) -> tuple[list[ToolDef], dict[str, str]]:
        """Pin new tools, keep those that match their pin, withhold those that changed.

        Args:
            tools: The tools on offer; only MCP tools (with a ``server``) are pinned, the
                host's own Python tools pass through.

        Returns:
            The tools to offer, in order, and the withheld ones (name to `diff`).
        """
        allowed: list[ToolDef] = []
        blocked: dict[str, str] = {}
        with _LOCK:
            data = self._load()
            dirty = False
            for tool in tools:
                if tool.server is None:
                    allowed.append(tool)
                    continue
                definition = canonical(tool)
                sha = fingerprint(definition)
                pin = data.pins.get(tool.name)
                if pin is None:
                    data.pins[tool.name] = Pin(sha256=sha, definition=definition, pinned_at=_now())
                    dirty = True
                elif pin.sha256 != sha:
                    blocked[tool.name] = diff(pin.definition, definition)
                    seen = data.pending.get(tool.name)
                    if seen is None or seen.sha256 != sha:
                        data.pending[tool.name] = Pending(sha256=sha, definition=definition, seen_at=_now())
                        dirty = True
                    continue
                elif data.pending.pop(tool.name, None) is not None:  # changed back to what was trusted
                    dirty = True
                allowed.append(tool)
            if dirty:
                self._write(data)
        return allowed, blocked

    def changed(self, tools: Sequence[ToolDef]) -> dict[str, str]:
        """The pinned tools among ``tools`` whose definition differs from the pin (name to `diff`); writes nothing."""
        with _LOCK:
            pins = self._load().pins
        out: dict[str, str] = {}
        for tool in tools:
            pin = pins.get(tool.name)
            definition = canonical(tool)
            if tool.server is not None and pin is not None and pin.sha256 != fingerprint(definition):
                out[tool.name] = diff(pin.definition, definition)
        return out

    def approve(self, tool: ToolDef | str) -> None:
        """Trust a tool's current definition, replacing its pin.

        Args:
            tool: The tool as its server offers it now; or its namespaced name, to
                approve the changed definition last seen by a run (``pending``).

        Raises:
            ConfigError: Given a name with no pending change.
        """
        with _LOCK:
            data = self._load()
            if isinstance(tool, ToolDef):
                name, definition = tool.name, canonical(tool)
            else:
                seen = data.pending.get(tool)
                if seen is None:
                    known = ", ".join(sorted(data.pending)) or "none"
                    raise ConfigError(f"no changed definition of {tool!r} is waiting for approval (waiting: {known})")
                name, definition = tool, seen.definition
            data.pins[name] = Pin(sha256=fingerprint(definition), definition=definition, pinned_at=_now())
            data.pending.pop(name, None)
            self._write(data)

    def _load(self) -> _PinFile:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _PinFile()
        except OSError as e:
            raise ConfigError(f"cannot read the pin file {self.path}: {e.strerror or e}") from e
        try:
            return _PinFile.model_validate_json(text)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "top level"
            raise ConfigError(
                f"the pin file {self.path} is corrupt ({where}: {first['msg']}); "
                "delete it (every tool is pinned again on next use) or fix its JSON"
            ) from e

    def _write(self, data: _PinFile) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".pins-", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(data.model_dump_json(indent=2))
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as e:
            raise ConfigError(f"cannot write the pin file {self.path}: {e.strerror or e}") from e


class ToolPinning(RunPolicy):
    """Withholds MCP tools whose definition changed since they were pinned.

    Each step, `filter_tools` pins tools seen for the first time, removes changed
    ones, and offers descriptions cleaned of escapes and invisible characters (capped
    at `DESCRIPTION_LIMIT`). A block is recorded once per run and definition, on the
    step that follows it: ``PolicyRecord(policy="pinning", event="blocked",
    data={"tool": NAME, "diff": DIFF})``. A call of a withheld tool is answered like
    any unknown tool.

    Args:
        store: The pin file.
    """

    name = "pinning"

    def __init__(self, store: PinStore) -> None:
        self.store = store
        self._pending: list[PolicyRecord] = []
        self._reported: set[tuple[str, str]] = set()
        self._seen: dict[str, tuple[ToolDef, ToolDef | None]] = {}

    @classmethod
    def from_config(cls, config: PolicyConfig) -> ToolPinning | None:
        """The policy for ``config``; None when ``config.pinning`` is off."""
        if not config.pinning:
            return None
        return cls(PinStore(config.pin_file or default_pin_file()))

    def filter_tools(self, tools: list[ToolDef]) -> list[ToolDef]:
        # Imported here: nexthop.host imports the policies, so a module-level import would be circular.
        from nexthop._sanitize import clean_text

        # Connections hand out the same ToolDef objects until a server re-lists, so only
        # new objects are checked against the pin file: a step costs no I/O or hashing,
        # and the cleaned copies keep their identity (the argument validator caches on it).
        fresh = [t for t in tools if self._seen.get(t.name, (None, None))[0] is not t]
        if fresh:
            allowed, blocked = self.store.check(fresh)
            ok = {t.name for t in allowed}
            for t in fresh:
                cleaned = (
                    t
                    if t.server is None
                    else t.model_copy(update={"description": clean_text(t.description, DESCRIPTION_LIMIT)})
                )
                self._seen[t.name] = (t, cleaned if t.name in ok else None)
            for name, change in blocked.items():
                if (name, change) not in self._reported:
                    self._reported.add((name, change))
                    self._pending.append(
                        PolicyRecord(policy=self.name, event="blocked", data={"tool": name, "diff": change})
                    )
        return [offered for t in tools if (offered := self._seen[t.name][1]) is not None]

    def after_step(
        self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation], records: list[PolicyRecord]
    ) -> Verdict | None:
        records.extend(self._pending)
        self._pending.clear()
        return None
