"""The tool library: synthesized tools that worked, kept for later runs once a person approves.

Two folders under the user data folder (``platformdirs``): ``candidates/`` holds every
synthesized tool that returned a result in some run (written by the run, never offered);
``saved/`` holds those a person approved (``nexthop tools --save NAME``). Each file keeps
the tool's source, schemas, the task and run that made it, and the SHA-256 of the source
that was approved. A saved tool whose source no longer matches its approved digest (the
file was edited) is withheld until it is saved again: approval is bound to the code, as
tool pinning binds it to a server's definition.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexthop._exceptions import ConfigError

__all__ = ["SavedTool", "ToolLibrary", "default_library_dir", "library_time"]


def default_library_dir() -> Path:
    """``<user data folder>/nexthop/tools`` (e.g. ``~/.local/share/nexthop/tools``)."""
    return Path(platformdirs.user_data_dir("nexthop")) / "tools"


class SavedTool(BaseModel):
    """A synthesized tool as the library keeps it.

    Attributes:
        name: The name without the ``synth__`` prefix.
        description: What it does.
        input_schema: JSON Schema of its arguments.
        output_schema: JSON Schema of its result, if declared.
        source: The Python source.
        function: The function in ``source`` that is called.
        approved_sha256: The digest of the source a person approved (empty for a candidate).
        task: The task of the run that wrote it.
        run_id: That run's identifier.
        written_at: When it was recorded (UTC, ISO 8601).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["saved_tool"] = "saved_tool"
    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict[str, Any])
    output_schema: dict[str, Any] | None = None
    source: str
    function: str
    approved_sha256: str = ""
    task: str = ""
    run_id: str = ""
    written_at: str = ""

    @property
    def sha256(self) -> str:
        """The digest of ``source`` as it is now."""
        return hashlib.sha256(self.source.encode()).hexdigest()

    @property
    def approved(self) -> bool:
        """Whether this exact source was approved."""
        return self.approved_sha256 == self.sha256


class ToolLibrary:
    """Candidates and saved tools, one JSON file each.

    Args:
        folder: Where the library lives; `default_library_dir` when None.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_library_dir()

    def add_candidate(self, tool: SavedTool) -> None:
        """Record a tool that worked in a run (not offered until saved)."""
        stamped = tool.model_copy(update={"approved_sha256": "", "written_at": _now()})
        _write(self.folder / "candidates" / f"{tool.name}.json", stamped)

    def save(self, name: str) -> SavedTool:
        """Approve the candidate ``name``: its current source is saved and offered in later runs.

        Raises:
            ConfigError: There is no such candidate.
        """
        candidate = _read(self.folder / "candidates" / f"{name}.json")
        if candidate is None:
            known = ", ".join(t.name for t in self.candidates()) or "none"
            raise ConfigError(f"no synthesized tool named {name!r} to save (candidates: {known})")
        saved = candidate.model_copy(update={"approved_sha256": candidate.sha256, "written_at": _now()})
        _write(self.folder / "saved" / f"{name}.json", saved)
        return saved

    def candidates(self) -> list[SavedTool]:
        """Tools written by runs and not saved (or changed since they were saved)."""
        return _read_all(self.folder / "candidates")

    def saved(self) -> list[SavedTool]:
        """Every saved tool, approved or not (check `SavedTool.approved`)."""
        return _read_all(self.folder / "saved")

    def offered(self) -> list[SavedTool]:
        """The saved tools whose source is the one approved: these are offered in runs."""
        return [t for t in self.saved() if t.approved]


def library_time() -> str:
    """Now, as the library stamps its files (UTC, ISO 8601, seconds): compare with `SavedTool.written_at`."""
    return datetime.now(UTC).isoformat(timespec="seconds")


_now = library_time


def _read(path: Path) -> SavedTool | None:
    try:
        return SavedTool.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def _read_all(folder: Path) -> list[SavedTool]:
    if not folder.is_dir():
        return []
    return [t for p in sorted(folder.glob("*.json")) if (t := _read(p)) is not None]


def _write(path: Path, tool: SavedTool) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of either."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(tool.model_dump_json(indent=2))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
