"""Asking the person at the terminal what a server wants to know (elicitation), or whether it may sample.

A form elicitation is rendered from its requested schema (MCP spec: a flat object of
strings, numbers, integers, booleans and enums, single or multi-select): one prompt
per field showing its title, description, default and choices; each answer is
checked against the field's own schema (jsonschema, with formats) and asked again
until it fits. A schema nexthop cannot render (a nested object, say) is declined
with a one-line reason naming the server; so is any question when stdin is not a
terminal. Everything a server sent is cleaned and escaped before it is shown.
"""

from __future__ import annotations

import sys
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import anyio.to_thread
import jsonschema
from rich.console import Console
from rich.prompt import Confirm, Prompt

from nexthop.cli._render import shown, shown_name
from nexthop.clients._callbacks import (
    ElicitationAnswer,
    ElicitationRequest,
    Elicitor,
    SamplingApprover,
    SamplingRequest,
)

__all__ = ["FormField", "UnrenderableForm", "form_fields", "terminal_elicitor", "terminal_sampling_approver"]

_PRIMITIVES = {"string", "number", "integer", "boolean"}


class UnrenderableForm(Exception):  # noqa: N818 - a reason to decline, not a failure of nexthop
    """The requested schema is not one nexthop can render as prompts; the message says why."""


@dataclass(frozen=True)
class FormField:
    """One field of a form, as prompted.

    Attributes:
        name: The property's key.
        schema: Its JSON Schema (what an answer is validated against).
        required: Whether the form needs it.
        choices: The allowed values of an enum (single or multi-select), as shown.
        values: What each choice stands for (``oneOf`` consts may differ from titles).
        multiple: A multi-select (an array of enum values).
    """

    name: str
    schema: dict[str, Any]
    required: bool
    choices: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    multiple: bool = False

    @property
    def kind(self) -> str:
        return "array" if self.multiple else str(self.schema.get("type", "string"))


def form_fields(schema: dict[str, Any]) -> list[FormField]:
    """The fields of a requested schema, in order.

    Raises:
        UnrenderableForm: The schema is not a flat object of primitives and enums.
    """
    if schema.get("type", "object") != "object" or not isinstance(schema.get("properties"), dict):
        raise UnrenderableForm("the form is not an object with properties")
    properties = cast("dict[str, Any]", schema["properties"])
    required = set(cast("list[str]", schema.get("required", [])))
    return [_field(name, cast("dict[str, Any]", prop), name in required) for name, prop in properties.items()]


def _field(name: str, prop: dict[str, Any], required: bool) -> FormField:
    if not isinstance(prop, dict):  # pyright: ignore[reportUnnecessaryIsInstance] - the schema is untrusted JSON
        raise UnrenderableForm(f"field {name!r} has no schema")
    kind = prop.get("type")
    if kind == "array":
        items = cast("dict[str, Any]", prop.get("items") or {})
        choices, values = _enum(items)
        if not choices:
            raise UnrenderableForm(f"field {name!r} is a list of free values (only lists of choices are supported)")
        return FormField(name, prop, required, choices, values, multiple=True)
    if kind not in _PRIMITIVES:
        raise UnrenderableForm(f"field {name!r} is of type {kind!r} (only strings, numbers, booleans and choices)")
    choices, values = _enum(prop)
    return FormField(name, prop, required, choices, values)


