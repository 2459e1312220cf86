"""The shapes of a loop, as pure functions over calls: near-identical arguments, accretion, cycles.

Kept apart from the policy (`DoomLoop`) so each shape can be read and tested alone.
Similarity is difflib's ratio (Ratcliff/Obershelp, ``2 * matches / total``) over
normalised JSON: no hand-rolled edit distance.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

__all__ = [
    "ACCRETION_MAX_CHARS",
    "SIMILAR_RATIO",
    "CallShape",
    "accretes",
    "canonical",
    "cycle_matches",
    "normal_thought",
    "similar_arguments",
]

SIMILAR_RATIO = 0.9
"""Word-level difflib ratio at or above which two argument objects are near-identical (0 to 1).

A ratio over words (not characters) means one changed word among fewer than ten is
always a difference: ``a.txt`` is not ``b.txt``, ``id = 1`` is not ``id = 2``; one
changed word in a long text is not.
"""

ACCRETION_MAX_CHARS = 80
"""Most characters one write may add to the previous one and still be "a little" (characters)."""

_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class CallShape:
    """One call as the loop shapes see it.

    Attributes:
        name: The tool's name.
        key: ``name`` plus the canonical JSON of the arguments (equal keys: the same call).
        words: The arguments' normalised words (case folded; punctuation, quoting,
            whitespace and key order dropped).
        text: The canonical JSON of the arguments (for accretion).
    """

    name: str
    key: str
    words: tuple[str, ...]
    text: str

    @classmethod
    def of(cls, name: str, arguments: dict[str, Any]) -> CallShape:
        """The shape of a call of ``name`` with ``arguments``."""
        text = canonical(arguments)
        return cls(name=name, key=f"{name} {text}", words=tuple(_WORDS.findall(text.casefold())), text=text)


def canonical(arguments: dict[str, Any]) -> str:
    """The arguments as JSON with sorted keys: ``{"a": 1, "b": 2}`` and ``{"b": 2, "a": 1}`` agree."""
    return json.dumps(arguments, sort_keys=True, ensure_ascii=False, default=str)


def similar_arguments(a: CallShape, b: CallShape, ratio: float = SIMILAR_RATIO) -> bool:
    """Whether two calls are of the same tool with near-identical arguments.

    Args:
        a: One call.
        b: The other.
        ratio: The word-level difflib ratio that counts as near-identical (0 to 1).

    Returns:
        True when the names agree and the normalised words agree, or differ little
        enough (difflib's ``ratio()`` over the word lists at least ``ratio``).
    """
    if a.name != b.name:
        return False
    if a.words == b.words:
        return True
    matcher = SequenceMatcher(None, a.words, b.words, autojunk=False)
    # The cheap upper bounds first: most different calls stop here.
    return matcher.real_quick_ratio() >= ratio and matcher.quick_ratio() >= ratio and matcher.ratio() >= ratio


def accretes(before: CallShape, after: CallShape, max_chars: int = ACCRETION_MAX_CHARS) -> bool:
    """Whether ``after`` is ``before`` plus a little: the same tool, arguments that only gained text.

    E.g. ``write_file(path="a", content="x y")`` after ``write_file(path="a", content="x")``,
    or an ``edit_file`` whose old and new texts each grew by a word. Only insertions into
    the canonical JSON, at most ``max_chars`` in all and at least one.

    Args:
        before: The earlier call.
        after: The later call.
        max_chars: Most characters added (characters).
    """
    if before.name != after.name or len(after.text) <= len(before.text):
        return False
    if len(after.text) - len(before.text) > max_chars:
        return False
    matcher = SequenceMatcher(None, before.text, after.text, autojunk=False)
    return all(tag in ("equal", "insert") for tag, *_ in matcher.get_opcodes())


def _same_step(a: Sequence[CallShape], b: Sequence[CallShape]) -> bool:
    """Two steps' calls agree: the same tools in order, each near-identical or grown by accretion."""
    if len(a) != len(b):
        return False
    return all(similar_arguments(x, y) or accretes(x, y) for x, y in zip(a, b, strict=True))


def cycle_matches(history: Sequence[Sequence[CallShape]], period: int) -> bool:
    """Whether the last step repeats the step ``period`` steps before it, within a real cycle.

    A cycle needs two different steps within one period (the same step over and over is
    ``same_call``'s business, not a cycle's).

    Args:
        history: Each step's calls, oldest first (the last is the step being judged).
        period: The cycle's length in steps (2 or 3).
    """
    if len(history) <= period:
        return False
    if not _same_step(history[-1], history[-1 - period]):
        return False
    return any(not _same_step(step, history[-1]) for step in history[-period:-1])


def normal_thought(thought: str) -> str:
    """A thought with case and spacing folded, for comparing thoughts of different steps."""
    return " ".join(thought.casefold().split())
