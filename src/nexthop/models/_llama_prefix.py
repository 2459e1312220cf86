"""Putting the stable prompt prefix's KV state into a cold llama.cpp context.

`LlamaCppModel` keeps its prompt append-only, so within a process llama.cpp reuses the
KV cache of the previous step. A new process (or new tools) starts cold: the system
message (instructions and tool definitions, often a thousand tokens or more) would be
evaluated again. `prime` restores that prefix's state from the disk cache of `_llama_kv`
instead, or evaluates it and writes it there for the next process. This module decides
when that is worth it and records what happened as a `PrefixEvent`; the bytes on disk
are `_llama_kv`'s business.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from nexthop._exceptions import ModelError
from nexthop.models._llama_kv import PrefixCache, read_seq_state, restore_seq_state

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["MIN_CACHED_PREFIX", "PrefixEvent", "common_prefix", "prime", "worth_priming"]

MIN_CACHED_PREFIX = 128
"""Shortest prefix (tokens) worth caching: below it, evaluating takes about a second on 2 cores."""


@dataclass(frozen=True)
class PrefixEvent:
    """What the prefix cache did for the first request of a context.

    Attributes:
        kind: ``loaded`` (restored from ``path``), ``saved`` (evaluated, then written to
            ``path``) or ``unsaved`` (evaluated; writing failed, the run goes on).
        tokens: Length of the stable prefix (tokens).
        path: The cache file.
        seconds: Wall time of the restore, or of evaluating and writing.
    """

    kind: Literal["loaded", "saved", "unsaved"]
    tokens: int
    path: Path
    seconds: float


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the common start of two token sequences (tokens)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def worth_priming(held: Sequence[int], prefix: Sequence[int], tokens: Sequence[int]) -> bool:
    """Whether a context holding ``held`` should be primed with ``prefix`` before ``tokens``.

    Not when the prefix is short (`MIN_CACHED_PREFIX`), is the whole prompt (nothing
    would be left to generate from), or the context holds it already (every request
    after a run's first, while the tools stay the same).
    """
    return MIN_CACHED_PREFIX <= len(prefix) < len(tokens) and common_prefix(held, prefix) < len(prefix)


def prime(llm: Llama, cache: PrefixCache, key: str, prefix: list[int]) -> PrefixEvent:
    """Put ``prefix``'s KV state into ``llm``: restored from ``cache``, else evaluated and stored.

    A file that is missing, corrupt or refused by llama.cpp is replaced by evaluating
    the prefix; a disk that cannot take the new file costs speed, not the run.

    Args:
        llm: The loaded model whose context is primed.
        cache: The on-disk prefix cache.
        key: The prefix's cache key (`prefix_key`: model, context size, tokens, runtime).
        prefix: The stable prefix's tokens.

    Returns:
        What happened: ``loaded`` means no prompt token was evaluated here; after
        ``saved`` or ``unsaved`` the whole prefix was.

    Raises:
        ModelError: llama.cpp failed to evaluate the prefix.
    """
    start = time.perf_counter()
    state = cache.load(key, prefix)
    kind: Literal["loaded", "saved", "unsaved"] = "loaded"
    if state is None or not restore_seq_state(llm, prefix, state):
        try:
            llm.reset()
            llm.eval(prefix)
        except RuntimeError as e:
            raise ModelError(f"local model failed on the prompt prefix: {e}") from e
        state = read_seq_state(llm)
        kind = "unsaved"
        if state is not None:
            with contextlib.suppress(OSError):  # a read-only or full disk costs speed, not the run
                cache.store(key, prefix, state)
                kind = "saved"
    return PrefixEvent(kind, len(prefix), cache.path(key), time.perf_counter() - start)
