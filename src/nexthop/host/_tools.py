"""Python functions as tools, beside MCP tools.

The `tool` decorator turns a typed, documented function into a tool whose input
schema comes from its type hints and whose description comes from its docstring
(compare Autono's ``@ability``).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio.to_thread
import docstring_parser
from pydantic import BaseModel, Field, ValidationError, create_model

from nexthop._sanitize import one_line
from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, ToolCall

__all__ = ["FunctionTool", "FunctionToolset", "tool"]


class FunctionTool:
    """A Python function exposed as a tool. Build it with the `tool` decorator.

    Sync functions run in a worker thread so they never block the loop.
    """

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, description: str | None = None) -> None:
        doc = docstring_parser.parse(inspect.getdoc(fn) or "")
        self.fn = fn
        self.name = name or fn.__name__
        self.description = description or "\n".join(p for p in (doc.short_description, doc.long_description) if p)
        param_docs = {p.arg_name: p.description for p in doc.params}
        fields: dict[str, Any] = {}
        for pname, param in inspect.signature(fn, eval_str=True).parameters.items():
            annotation = param.annotation if param.annotation is not inspect.Parameter.empty else Any
            default = param.default if param.default is not inspect.Parameter.empty else ...
            fields[pname] = (annotation, Field(default, description=param_docs.get(pname)))
        self._args_model: type[BaseModel] = create_model(f"{self.name}_args", **fields)
        self.definition = ToolDef(
            name=self.name, description=self.description, input_schema=self._args_model.model_json_schema()
        )

    async def __call__(self, arguments: dict[str, Any]) -> Any:
        args = self._args_model.model_validate(arguments)
        kwargs = {k: getattr(args, k) for k in type(args).model_fields}
        if inspect.iscoroutinefunction(self.fn):
            return await self.fn(**kwargs)
        return await anyio.to_thread.run_sync(lambda: self.fn(**kwargs))


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None) -> Any:
    """Turn a function into a `FunctionTool`; usable bare (``@tool``) or with options.

    Args:
        fn: The function. Its type hints give the input schema; its Google-style
            docstring gives the description and the arguments' descriptions.
        name: The tool's name; defaults to the function's name.
        description: Overrides the docstring's description.

    Returns:
        A `FunctionTool` (or a decorator making one, when called with options only).
    """
    if fn is None:

        def decorate(f: Callable[..., Any]) -> FunctionTool:
            return FunctionTool(f, name=name, description=description)

        return decorate
    return FunctionTool(fn, name=name, description=description)


class FunctionToolset:
    """A `Toolset` over Python functions, registered beside MCP tools."""

    def __init__(self, tools: Sequence[FunctionTool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, FunctionTool] = {}
        for t in tools:
            self.add(t)

    def add(self, fn: FunctionTool | Callable[..., Any]) -> FunctionTool:
        """Register a function (or an already decorated `FunctionTool`) and return it."""
        ft = fn if isinstance(fn, FunctionTool) else FunctionTool(fn)
        self._tools[ft.name] = ft
        return ft

    async def list_tools(self) -> list[ToolDef]:
        return [t.definition for t in self._tools.values()]

    async def call_tool(self, call: ToolCall) -> Observation:
        start = time.perf_counter()
        ft = self._tools.get(call.name)
        if ft is None:
            return Observation(call_id=call.id, content=f"unknown tool {call.name!r}", is_error=True)
        try:
            value = await ft(call.arguments)
        except ValidationError as e:
            content, is_error = f"invalid arguments for {call.name}: {_one_line(e)}", True
        except Exception as e:  # a failing tool is an observation for the model, not a crash
            content, is_error = f"{type(e).__name__}: {e}", True
        else:
            content = value if isinstance(value, str) else _to_text(value)
            is_error = False
        return Observation(call_id=call.id, content=content, is_error=is_error, duration_s=time.perf_counter() - start)


def _to_text(value: Any) -> str:
    import json

    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


def _one_line(e: ValidationError) -> str:
    errors = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'arguments'}: {err['msg']}" for err in e.errors())
    return one_line(errors, 1000)
