"""The Hermes tool-call format: the grammar a reply is generated under, and its ``<tool_call>`` blocks read back.

GGUFs whose chat template follows the Hermes convention (Qwen2.5, Qwen3, Hermes 2/3) ask
the model to write each call as ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.
`tool_call_grammar` constrains a reply to calls of the offered tools, with well-formed
arguments, after an optional line of thought; `parse_reply` turns the blocks into OpenAI
``tool_calls``. The ``gguf-tool-calls`` chat handler (`_llama_server`) puts the two around
the GGUF's own template. Only the grammar needs llama-cpp-python, and imports it when called.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, cast

from nexthop.models._llama_prompt import ANY_OBJECT
from nexthop.models._llama_schema import simplify_schema

__all__ = ["CLOSE", "OPEN", "parse_reply", "tool_call_grammar"]

OPEN, CLOSE = "<tool_call>", "</tool_call>"
"""The Hermes tool-call markers that Qwen2.5's template asks the model to write."""

# A free-text reply may not open with "<", so that a call always goes through the
# constrained branch; after its first character it may hold anything.
_MESSAGE_RULE = r"[^<] [\U00000001-\U0010FFFF]*"
# Text before the calls (the thought an agent's instructions ask for): one line of at
# most _MAX_PREAMBLE_CHARS. It holds no "<" so the calls after it stay constrained, and it
# may not open as JSON or a code fence: asked for tools, Qwen2.5-Coder-1.5B wrote its calls
# as fenced JSON text, a second, unconstrained copy of the call. Unbounded, the same model
# wrote a 1,023-token tutorial instead of its call (400 s on this machine).
_MAX_PREAMBLE_CHARS = 300
_PREAMBLE_RULE = rf'[^<`{{ \n] [^<\n]{{0,{_MAX_PREAMBLE_CHARS}}} "\n"'


def tool_call_grammar(
    tools: Sequence[Mapping[str, Any]],
    tool_choice: object,
    parallel_tool_calls: bool = True,
    thought_first: bool = False,
) -> str | None:
    """Build the GBNF grammar a reply is generated under.

    A call is ``<tool_call>\\n{"name": <an offered tool>, "arguments": <its schema>}\\n</tool_call>``;
    one or more calls may follow each other on new lines (only one when
    ``parallel_tool_calls`` is false), after an optional line of text (the thought: at
    most 300 characters and no ``<``, and it does not open with ``{`` or a code fence). Each tool's schema is reduced
    to its structure (`simplify_schema`: local ``$ref`` inlined, formats and bounds
    dropped); a tool whose schema llama.cpp's converter still refuses takes any object.

    Args:
        tools: The request's ``tools`` (``{"type": "function", "function": {...}}``).
        tool_choice: ``auto`` or None (calls or a free-text message), ``required``
            (calls only), ``{"type": "function", "function": {"name": ...}}`` (calls
            of that tool only) or ``none`` (no grammar).
        parallel_tool_calls: Allow more than one call in a reply (OpenAI's parameter
            of that name).
        thought_first: Make the line of text before the calls required, so the model
            says what it is about to do before it acts (ReAct's thought, the reasoning
            field nexthop's embedded model fills before its call).

    Returns:
        The grammar, or None when no call may be made.

    Raises:
        ValueError: ``tool_choice`` names a tool that is not offered, or is not one of
            the values above.
    """
    from llama_cpp.llama_grammar import SchemaConverter

    functions = [cast(Mapping[str, Any], t["function"]) for t in tools if t.get("type", "function") == "function"]
    if not functions or tool_choice == "none":
        return None
    if isinstance(tool_choice, Mapping):
        name = cast(Mapping[str, Any], tool_choice).get("function", {}).get("name")
        functions = [f for f in functions if f.get("name") == name]
        if not functions:
            raise ValueError(f"tool_choice names {name!r}, which is not among the tools")
    elif tool_choice not in (None, "auto", "required"):
        raise ValueError(f"tool_choice must be auto, required, none or a function, not {tool_choice!r}")
    schema = {"anyOf": [_call_schema(f) for f in functions]}
    converter: Any = SchemaConverter(
        prop_order={"name": 0, "arguments": 1}, allow_fetch=False, dotall=False, raw_pattern=False
    )
    converter.visit(schema, "call")
    rules: str = converter.format_grammar()
    root = "preamble tool-calls" if thought_first else "preamble? tool-calls"
    if tool_choice in (None, "auto"):
        root += " | message"
    more = ' ("\\n" tool-call)*' if parallel_tool_calls else ""
    calls = f'tool-calls ::= tool-call{more}\ntool-call ::= "{OPEN}\\n" call "\\n{CLOSE}"'
    return f"root ::= {root}\n{calls}\npreamble ::= {_PREAMBLE_RULE}\nmessage ::= {_MESSAGE_RULE}\n{rules}\n"


def _call_schema(function: Mapping[str, Any]) -> dict[str, Any]:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    parameters = function.get("parameters")
    arguments = simplify_schema(cast(Mapping[str, Any], parameters)) if isinstance(parameters, Mapping) else {}
    if arguments.get("type", "object") == "object" and "properties" not in arguments:
        arguments = {**arguments, "type": "object"}
    branch = {
        "type": "object",
        "properties": {"name": {"const": function.get("name", "")}, "arguments": arguments},
        "required": ["name", "arguments"],
    }
    try:
        json_schema_to_gbnf(json.dumps(branch))
    except Exception:  # any converter failure: this tool takes any object, the others stay exact
        branch["properties"] = {"name": {"const": function.get("name", "")}, "arguments": dict(ANY_OBJECT)}
    return branch


def parse_reply(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Split a reply into its text and its ``<tool_call>`` blocks.

    Args:
        text: What the model generated.

    Returns:
        The text outside the calls (stripped), and one OpenAI tool call per block whose
        body is a JSON object with a string ``name`` (``arguments`` re-encoded as a JSON
        string, ``{}`` when absent). A block that is not such an object stays in the text.
    """
    content: list[str] = []
    calls: list[dict[str, Any]] = []
    rest = text
    while True:
        before, opened, after = rest.partition(OPEN)
        content.append(before)
        if not opened:
            break
        body, closed, rest = after.partition(CLOSE)
        call = _parse_call(body)
        if call is None:
            content.append(opened + body + closed)
        else:
            calls.append(call)
    return "".join(content).strip(), calls


def _parse_call(body: str) -> dict[str, Any] | None:
    try:
        # strict=False: a small model writes raw newlines inside strings (file contents),
        # which JSON forbids but the meaning of which is plain
        value = json.loads(body, strict=False)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(cast(dict[str, Any], value).get("name"), str):
        return None
    value = cast(dict[str, Any], value)
    arguments = value.get("arguments", {})
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": value["name"], "arguments": encoded},
    }