def _enum(schema: dict[str, Any]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """Choices shown and the values they stand for: ``enum`` (legacy ``enumNames``), or titled ``oneOf``/``anyOf``."""
    if isinstance(schema.get("enum"), list):
        values = tuple(cast("list[Any]", schema["enum"]))
        names = schema.get("enumNames")
        shown_as = tuple(str(n) for n in cast("list[Any]", names)) if isinstance(names, list) else None
        return (shown_as if shown_as and len(shown_as) == len(values) else tuple(str(v) for v in values)), values
    options = cast("list[Any]", schema.get("oneOf") or schema.get("anyOf") or [])
    consts = [cast("dict[str, Any]", o) for o in options if isinstance(o, dict) and "const" in o]
    if consts and len(consts) == len(options):
        return tuple(str(o.get("title", o["const"])) for o in consts), tuple(o["const"] for o in consts)
    return (), ()


def terminal_elicitor(console: Console, before_prompt: Callable[[], None] | None = None) -> Elicitor:
    """An `Elicitor` that asks the person at this terminal; declines when there is none.

    Args:
        console: Where questions are shown (stderr).
        before_prompt: Called first, e.g. to stop a spinner.
    """

    async def elicit(request: ElicitationRequest) -> ElicitationAnswer:
        who = f"server {request.server!r}"
        if not sys.stdin.isatty():
            return ElicitationAnswer(
                action="decline", reason=f"{who} asked a question, and there is no terminal to ask"
            )
        fields: list[FormField] = []
        if request.mode == "form":
            try:
                fields = form_fields(request.schema_)
            except UnrenderableForm as e:
                console.print(f"[yellow]declined a question from {shown_name(request.server)}:[/] {shown(str(e), 300)}")
                return ElicitationAnswer(action="decline", reason=f"{who} sent a form nexthop cannot show: {e}")
        if before_prompt is not None:
            before_prompt()
        return await anyio.to_thread.run_sync(_ask, console, request, fields)

    return elicit


def _ask(console: Console, request: ElicitationRequest, fields: list[FormField]) -> ElicitationAnswer:
    """Ask in a worker thread (input() blocks); Ctrl-D or Ctrl-C cancels."""
    console.print(f"[bold yellow]server {shown_name(request.server)} asks:[/] {shown(request.message, 2000)}")
    try:
        if request.mode == "url":
            console.print(f"  it wants you to open [cyan]{shown(request.url, 2000)}[/]")
            if not Confirm.ask("open this address?", console=console, default=False):
                return ElicitationAnswer(action="decline", reason="the person at the terminal said no")
            webbrowser.open(request.url)  # headless, the address printed above is what to open
            return ElicitationAnswer(action="accept")
        if not Confirm.ask("answer?", console=console, default=True):
            return ElicitationAnswer(action="decline", reason="the person at the terminal said no")
        content = {f.name: value for f in fields if (value := _ask_field(console, f)) is not None}
    except (EOFError, KeyboardInterrupt):
        return ElicitationAnswer(action="cancel", reason="the person at the terminal cancelled")
    return ElicitationAnswer(action="accept", content=content)


def _ask_field(console: Console, field: FormField) -> Any:
    """One field's answer, asked until it validates; None leaves an optional field out."""
    title = shown(str(field.schema.get("title") or field.name), 200)
    if description := field.schema.get("description"):
        console.print(f"  [dim]{shown(str(description), 500)}[/]")
    default = field.schema.get("default")
    if field.kind == "boolean":
        return Confirm.ask(title, console=console, default=bool(default) if default is not None else False)
    hint = ""
    if field.choices:
        hint = (
            " ("
            + ", ".join(shown(c, 100) for c in field.choices)
            + (", comma-separated" if field.multiple else "")
            + ")"
        )
    while True:
        text = Prompt.ask(
            f"{title}{hint}", console=console, default=None if default is None else _default_text(field, default)
        )
        if not text:
            if not field.required:
                return None
            console.print("  [red]an answer is required[/]")
            continue
        try:
            value = _parse(field, text)
            jsonschema.validate(value, field.schema, format_checker=jsonschema.FormatChecker())
        except (ValueError, jsonschema.ValidationError) as e:
            message = e.message if isinstance(e, jsonschema.ValidationError) else str(e)
            console.print(f"  [red]{shown(message, 300)}[/]; try again")
            continue
        return value


def _default_text(field: FormField, default: Any) -> str:
    if field.values and default in field.values:
        return field.choices[field.values.index(default)]
    if isinstance(default, list):
        items = cast("list[Any]", default)
        return ",".join(field.choices[field.values.index(v)] if v in field.values else str(v) for v in items)
    return str(default)


def _parse(field: FormField, text: str) -> Any:
    """The typed value of an answer; raises ValueError saying what was expected."""
    if field.multiple:
        return [_choice(field, part.strip()) for part in text.split(",") if part.strip()]
    if field.choices:
        return _choice(field, text.strip())
    if field.kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if field.kind == "number":
        try:
            return float(text)
        except ValueError:
            raise ValueError("expected a number") from None
    return text


def _choice(field: FormField, text: str) -> Any:
    for shown_as, value in zip(field.choices, field.values, strict=True):
        if text in (shown_as, str(value)):
            return value
    raise ValueError(f"choose one of: {', '.join(field.choices)}")


def terminal_sampling_approver(console: Console, before_prompt: Callable[[], None] | None = None) -> SamplingApprover:
    """Ask the person at the terminal whether a server may use nexthop's model (``sampling: ask``)."""

    async def approve(request: SamplingRequest) -> bool:
        if not sys.stdin.isatty():
            return False
        if before_prompt is not None:
            before_prompt()
        console.print(
            f"[bold yellow]server {shown_name(request.server)} asks to use nexthop's model[/] "
            f"(up to {request.max_tokens} tokens) with:"
        )
        for role, text in request.messages[-3:]:
            console.print(f"  [dim]{shown(role, 20)}:[/] {shown(text, 500)}", soft_wrap=True)
        return await anyio.to_thread.run_sync(
            lambda: Confirm.ask("allow this request?", console=console, default=False)
        )

    return approve
