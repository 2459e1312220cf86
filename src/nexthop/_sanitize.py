"""Cleaning untrusted text before a model or a terminal sees it.

Servers, tool results, models and MCP clients all send text nexthop does not
control. Terminal escape sequences could rewrite what a person sees, or write the
clipboard (OSC 52); invisible characters can hide instructions from a person while
a model still reads them ("tool poisoning"; "Trojan Source", CVE-2021-42574;
"ASCII smuggling" with Unicode tag characters). So every such text is cleaned where
it enters and again where it is shown.

What is removed is decided by Unicode's own data (`unicodedata`), not a list of
code points: the general categories Cc (controls, C0 and C1), Cf (format: bidi
controls, zero-width characters, tag characters, U+00AD, U+061C, U+180E,
U+FFF9-FFFB...), Co (private use), Cn (unassigned), Cs (lone surrogates), and Zl/Zp
(U+2028/2029, which become newlines). A few
Default_Ignorable_Code_Point characters (UAX #44) lie outside those categories; they
are found by their Unicode names: variation selectors, the Hangul fillers, the
combining grapheme joiner and the Khmer inherent vowels. Line boundaries are what
`str.splitlines` says they are (so U+2028/2029 become newlines), and ANSI/ECMA-48
escape sequences are parsed by rich's `Text.from_ansi`. Newlines and tabs are kept;
`flatten` and `one_line` fold them where text must fit on one line.

Two ways show rather than drop what is hidden: `reveal` escapes only the hidden
characters (JSON escapes, so JSON text stays JSON with the same value), for text a
person reads; `printable_name` escapes everything outside printable ASCII, for names,
where a look-alike letter (a Cyrillic ``е`` in ``еcho``) must show too.

"Unassigned" means unassigned in the running Python's Unicode data (3.11: Unicode
14.0), so a character assigned later, such as a newer emoji, is removed too: the
safe side for a character no one can yet say how a terminal will show.
"""

from __future__ import annotations

import json
import unicodedata

from rich.text import Text

__all__ = ["clean_text", "flatten", "is_hidden", "one_line", "printable_name", "reveal"]

# Zl and Zp (U+2028, U+2029) are line boundaries: clean_text turns them into newlines before this applies.
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})
# Default_Ignorable_Code_Point characters whose category is Mn or Lo, by name (UAX #44,
# DerivedCoreProperties.txt): FE00-FE0F, E0100-E01EF and 180B-180F, 3164/115F/1160/FFA0,
# 034F, 17B4-17B5. tests/test_sanitize.py checks this against every code point.
_IGNORABLE_NAMES = ("VARIATION SELECTOR", "HANGUL FILLER", "HANGUL CHOSEONG FILLER", "HANGUL JUNGSEONG FILLER")
_IGNORABLE_PREFIXES = ("COMBINING GRAPHEME JOINER", "KHMER VOWEL INHERENT")
_KEPT = frozenset("\n\t")
_PRINTABLE_LIMIT = 80  # characters of a name shown before it is cut


def is_hidden(char: str) -> bool:
    """Whether ``clean_text`` removes ``char``: a control, format, private, unassigned or ignorable character.

    Args:
        char: One character.
    """
    if char in _KEPT:
        return False
    if unicodedata.category(char) in _REMOVED_CATEGORIES:
        return True
    name = unicodedata.name(char, "")
    return any(n in name for n in _IGNORABLE_NAMES) or name.startswith(_IGNORABLE_PREFIXES)


_CACHE_MAX = 8192  # distinct code points remembered per table; text can hold a million, the cache must not


class _Table(dict[int, int | str | None]):
    """A `str.translate` table filled on first sight of each code point: kept, deleted (None) or shown escaped."""

    def __init__(self, *, show: bool) -> None:
        super().__init__()
        self._show = show

    def __missing__(self, code: int) -> int | str | None:
        char = chr(code)
        value: int | str | None = code
        if is_hidden(char):
            # The JSON escape (\u001b, or a surrogate pair above U+FFFF) shows the character and stays valid JSON.
            value = json.dumps(char)[1:-1] if self._show else None
        if len(self) < _CACHE_MAX:
            self[code] = value
        return value


_DROP = _Table(show=False)
_SHOW = _Table(show=True)


def clean_text(text: str, max_chars: int | None = None) -> str:
    """Remove escape sequences and hidden characters; keep newlines and tabs; cap the length.

    Every line break (``\\r\\n``, ``\\r``, U+2028, ...) becomes ``\\n``. An escape
    sequence goes whole (``\\x1b[31m``, OSC 8 links, OSC 52); what is left of one
    rich cannot parse loses its control characters.

    Args:
        text: Untrusted text (a tool description or result, a server's error, a task).
        max_chars: Longest text kept (characters, before the note); None keeps it all.

    Returns:
        The cleaned text; when cut, it ends with ``[... N more characters cut]``.
    """
    ends_line = text[-1:] != "" and text[-1:].splitlines() == [""]
    text = "\n".join(text.splitlines()) + ("\n" if ends_line else "")
    if "\x1b" in text:
        text = Text.from_ansi(text).plain + ("\n" if ends_line else "")
    cleaned = text.translate(_DROP)
    if max_chars is not None and len(cleaned) > max_chars:
        cleaned = cleaned[:max_chars] + f"\n[... {len(cleaned) - max_chars} more characters cut]"
    return cleaned


def flatten(text: str) -> str:
    """Clean ``text`` and fold every run of whitespace (newlines too) into one space, trimmed at both ends.

    For text that must stay on one line but whose cut is the caller's (`one_line` cuts
    at a limit; a prompt may cut at a sentence's end).

    Args:
        text: Untrusted text.
    """
    return " ".join(clean_text(text).split())


def one_line(text: str, limit: int) -> str:
    """Clean ``text``, flatten every run of whitespace to one space, and cut it to ``limit`` characters.

    For one-line places: a terminal line, a table cell, an error message.

    Args:
        text: Untrusted text.
        limit: Longest result (characters); a cut result ends with ``…``.
    """
    flat = flatten(text)
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)] + "…"


def reveal(text: str) -> str:
    """Show, rather than drop, each character `clean_text` would remove, as its JSON escape (``\\u202e``).

    For places where a person must see exactly what will be used, such as the
    arguments of a call they are asked to approve. Applied to JSON text, the result
    is still JSON with the same value.

    Args:
        text: Untrusted text.
    """
    return text.translate(_SHOW)


def printable_name(name: str, max_chars: int = _PRINTABLE_LIMIT) -> str:
    """``name`` safe for a terminal, a log or a model: ASCII, escapes shown, length capped.

    Non-ASCII and control characters are written as Python escapes (``\\u0435``,
    ``\\x1b``), so a look-alike or a hidden character is visible; a backslash is doubled.
    A name longer than ``max_chars`` is cut and says how long it was.

    Args:
        name: An untrusted name (a tool's, a server's).
        max_chars: Longest name shown (characters, before the note).
    """
    shown = _ascii(name[:max_chars])  # a huge name is not escaped whole
    if len(name) > max_chars or len(shown) > max_chars:
        return f"{shown[:max_chars]}... ({len(name)} characters)"
    return shown


def _ascii(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")
