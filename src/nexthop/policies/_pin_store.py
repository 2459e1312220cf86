"""The pin file and its judgement: which of a server's tools are trusted in the form offered now.

`PinStore.check` pins the tools of a server seen for the first time (trust on first
use, as SSH does with host keys: the SHA-256 of each canonical definition is stored),
keeps the tools that match their pin, and withholds the rest with a `Block` saying why:

- ``changed``: its definition, as the connection hands it over (descriptions already
  cleaned and capped), differs from its pin;
- ``new``: it is not pinned but its server is (an addition or a rename);
- ``confusable``: its name looks like ``finish``, like a pinned tool of its server, or
  (for a name holding ``__``) like any pinned tool, whether its server is new or not;
- ``invalid_name`` and ``duplicate`` (`name_problems`): a name against the spec's rule
  (SEP-986), or offered twice; these cannot be approved.

The pin file (JSON)::

    {"version": 1,
     "pins":    {"srv__tool": {"sha256": ..., "definition": {...}, "pinned_at": ISO time}},
     "pending": {"srv__tool": {"sha256": ..., "definition": {...}, "seen_at": ISO time,
                               "reason": "changed" | "new" | "confusable"}}}

``pending`` holds the last blocked definition seen for each tool, so it can be
approved by name (``nexthop tools --approve SERVER__TOOL``) without connecting again.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexthop._exceptions import ConfigError
from nexthop._tool_names import SEPARATOR, check_tool_name, confusable_with, name_problems, printable_name, remote_name
from nexthop._toolset import FINISH_TOOL, ToolDef

__all__ = ["Block", "BlockReason", "Pending", "Pin", "PinStore", "canonical", "default_pin_file", "diff", "fingerprint"]

BlockReason = Literal["changed", "new", "confusable", "invalid_name", "duplicate"]
"""Why a tool is withheld; the first three can be approved (see the module docstring)."""

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


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """A unified diff of two canonical definitions as indented JSON, for people.

    Args:
        old: The pinned definition; None for a tool never pinned (every line is new).
        new: The definition offered now.

    Returns:
        The diff, in ASCII: non-ASCII, invisible and control characters are shown
        escaped (``\\u200b``), so a change that hides in them is visible at a terminal.
    """
    a = json.dumps(old, indent=2, sort_keys=True).splitlines() if old is not None else []
    b = json.dumps(new, indent=2, sort_keys=True).splitlines()
    return "\n".join(
        difflib.unified_diff(a, b, "pinned" if old is not None else "(not pinned)", "current", lineterm="")
    )


class Block(BaseModel):
    """Why one tool is withheld.

    Attributes:
        reason: See `BlockReason` and the module docstring.
        detail: One ASCII line for people.
        diff: The `diff` from the pinned definition (or from nothing, for a tool never
            pinned) to the current one; empty for ``invalid_name`` and ``duplicate``.
        approvable: Whether ``nexthop tools --approve`` can unblock it; never for an
            invalid or duplicate name.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["block"] = "block"
    reason: BlockReason
    detail: str
    diff: str = ""
    approvable: bool = True


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
    """The last blocked definition seen for a tool, awaiting a person's approval.

    Attributes:
        sha256: `fingerprint` of ``definition``.
        definition: The `canonical` definition the server offers now.
        seen_at: When it was last seen (ISO 8601, UTC).
        reason: Why it is blocked (files written before new tools were blocked lack it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    sha256: str
    definition: dict[str, Any]
    seen_at: str
    reason: BlockReason = "changed"


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

    def check(self, tools: Sequence[ToolDef]) -> tuple[list[ToolDef], dict[str, Block]]:
        """Pin the tools of servers seen for the first time; keep the trusted; withhold the rest.

        Args:
            tools: The tools on offer; only MCP tools (with a ``server``) are pinned, the
                host's own Python tools pass through unless their name is offered twice.

        Returns:
            The tools to offer, in order, and the withheld ones (name to `Block`).
        """
        return self._check(tools, write=True)

    def blocked(self, tools: Sequence[ToolDef]) -> dict[str, Block]:
        """What `check` would withhold among ``tools``, and why; writes nothing."""
        return self._check(tools, write=False)[1]

    def approve(self, tool: ToolDef | str) -> None:
        """Trust a tool's current definition, pinning it (and replacing any pin it had).

        Args:
            tool: The tool as its server offers it now; or its namespaced name, to
                approve the blocked definition last seen by a run (``pending``).

        Raises:
            ConfigError: Given a tool whose name breaks the spec's rule, or a name with
                no blocked definition waiting.
        """
        with _LOCK:
            data = self._load()
            if isinstance(tool, ToolDef):
                problem = check_tool_name(remote_name(tool)) if tool.server is not None else None
                if problem is not None:
                    raise ConfigError(f"cannot approve {printable_name(tool.name)}: {problem}")
                name, definition = tool.name, canonical(tool)
            else:
                seen = data.pending.get(tool)
                if seen is None:
                    known = ", ".join(sorted(data.pending)) or "none"
                    raise ConfigError(
                        f"no blocked definition of {printable_name(tool)!r} is waiting for approval (waiting: {known})"
                    )
                name, definition = tool, seen.definition
            data.pins[name] = Pin(sha256=fingerprint(definition), definition=definition, pinned_at=_now())
            data.pending.pop(name, None)
            self._write(data)

    def _check(self, tools: Sequence[ToolDef], *, write: bool) -> tuple[list[ToolDef], dict[str, Block]]:
        problems = name_problems(tools)
        allowed: list[ToolDef] = []
        blocked: dict[str, Block] = {}
        with _LOCK:
            data = self._load()
            # Taken before this listing's first pins: every tool of a new server is trusted
            # together, and a look-alike is sought among pins a person could have relied on.
            before = _Pinned(data.pins)
            dirty = False
            for tool in tools:
                if tool.name in problems:
                    reason, detail = problems[tool.name]
                    blocked[tool.name] = Block(reason=reason, detail=detail, approvable=False)
                    continue
                block, changed = (None, False) if tool.server is None else _judge(data, tool, before)
                dirty |= changed
                if block is None:
                    allowed.append(tool)
                else:
                    blocked[tool.name] = block
            if dirty and write:
                self._write(data)
        return allowed, blocked

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


class _Pinned:
    """The pinned names, by server (own names), as they stood before a listing was checked."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = list(names)
        self.by_server: dict[str, list[str]] = {}
        for name in self.names:
            server, _, own = name.partition(SEPARATOR)
            self.by_server.setdefault(server, []).append(own)


