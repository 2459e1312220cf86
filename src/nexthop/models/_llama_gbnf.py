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

It also understands one form the stock converter ignores: a string with ``maxLength``
and ``"not": {"pattern": "^<escaped literal>"}``, the reply's thought when it may not
repeat the last one's opening (`avoided_opening`). The stock converter drops ``not``
(a server that converts the schema itself then lets any thought through); this one
writes a grammar in which the string may follow the literal for all but its last
character, and must leave it before then or end.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, cast

__all__ = ["schema_grammar", "stock_converter_takes"]

# re.escape's output: a backslash before each special character, nothing else.
_ESCAPED_LITERAL = re.compile(r"\^((?:[^\\.^$*+?{}\[\]|()]|\\.)+)")
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
            avoided = _avoided_literal(schema)
            if avoided is None:
                return cast("str", super().visit(schema, name))  # pyright: ignore[reportUnknownMemberType]
            return _avoiding_rule(self, name, avoided, cast("int", schema["maxLength"]))

    return _Converter


def _avoiding_rule(converter: Any, name: str, avoided: str, max_length: int) -> str:
    """Add the rules of a JSON string that does not start with ``avoided``; returns the rule's name."""
    from llama_cpp import llama_grammar

    repetition: Callable[..., str] = getattr(llama_grammar, "_build_repetition")  # noqa: B009 (private, untyped)

    char = converter._add_primitive("char", llama_grammar.PRIMITIVE_RULES["char"])
    # The SDK nests a repetition one level per character: one shared rule for the rest,
    # capped so that no string exceeds max_length.
    rest = converter._add_rule("avoid-rest", repetition(char, 0, max(0, max_length - len(avoided))))
    follow = ""
    for i in reversed(range(len(avoided))):
        leave = f"({_other_than(avoided[i])} | {_ESCAPE}) {rest}"
        stay = f" | {_format_literal(avoided[i])} {follow}" if follow else ""
        follow = converter._add_rule(f"avoid-{i}", f"({leave}{stay})?")
    return cast("str", converter._add_rule(name or "root", f'"\\"" {follow} "\\"" space'))


def _avoided_literal(schema: dict[str, Any]) -> str | None:
    """The literal that a string schema with ``maxLength`` and ``not: {pattern: "^<re.escape(literal)>"}`` avoids."""
    rule: Any = schema.get("not")
    pattern = cast("dict[str, Any]", rule).get("pattern") if isinstance(rule, dict) else None
    if schema.get("type") != "string" or not isinstance(schema.get("maxLength"), int) or not isinstance(pattern, str):
        return None
    match = _ESCAPED_LITERAL.fullmatch(pattern)
    if match is None:
        return None
    literal = re.sub(r"\\(.)", r"\1", match.group(1))
    return literal if not _LITERAL_SPECIAL.search(literal) else None


def _other_than(c: str) -> str:
    """A character class: one JSON string character other than ``c``, a quote or a backslash (as the stock ``char``)."""
    return f'[^"\\\\\\U{ord(c):08x}]'
