"""Cleaning text from servers before a model (or a terminal) sees it.

Tool descriptions and results come from servers nexthop does not control. Terminal
escape sequences could rewrite what a person sees at the CLI; zero-width and bidi
control characters can hide instructions from a person while a model still reads
them (the "tool poisoning" and "Trojan Source", CVE-2021-42574, families). They are
removed, and the text is capped in size.
"""

from __future__ import annotations

import re

__all__ = ["clean_text"]

# CSI / OSC / other ESC sequences, then stray C0/C1 controls except tab and newline.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Zero-width characters, bidi embeddings/overrides/isolates, and the BOM used mid-text.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def clean_text(text: str, max_chars: int | None = None) -> str:
    """Remove terminal escapes, control, zero-width and bidi characters; cap the length.

    Args:
        text: Text from a server.
        max_chars: Longest result kept (characters); the rest is replaced by a note.

    Returns:
        The cleaned text.
    """
    cleaned = _INVISIBLE.sub("", _CONTROLS.sub("", _ESCAPES.sub("", text.replace("\r\n", "\n"))))
    if max_chars is not None and len(cleaned) > max_chars:
        cleaned = cleaned[:max_chars] + f"\n[... {len(cleaned) - max_chars} more characters cut]"
    return cleaned
