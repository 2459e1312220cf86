"""The sanitiser: what `clean_text`, `one_line` and `reveal` remove, keep and show."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hostile import DEFAULT_IGNORABLE, HIDDEN_CATEGORIES, HOSTILE, hidden_chars, is_default_ignorable

from nexthop import _sanitize
from nexthop._sanitize import clean_text, flatten, is_hidden, one_line, reveal


def test_newlines_and_tabs_are_kept_and_every_line_break_becomes_a_newline() -> None:
    assert clean_text("a\tb\nc") == "a\tb\nc"
    assert clean_text("a\r\nb\rc\u2028d\u2029e\x85f\x0bg\n") == "a\nb\nc\nd\ne\nf\ng\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b[?1049h\x1b[2J\x1b[Hscreen", "screen"),
        ("\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\", "click"),
        ("copy \x1b]52;c;ZXZpbA==\x1b\\done", "copy done"),
        ("\x1b7a\x1b8", "a"),
    ],
    ids=["sgr", "private-mode-and-clear", "osc8", "osc52", "two-byte"],
)
def test_escape_sequences_go_whole(text: str, expected: str) -> None:
    assert clean_text(text) == expected


def test_what_rich_cannot_parse_loses_its_control_characters() -> None:
    # An OSC ended by BEL, a C1 CSI, a lone ESC: the printable rest stays, inert.
    assert clean_text("\x1b]0;title\x07after") == "0;titleafter"
    assert clean_text("\x9b31mx\x1b") == "31mx"


@pytest.mark.parametrize(
    "char",
    [
        "\x00", "\x07", "\x7f", "\x84", "\x9b",  # Cc
        "\u00ad", "\u061c", "\u180e", "\u200b", "\u200d", "\u202e", "\u2066", "\ufeff", "\ufff9",  # Cf
        "\U000e0001", "\U000e0041", "\U000e007f",  # Cf: tag characters
        "\ue000", "\U000f0000",  # Co
        "\uffff", "\U000e0080",  # Cn
        "\ud800",  # Cs
        "\ufe0f", "\U000e0100", "\u180b", "\u034f", "\u3164", "\u115f", "\u1160", "\uffa0", "\u17b4",  # Mn, Lo
    ],
)  # fmt: skip
def test_hidden_characters_are_removed(char: str) -> None:
    assert is_hidden(char)
    assert clean_text(f"a{char}b") == "ab"


def test_every_default_ignorable_code_point_is_removed() -> None:
    ignorable = [chr(c) for first, last in DEFAULT_IGNORABLE for c in range(first, last + 1)]
    assert len(ignorable) > 4000
    assert [f"U+{ord(c):04X}" for c in ignorable if not is_hidden(c)] == []


def test_outside_the_categories_only_default_ignorable_characters_are_removed() -> None:
    # The name rules (variation selectors, Hangul fillers...) catch nothing else.
    chars = (chr(c) for c in range(0x110000))
    beyond = [c for c in chars if is_hidden(c) and unicodedata.category(c) not in HIDDEN_CATEGORIES]
    assert beyond and all(is_default_ignorable(c) for c in beyond)


def test_visible_text_in_any_script_is_left_alone() -> None:
    text = "café — 日本語 مرحبا עברית हिन्दी 👍 ｅｃｈｏ \u0435cho [bold]x[/] \\ \u00a0\u3000"
    assert clean_text(text) == text


@pytest.mark.parametrize("text", [t for _, t in HOSTILE], ids=[k for k, _ in HOSTILE])
def test_no_hostile_string_keeps_a_hidden_character(text: str) -> None:
    assert hidden_chars(clean_text(text)) == []
    assert hidden_chars(one_line(text, 80), allowed="") == []
    assert hidden_chars(reveal(text), allowed="\n\t") == []


def test_a_long_text_is_cut_with_a_note() -> None:
    assert clean_text("x" * 150, 100) == "x" * 100 + "\n[... 50 more characters cut]"
    assert clean_text("x" * 100, 100) == "x" * 100


def test_one_line_flattens_whitespace_and_cuts_with_an_ellipsis() -> None:
    assert one_line("a\n\n b\t\tc\u2028d  ", 80) == "a b c d"
    assert one_line("abcdefghij", 5) == "abcd…"
    assert one_line("abcde", 5) == "abcde"
    assert one_line("\x1b[31m\u200b", 5) == ""


def test_flatten_cleans_and_folds_but_never_cuts() -> None:
    long = "word " * 1000
    assert flatten(long) == long.strip()
    assert flatten(" a\r\n\u200bb\x1b[31m\tc ") == "a b c"


@pytest.mark.parametrize("text", [t for _, t in HOSTILE], ids=[k for k, _ in HOSTILE])
def test_reveal_keeps_json_valid_and_equal(text: str) -> None:
    value = {"arg": text, text: [text]}
    shown = reveal(json.dumps(value, ensure_ascii=False, indent=2))
    assert json.loads(shown) == value


def test_reveal_shows_what_clean_text_drops() -> None:
    assert reveal("a\u202eb\x1b[31m") == "a\\u202eb\\u001b[31m"
    assert reveal("tag\U000e0041") == "tag\\udb40\\udc41"
    assert reveal("line\nnext\ttab") == "line\nnext\ttab"


def test_the_lookup_cache_stays_bounded() -> None:
    clean_text("".join(chr(c) for c in range(0x4E00, 0x4E00 + 20_000)))
    assert len(_sanitize._DROP) <= _sanitize._CACHE_MAX  # pyright: ignore[reportPrivateUsage]
