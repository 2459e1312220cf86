"""Tool input schemas for the embedded model: simplified for the reply grammar, typed for the prompt.

`simplify_schema` and `required_only` reduce a tool's JSON schema to what
grammar-constrained decoding needs; `signature` renders the same reduced schema as a
typed parameter list for the prompt (``local?catalog=signatures``). Both the grammar
and the prompt use this module, so what the prompt lists and what the grammar forces
cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

__all__ = ["required_only", "signature", "simplify_schema"]

# What the grammar converter understands and a small model benefits from; titles, formats,
# defaults, bounds and patterns are dropped because some of them trip llama.cpp's converter
# and none of them is needed to produce a well-formed call.
_STRUCTURAL_KEYS = ("type", "enum", "const", "required")
_MAX_DEPTH = 8


def simplify_schema(schema: Mapping[str, Any], *, descriptions: bool = False) -> dict[str, Any]:
    """Reduce a JSON schema to what grammar-constrained decoding needs.

    Keeps ``type``, ``properties``, ``required``, ``items``, ``enum``, ``const``,
    ``anyOf``/``oneOf`` and object-valued ``additionalProperties``; inlines local
    ``$ref``s (``#/$defs/...``, ``#/definitions/...``); replaces recursive or unresolvable
    references by ``{}`` (any value).

    Args:
        schema: A tool's input schema.
        descriptions: Keep ``description`` strings (for the prompt, not the grammar).

    Returns:
        A new, JSON-serializable schema.
    """
    defs: dict[str, Any] = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return _simplify(schema, defs, descriptions, (), 0)


def _simplify(
    node: Any, defs: Mapping[str, Any], descriptions: bool, seen: tuple[str, ...], depth: int
) -> dict[str, Any]:
    if not isinstance(node, Mapping) or depth > _MAX_DEPTH:
        return {}
    node = cast("Mapping[str, Any]", node)  # a JSON schema object: string keys, any values
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen or name not in defs:
            return {}
        return _simplify(defs[name], defs, descriptions, (*seen, name), depth + 1)

    def sub(child: Any) -> dict[str, Any]:
        return _simplify(child, defs, descriptions, seen, depth + 1)

    out: dict[str, Any] = {k: node[k] for k in _STRUCTURAL_KEYS if k in node}
    if descriptions and isinstance(node.get("description"), str):
        out["description"] = node["description"]
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            out[key] = [sub(branch) for branch in node[key]]
    if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
        # pydantic wraps a described $ref in a one-item allOf
        out.update(sub(node["allOf"][0]))
    if isinstance(node.get("properties"), Mapping):
        out["properties"] = {name: sub(prop) for name, prop in node["properties"].items()}
    if isinstance(node.get("items"), Mapping):
        out["items"] = sub(node["items"])
    if isinstance(node.get("additionalProperties"), Mapping):
        out["additionalProperties"] = sub(node["additionalProperties"])
    return out


def required_only(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop a tool's optional top-level arguments when it has required ones.

    A 1.5B model fills optional arguments it was not asked for (``tail: 1`` on a file it
    meant to read whole) and then loops on the odd result; offering only what a call
    needs keeps it on task. A tool whose arguments are all optional keeps them all, or
    it could not be used at all. Measured on the e2e file task: with optional arguments
    the model looped on ``read_text_file(tail=1)`` for 8 steps; without, it finished.
    """
    props, required = schema.get("properties"), schema.get("required")
    if not isinstance(props, dict) or not required:
        return schema
    kept = {k: v for k, v in cast("dict[str, Any]", props).items() if k in required}
    return {**schema, "properties": kept}


def signature(schema: Mapping[str, Any]) -> str:
    """A tool's arguments as a typed parameter list: ``path: string, edits: [{oldText: string, newText: string}]``.

    The reply grammar already forces each argument's name and JSON type once a tool is
    picked (`build_reply_schema`), so the prompt need only say what each one is. With
    signatures the listing of the filesystem and SQLite servers' 22 tools falls from
    1,318 to 775 tokens (the embedded GGUF's tokenizer).
    Only the arguments a call needs are listed (`required_only`).

    Args:
        schema: A tool's input schema.

    Returns:
        The parameter list, without parentheses; "" for a tool that takes none.
    """
    props = _mapping(required_only(simplify_schema(schema)).get("properties"))
    return ", ".join(f"{name}: {_type_text(_mapping(prop), 0)}" for name, prop in props.items())


def _mapping(value: object) -> dict[str, Any]:
    # A simplified schema holds JSON: a node that is not an object says nothing.
    return cast("dict[str, Any]", value) if isinstance(value, dict) else {}


def _type_text(node: Mapping[str, Any], depth: int) -> str:
    if "const" in node:
        return json.dumps(node["const"])
    enum: object = node.get("enum")
    if isinstance(enum, list):
        return "|".join(json.dumps(v) for v in cast("list[Any]", enum))
    branches: object = node.get("anyOf") or node.get("oneOf")
    if isinstance(branches, list) and branches:
        return "|".join(_type_text(_mapping(b), depth + 1) for b in cast("list[Any]", branches))
    kind: object = node.get("type")
    if isinstance(kind, list):
        return "|".join(str(k) for k in cast("list[Any]", kind))
    if kind == "array":
        items: object = node.get("items")
        return f"[{_type_text(_mapping(items), depth + 1) if items else 'any'}]"
    props = _mapping(node.get("properties"))
    if kind == "object" or "properties" in node:
        if not props or depth > 2:
            return "object"
        return "{" + ", ".join(f"{k}: {_type_text(_mapping(v), depth + 1)}" for k, v in props.items()) + "}"
    return kind if isinstance(kind, str) else "any"
