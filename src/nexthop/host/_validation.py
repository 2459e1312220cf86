"""Checks a tool call's arguments against the tool's input schema before it is sent.

A call that fails its schema never reaches the server: the model gets a one-line
observation naming the field and the problem, and can correct itself next step.
"""

from __future__ import annotations

from typing import Any, cast

import jsonschema
import jsonschema.exceptions
import jsonschema.protocols
import jsonschema.validators

from nexthop._toolset import ToolDef

__all__ = ["ArgumentValidator"]


class ArgumentValidator:
    """Validates arguments with the `jsonschema` library; one compiled validator per tool definition."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[ToolDef, jsonschema.protocols.Validator | None]] = {}

    def check(self, tool: ToolDef, arguments: dict[str, Any]) -> str | None:
        """Return None when ``arguments`` fit ``tool.input_schema``, else a one-line problem for the model."""
        validator = self._validator(tool)
        if validator is None:
            return None
        # best_match has no return annotation in the stubs; it returns the most relevant error, or None.
        error = cast(
            "jsonschema.exceptions.ValidationError | None",
            jsonschema.exceptions.best_match(validator.iter_errors(arguments)),  # pyright: ignore[reportUnknownMemberType]
        )
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "arguments"
        return (
            f"arguments for {tool.name} fail its input schema at {where}: {error.message}; "
            "call it again with arguments that match"
        )

    def _validator(self, tool: ToolDef) -> jsonschema.protocols.Validator | None:
        cached = self._cache.get(tool.name)
        if cached is not None and cached[0] is tool:
            return cached[1]
        try:
            cls = jsonschema.validators.validator_for(tool.input_schema)
            cls.check_schema(tool.input_schema)
            validator = cls(tool.input_schema)
        except jsonschema.exceptions.SchemaError:
            validator = None  # a server's broken schema should not block its tool; the server still validates
        self._cache[tool.name] = (tool, validator)
        return validator
