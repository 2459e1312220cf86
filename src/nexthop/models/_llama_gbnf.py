"""JSON schema to a llama.cpp grammar, with every literal escaped whole.

llama-cpp-python 0.3.36 converts a JSON schema to GBNF with its copy of llama.cpp's
``json_schema_to_grammar.py`` (`llama_cpp.llama_grammar.SchemaConverter`). That copy
escapes quotes and line breaks in a grammar literal but not the backslash, so a string
whose JSON form holds an escape (a ``const`` with a quote in it: ``{"x": 1}`` becomes
``"{\\"x\\": 1}"``) turns into a literal that llama.cpp cannot parse. llama.cpp then
prints "parse: error parsing grammar" and the process dies with SIGSEGV while sampling
(measured here: exit 139). The embedded model fixes the thought of a reply to known
text (the task, or the thought of a first ask), so any quote in a task or a thought
crashed the run. llama.cpp's own converter now escapes the backslash too; this module
does the same until the copy catches up.

It also writes the grammar of one form the stock converter cannot: a thought that may
not open with a given word (`avoiding_word`, used by `avoided_opening`). The stock
converter takes the form's ``pattern`` and drops its ``not``, so a server that converts
the schema itself would let the word through; nexthop sends the form only to llama.cpp
in process.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, cast

__all__ = ["avoiding_word", "schema_grammar", "stock_converter_takes"]

_STARTS_ALNUM = "^[A-Za-z0-9]"
_AVOIDED_WORD = re.compile(r"\^\(\?i:([A-Za-z0-9]+)\)")
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# A JSON escape sequence, as in the stock converter's ``char`` rule.
_ESCAPE = r'"\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
_LITERAL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\r": "\\r", "\n": "\\n"}
_LITERAL_SPECIAL = re.compile(r'[\\"\r\n]')


def _format_literal(literal: str) -> str:
    return '"' + _LITERAL_SPECIAL.sub(lambda m: _LITERAL_ESCAPES[m.group(0)], literal) + '"'


def stock_converter_takes(literal: str) -> bool:
    """Whether a stock llama-cpp-python converter (a llama-cpp-python server's) takes ``literal`` as a ``const``.

    Such a server converts the schema itself, with the copy this module works around,
    so a literal with a quote or a backslash must not be sent to it fixed.
    """
    return '"' not in literal and "\\" not in literal


def schema_grammar(schema: dict[str, Any]) -> str:
    """The GBNF grammar of ``schema``, as llama-cpp-python makes it but with literals escaped whole.

    Conversions are cached by the schema's JSON text: the embedded model asks for the
    same reply schema at most steps, and converting one with 20 tools takes a few
    milliseconds of Python each time.

    Args:
        schema: A JSON schema (the reply schema of `build_reply_schema`, or one branch).

    Returns:
        Grammar text for ``LlamaGrammar.from_string``.

    Raises:
        Exception: Whatever the converter raises for a schema it cannot take (an
            unknown type, an unsupported keyword); callers fall back on a looser schema.
    """
    # Key order is kept: the converter writes properties in schema order, and the thought
    # must come before the tool and its arguments.
    return _convert(json.dumps(schema))


@functools.lru_cache(maxsize=32)
def _convert(schema_json: str) -> str:
    no_order: dict[str, int] = {}
    converter: Any = _converter_class()(prop_order=no_order, allow_fetch=False, dotall=False, raw_pattern=False)
    # resolve_refs rewrites the schema it is given: this one is a fresh copy.
    converter.visit(converter.resolve_refs(json.loads(schema_json), "stdin"), "")
    return str(converter.format_grammar())


@functools.cache
def _converter_class() -> type[Any]:
    """The SDK's converter with the literal escaping fixed; built once, on first use (llama_cpp imports lazily)."""
    from llama_cpp.llama_grammar import SchemaConverter

    class _Converter(SchemaConverter):
        def _format_literal(self, literal: str) -> str:  # pyright: ignore[reportIncompatibleMethodOverride]
            return _format_literal(literal)

        def visit(self, schema: dict[str, Any], name: str) -> str:  # pyright: ignore[reportIncompatibleMethodOverride]
            avoided = _avoided_word(schema)
            if avoided is None:
                return cast("str", super().visit(schema, name))  # pyright: ignore[reportUnknownMemberType]
            return _avoiding_rule(self, name, avoided, cast("int", schema["maxLength"]))

    return _Converter


def avoiding_word(word: str, max_length: int) -> dict[str, Any]:
    """The JSON schema of a string that starts with a letter or digit but not with ``word``, in any case.

    Standard JSON Schema (``pattern`` and ``not``), so any validator checks it; this
    module's converter turns it into a grammar.

    Args:
        word: Letters and digits only, e.g. ``Copy``: then ``copy``, ``Copying`` and
            ``COPY.`` are refused, ``Cope``, ``Cop`` and ``Write`` are not.
        max_length: The string's cap (characters).

    Returns:
        ``{"type": "string", "maxLength": ..., "pattern": "^[A-Za-z0-9]", "not": {"pattern": "^(?i:<word>)"}}``.

    Raises:
        ValueError: ``word`` is empty or holds anything but ASCII letters and digits.
    """
    if not word or not word.isascii() or not word.isalnum():
        raise ValueError(f"can only avoid a word of ASCII letters and digits, not {word!r}")
    return {"type": "string", "maxLength": max_length, "pattern": _STARTS_ALNUM, "not": {"pattern": f"^(?i:{word})"}}


def _avoided_word(schema: dict[str, Any]) -> str | None:
    """The word of an `avoiding_word` schema; None for any other schema."""
    rule: Any = schema.get("not")
    pattern = cast("dict[str, Any]", rule).get("pattern") if isinstance(rule, dict) else None
    if schema.get("pattern") != _STARTS_ALNUM or not isinstance(schema.get("maxLength"), int):
        return None
    match = _AVOIDED_WORD.fullmatch(pattern) if isinstance(pattern, str) else None
    return match.group(1) if match else None


def _avoiding_rule(converter: Any, name: str, word: str, max_length: int) -> str:
    """Add the rules of an `avoiding_word` string; returns the rule's name.

    Position ``i`` of the word either leaves it (any other character, then the rest) or
    matches it in either case and goes on; the last position may only leave it. Past the
    first character the string may also end, so ``Cop`` is a thought.
    """
    from llama_cpp import llama_grammar

    repetition: Callable[..., str] = getattr(llama_grammar, "_build_repetition")  # noqa: B009 (private, untyped)
    char = converter._add_primitive("char", llama_grammar.PRIMITIVE_RULES["char"])
    # The SDK nests a repetition one level per character: one shared rule for the rest,
    # capped so that no string exceeds max_length.
    rest = converter._add_rule("avoid-rest", repetition(char, 0, max(0, max_length - len(word))))
    follow = ""
    for i in reversed(range(len(word))):
        cases = sorted({word[i].lower(), word[i].upper()})
        if i == 0:
            leave = "[" + "".join(c for c in _ALNUM if c not in cases) + f"] {rest}"
        else:
            leave = '([^"\\\\' + "".join(cases) + f"] | {_ESCAPE}) {rest}"
        stay = f" | [{''.join(cases)}] {follow}" if follow else ""
        follow = converter._add_rule(f"avoid-{i}", f"({leave}{stay})" + ("?" if i else ""))
    return cast("str", converter._add_rule(name or "root", f'"\\"" {follow} "\\"" space'))