def _judge(data: _PinFile, tool: ToolDef, before: _Pinned) -> tuple[Block | None, bool]:
    """One MCP tool against the pins: None to offer it, else why not; and whether ``data`` changed."""
    definition = canonical(tool)
    sha = fingerprint(definition)
    pin = data.pins.get(tool.name)
    block: Block
    if pin is not None:
        if pin.sha256 == sha:  # trusted; a change back to it clears what was waiting
            return None, data.pending.pop(tool.name, None) is not None
        block = Block(
            reason="changed", detail="its definition changed since it was pinned", diff=diff(pin.definition, definition)
        )
    elif (lookalike := _lookalike(tool, before)) is not None:
        detail = f"its name looks like {printable_name(lookalike)}"
        block = Block(reason="confusable", detail=detail, diff=diff(None, definition))
    elif tool.server in before.by_server:
        detail = f"a new tool on server {tool.server}, whose tools are pinned"
        block = Block(reason="new", detail=detail, diff=diff(None, definition))
    else:  # trust on first use of a server
        data.pins[tool.name] = Pin(sha256=sha, definition=definition, pinned_at=_now())
        return None, True
    seen = data.pending.get(tool.name)
    if seen is not None and seen.sha256 == sha and seen.reason == block.reason:
        return block, False
    data.pending[tool.name] = Pending(sha256=sha, definition=definition, seen_at=_now(), reason=block.reason)
    return block, True


def _lookalike(tool: ToolDef, before: _Pinned) -> str | None:
    """The protected name an unpinned tool's own name looks like: ``finish``, or a pinned tool's."""
    own, server = remote_name(tool), tool.server or ""
    # Names of other servers differ in their prefix, which the config (not a server) chose;
    # only a name that carries a prefix itself (``up__echo`` offered by ``up``) can imitate them.
    hit = confusable_with(own, [FINISH_TOOL.name, *before.by_server.get(server, [])])
    if hit is not None:
        return hit if hit == FINISH_TOOL.name else f"{server}{SEPARATOR}{hit}"
    return confusable_with(own, before.names) if SEPARATOR in own else None
