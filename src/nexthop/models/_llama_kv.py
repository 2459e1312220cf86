"""On-disk KV state of the stable prompt prefix, shared by `LlamaCppModel` processes.

The first prompt of every run starts with the same system message (instructions plus
tool definitions): about 1,300 tokens for the filesystem and SQLite servers, which take
the embedded 1.5B model 20-30 s to evaluate on 2 cores. llama.cpp can export the KV
cells of one sequence (``llama_state_seq_get_data``) and import them into a fresh context
(``llama_state_seq_set_data``); this module keeps those bytes on disk, so a second
process with the same servers evaluates only the task and what follows.

A file is named by `prefix_key`: a hash of the model file's identity, ``n_ctx``, the
exact prefix tokens and the llama-cpp-python version, so changed tools, another model or
another runtime yield another file and a stale one is simply never read. A file holds a
small header (the key, the tokens and a sha256 of the state) before the state bytes; one
that does not match is deleted and reported as a miss, never an error. Writes go to a
temporary file in the same folder and are renamed into place, so a reader never sees a
half file. The folder is bounded: after each write the least recently used files (by
mtime, refreshed on each hit) are deleted until the total fits ``max_bytes``.

The idea is llama.cpp's own prompt cache (``llama-cli --prompt-cache``, which saves a
whole session with ``llama_state_save_file``), narrowed to the prefix that repeats.
`read_seq_state` and `restore_seq_state` move the bytes between a ``llama_cpp.Llama``
and memory; ``Llama.save_state`` is not used because it also copies a
``n_batch x n_vocab`` float array of logits (311 MB for this model).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib
import json
import os
import struct
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ValidationError

__all__ = [
    "DEFAULT_PREFIX_CACHE_BYTES",
    "PrefixCache",
    "default_prefix_cache_dir",
    "model_identity",
    "prefix_key",
    "read_seq_state",
    "restore_seq_state",
]

DEFAULT_PREFIX_CACHE_BYTES = 512 * 1024 * 1024
"""Default bound of the cache folder (bytes). One prefix of the embedded model costs
about 28 KiB per token (28 layers, K and V, 2 heads of 128, f16): 37 MB for 1,300 tokens."""

_MAGIC = b"NEXTHOP-KV\x01"
_HEADER_LEN = struct.Struct("<I")
_SUFFIX = ".kv"
_SEQ = 0  # the one llama.cpp sequence a Llama object decodes into


class _Header(BaseModel):
    """What a cache file says about its state bytes, checked before they are used."""

    key: str
    tokens: list[int]
    sha256: str
    size: int


def default_prefix_cache_dir() -> Path:
    """``platformdirs.user_cache_dir("nexthop") / "kv"``."""
    return Path(platformdirs.user_cache_dir("nexthop")) / "kv"


def model_identity(path: Path) -> str:
    """A cheap identity of a model file: resolved path, size and mtime (ns).

    Hashing 1.1 GB on every start would cost seconds; a changed file changes its mtime.

    Raises:
        OSError: The file cannot be stat-ed.
    """
    st = path.resolve().stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def prefix_key(identity: str, n_ctx: int, tokens: Sequence[int], runtime: str) -> str:
    """The cache key (hex sha256) of a prefix's KV state.

    Args:
        identity: `model_identity` of the GGUF.
        n_ctx: The context window (tokens) the state was made in.
        tokens: The exact prefix tokens.
        runtime: The llama-cpp-python version (its state format may change).
    """
    h = hashlib.sha256(json.dumps([identity, n_ctx, runtime]).encode())
    h.update(array("i", tokens).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class PrefixCache:
    """A bounded folder of prefix KV states, one file per key.

    Attributes:
        directory: The folder (created on first write).
        max_bytes: Bound on the total size of its files; the file just written is kept
            even when it alone exceeds the bound.
    """

    directory: Path
    max_bytes: int = DEFAULT_PREFIX_CACHE_BYTES

    def path(self, key: str) -> Path:
        """Where the state for ``key`` lives."""
        return self.directory / f"{key}{_SUFFIX}"

    def load(self, key: str, tokens: Sequence[int]) -> bytes | None:
        """The stored state for ``key`` made from exactly ``tokens``, or None.

        A hit refreshes the file's mtime (its place in the eviction order). A file that
        is truncated, corrupt or made for other tokens is deleted, so the caller's next
        `store` replaces it.
        """
        path = self.path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        state = _decode(data, key, tokens)
        with contextlib.suppress(OSError):
            if state is None:
                path.unlink()
            else:
                os.utime(path)
        return state

    def store(self, key: str, tokens: Sequence[int], state: bytes) -> Path:
        """Write ``state`` for ``key`` atomically, then evict down to ``max_bytes``.

        Returns:
            The file written.

        Raises:
            OSError: The folder or file cannot be written (the caller decides whether
                that matters; `LlamaCppModel` goes on without the cache).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        header = (
            _Header(key=key, tokens=list(tokens), sha256=hashlib.sha256(state).hexdigest(), size=len(state))
            .model_dump_json()
            .encode()
        )
        final = self.path(key)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key[:16]}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + _HEADER_LEN.pack(len(header)) + header)
                f.write(state)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.evict(keep=final)
        return final

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Delete the least recently used files until the total fits ``max_bytes``.

        Returns:
            The files deleted, oldest first.
        """
        entries: list[tuple[float, int, Path]] = []
        for p in self.directory.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(OSError):  # a concurrent process may delete it first
                st = p.stat()
                entries.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in entries)
        removed: list[Path] = []
        for _, size, p in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            if p == keep:
                continue
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
            total -= size
        return removed


def _decode(data: bytes, key: str, tokens: Sequence[int]) -> bytes | None:
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + _HEADER_LEN.size:
        return None
    start = len(_MAGIC) + _HEADER_LEN.size
    (header_len,) = _HEADER_LEN.unpack_from(data, len(_MAGIC))
    try:
        header = _Header.model_validate_json(data[start : start + header_len])
    except ValidationError:
        return None
    state = data[start + header_len :]
    ok = (
        header.key == key
        and header.tokens == list(tokens)
        and header.size == len(state)
        and header.sha256 == hashlib.sha256(state).hexdigest()
    )
    return state if ok else None


def read_seq_state(llm: Any) -> bytes | None:
    """The KV cells of the context's sequence, as llama.cpp serializes them (None if empty)."""
    lib: Any = importlib.import_module(
        "llama_cpp"
    )  # its ctypes stubs type seq ids as c_int32; plain ints are what it takes
    ctx = llm._ctx.ctx
    size = int(lib.llama_state_seq_get_size(ctx, _SEQ))
    buf = (ctypes.c_uint8 * size)()
    written = int(lib.llama_state_seq_get_data(ctx, buf, size, _SEQ))
    return ctypes.string_at(buf, written) if 0 < written <= size else None


def restore_seq_state(llm: Any, prefix: Sequence[int], state: bytes) -> bool:
    """Load ``state`` (made from ``prefix``) into an emptied context; False if llama.cpp refuses it.

    ``Llama`` tracks the evaluated tokens itself, so they are set to ``prefix`` to let
    ``Llama.generate`` find the common prefix and evaluate only the rest.
    """
    lib: Any = importlib.import_module("llama_cpp")
    llm.reset()
    internals: Any = llm._ctx
    internals.kv_cache_clear()
    buf = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
    if int(lib.llama_state_seq_set_data(internals.ctx, buf, len(state), _SEQ)) != len(state):
        internals.kv_cache_clear()
        return False
    llm.input_ids[: len(prefix)] = prefix
    llm.n_tokens = len(prefix)
    # The logits in hand are not the prefix's: the next decode must come first.
    llm._requires_eval = True
    return True
