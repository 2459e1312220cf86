"""Tool synthesis: the model writes a Python function when no tool fits, and it runs sandboxed.

`SynthesisToolset` is a `Toolset` offering ``create_tool(name, description, input_schema,
source[, output_schema])``. A definition is checked (the source parses and holds one
function, beside imports; the name is free; the schema is valid JSON Schema; the sizes
are under their limits) and offered from the next step as ``synth__<name>``. Each call
of it runs in a fresh bubblewrap sandbox (`run_sandboxed`). A call that raises, times
out or breaks its output schema comes back as an error observation with the traceback's
lines inside the tool, and the model may revise it (``create_tool`` with the same name);
after ``max_revisions`` revisions a tool that still fails is withdrawn.

Creating a tool is a call like any other, so permissions, approvals and doom-loop
detection see it, and the step records its full source in the call's arguments.

After Autono's self-writing tools (the issue's "Autonomy" system) and the
create-run-repair loop of LATM (Cai et al. 2023, arXiv 2305.17126).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import stat
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
import jsonschema
import jsonschema.exceptions
import jsonschema.validators

from nexthop._exceptions import ConfigError
from nexthop._toolset import CREATE_TOOL_NAME, ToolDef, Toolset
from nexthop._trajectory import Observation, ToolCall
from nexthop.host._sandbox import SandboxConfig, SandboxMount, SandboxOutcome, run_sandboxed
from nexthop.host._sandbox_mounts import bwrap_path, package_mounts, runtime_mounts
from nexthop.host._tool_library import SavedTool, ToolLibrary

__all__ = [
    "CREATE_TOOL",
    "PREFIX",
    "SynthesisToolset",
    "SynthesizedTool",
    "check_definition",
    "create_tool_def",
    "require_sandbox",
    "synthesis_toolsets",
]

PREFIX = "synth__"
MAX_NAME = 48


def _describe(mounts: Sequence[SandboxMount], workdir: Path | None = None) -> str:
    # A local model's prompt keeps only the first 160 characters or so: the constraints go first.
    if not mounts:
        reach = "no files or network, so pass data in as arguments"
    else:
        reach = f"no network; of the host's files it sees only {_folders(mounts)}, at the same paths"
        reach += f", and relative paths start in {workdir}" if workdir else ""
    return (
        f"Write a Python function as a new tool ({PREFIX}<name> from the next step). It runs sandboxed: stdlib "
        f"only, {reach}. Calling create_tool again with the same name revises the tool."
    )


def _folders(mounts: Sequence[SandboxMount]) -> str:
    return ", ".join(f"{m.path} ({'read-write' if m.writable else 'read-only'})" for m in mounts)


def create_tool_def(sandbox: SandboxConfig) -> ToolDef:
    """``create_tool`` as offered under ``sandbox``: its description names the folders a tool can see."""
    if not sandbox.mounts:
        return CREATE_TOOL
    return CREATE_TOOL.model_copy(update={"description": _describe(sandbox.mounts, sandbox.workdir)})


CREATE_TOOL = ToolDef(
    name=CREATE_TOOL_NAME,
    description=_describe(()),
    input_schema={
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": f"snake_case, e.g. word_count; called as {PREFIX}<name>"},
            "description": {"type": "string", "description": "what the tool does"},
            "input_schema": {
                "type": "object",
                "description": "JSON Schema of the arguments: type object, one property per parameter",
            },
            "source": {
                "type": "string",
                "description": "Python source of ONE function (imports allowed) whose parameters are the "
                "input_schema's properties and which returns a JSON value",
            },
            "output_schema": {"type": "object", "description": "optional JSON Schema of the result"},
        },
        "required": ["name", "description", "input_schema", "source"],
    },
)
"""The built-in action that writes a tool."""


@dataclass
class SynthesizedTool:
    """A tool the model wrote, as checked.

    Attributes:
        definition: What the model is offered (``synth__<name>``).
        source: The Python source.
        function: The name of the function in ``source`` that is called.
        output_schema: The declared result schema, if any.
        revisions: How many times it was rewritten (0 for the first version).
        failures: Failed calls since the last revision.
        recorded: The source was recorded as a library candidate.
    """

    definition: ToolDef
    source: str
    function: str
    output_schema: dict[str, Any] | None = None
    revisions: int = 0
    failures: int = 0
    recorded: bool = False

    @property
    def sha256(self) -> str:
        """The source's digest, to tell versions apart in the trajectory."""
        return hashlib.sha256(self.source.encode()).hexdigest()


def check_definition(arguments: dict[str, Any], *, max_source_chars: int = 12_000) -> SynthesizedTool | str:
    """Check a ``create_tool`` call's arguments; return the tool, or one line saying what is wrong.

    Checks: a snake_case name of at most 48 characters; a description; a valid JSON Schema
    of type object (jsonschema's meta-schema check) and, if given, a valid output schema;
    source of at most ``max_source_chars`` characters that parses and holds exactly one
    (synchronous) function besides imports and a docstring.
    """
    name, source = arguments.get("name"), arguments.get("source")
    if isinstance(name, str):
        name = name.removeprefix(PREFIX)  # models often repeat the prefix they were told about
    if not isinstance(name, str) or not name.isidentifier() or not name.islower() or len(name) > MAX_NAME:
        return f"name must be a snake_case identifier of at most {MAX_NAME} characters, got {name!r}"
    if not isinstance(source, str) or len(source) > max_source_chars:
        return f"source must be Python text of at most {max_source_chars} characters"
    problem = _schema_problem(arguments.get("input_schema"), "input_schema", required=True)
    problem = problem or _schema_problem(arguments.get("output_schema"), "output_schema", required=False)
    if problem:
        return problem
    function = _one_function(source)
    if function.startswith("!"):
        return function[1:]
    description = str(arguments.get("description") or "")[:2000]
    definition = ToolDef(name=PREFIX + name, description=description, input_schema=arguments["input_schema"])
    return SynthesizedTool(definition, source, function, arguments.get("output_schema"))


def _schema_problem(schema: Any, field: str, *, required: bool) -> str | None:
    if schema is None and not required:
        return None
    if not isinstance(schema, dict):
        return f"{field} must be a JSON Schema object"
    if field == "input_schema" and schema.get("type") != "object":  # pyright: ignore[reportUnknownMemberType]
        return 'input_schema must have "type": "object"'
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)  # pyright: ignore[reportUnknownArgumentType]
    except jsonschema.exceptions.SchemaError as e:
        return f"{field} is not valid JSON Schema: {e.message}"
    return None


def _one_function(source: str) -> str:
    """The single function's name, or ``!`` and the problem."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return f"!source does not parse: {e.msg} at line {e.lineno}"
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    others = [
        n
        for n in tree.body
        if not isinstance(n, ast.FunctionDef | ast.Import | ast.ImportFrom)
        and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
    ]
    if len(functions) != 1 or others:
        return "!source must hold exactly one function (def, not async def), plus imports; nothing else at top level"
    return functions[0].name


class SynthesisToolset:
    """One run's synthesized tools, and ``create_tool``.

    Args:
        sandbox: Limits, mounts and packages of every call's sandbox.
        taken: Returns the other tools on offer (a new tool may not shadow one).
        max_revisions: Rewrites allowed per tool; a tool that fails after the last is withdrawn.
        max_source_chars: Longest source accepted (characters).
        library: Where tools that worked are recorded as candidates, and whose saved
            (approved) tools are offered from the first step; None keeps no library.
        task: The run's task, recorded with each candidate.
    """

    def __init__(
        self,
        sandbox: SandboxConfig | None = None,
        *,
        taken: Callable[[], Awaitable[Sequence[ToolDef]]] | None = None,
        max_revisions: int = 3,
        max_source_chars: int = 12_000,
        library: ToolLibrary | None = None,
        task: str = "",
    ) -> None:
        self.sandbox = sandbox or SandboxConfig()
        self._create_tool = create_tool_def(self.sandbox)  # the sandbox is fixed for the run
        self.max_revisions = max_revisions
        self.max_source_chars = max_source_chars
        self.tools: dict[str, SynthesizedTool] = {}
        self.withdrawn: set[str] = set()
        self.library = library
        self.task = task
        self.run_id = uuid.uuid4().hex
        self._taken = taken
        for saved in library.offered() if library else []:
            checked = check_definition(saved.model_dump(), max_source_chars=max_source_chars)
            if isinstance(checked, SynthesizedTool):  # a library file that fails the checks is not offered
                checked.recorded = True
                self.tools[checked.definition.name] = checked

    async def list_tools(self) -> list[ToolDef]:
        return [self._create_tool, *(t.definition for t in self.tools.values())]

    async def call_tool(self, call: ToolCall) -> Observation:
        start = time.perf_counter()
        if call.name == CREATE_TOOL.name:
            content, is_error = await self._create(call.arguments)
            return Observation(call_id=call.id, content=content, is_error=is_error, duration_s=_since(start))
        tool = self.tools.get(call.name)
        if tool is None:
            return Observation(call_id=call.id, content=f"unknown tool {call.name!r}", is_error=True)
        outcome = await run_sandboxed(tool.source, tool.function, call.arguments, self.sandbox)
        problem = _failure(outcome, tool, self.sandbox.mounts)
        if problem is None:
            if self.library is not None and not tool.recorded:
                tool.recorded = True
                await anyio.to_thread.run_sync(self.library.add_candidate, self._candidate(tool))
            value = outcome.value
            content = value if isinstance(value, str) else json.dumps(value)
            structured = cast("dict[str, Any]", value) if isinstance(value, dict) else None
            return Observation(call_id=call.id, content=content, structured=structured, duration_s=_since(start))
        return Observation(
            call_id=call.id, content=self._after_failure(tool, problem), is_error=True, duration_s=_since(start)
        )

    async def _create(self, arguments: dict[str, Any]) -> tuple[str, bool]:
        checked = check_definition(arguments, max_source_chars=self.max_source_chars)
        if isinstance(checked, str):
            return f"create_tool refused: {checked}", True
        name = checked.definition.name
        if name in self.withdrawn:
            return f"create_tool refused: {name} was withdrawn after {self.max_revisions} revisions", True
        if self._taken is not None and name not in self.tools and name in {t.name for t in await self._taken()}:
            return f"create_tool refused: the name {name} is taken by another tool", True
        old = self.tools.get(name)
        if old is not None:
            if old.revisions >= self.max_revisions:
                self._withdraw(name)
                return f"create_tool refused: {name} reached {self.max_revisions} revisions and is withdrawn", True
            if old.sha256 == checked.sha256:  # a rewrite loop: the same source again still counts
                old.revisions += 1
                return f"create_tool refused: the source of {name} is unchanged; change it to fix the error", True
            checked.revisions = old.revisions + 1
        self.tools[name] = checked
        which = f"revised {name} (revision {checked.revisions} of {self.max_revisions})" if old else f"created {name}"
        return f"{which}, source sha256 {checked.sha256[:12]}; call it from the next step as {name}", False

    def _candidate(self, tool: SynthesizedTool) -> SavedTool:
        return SavedTool(
            name=tool.definition.name[len(PREFIX) :],
            description=tool.definition.description,
            input_schema=tool.definition.input_schema,
            output_schema=tool.output_schema,
            source=tool.source,
            function=tool.function,
            task=self.task,
            run_id=self.run_id,
        )

    def _after_failure(self, tool: SynthesizedTool, problem: str) -> str:
        name = tool.definition.name
        tool.failures += 1
        left = self.max_revisions - tool.revisions
        if left <= 0:
            self._withdraw(name)
            return f"{problem}\n{name} is withdrawn after {self.max_revisions} revisions: do this step another way."
        return f"{problem}\nFix it: call create_tool with name {name[len(PREFIX) :]!r} ({left} revisions left)."

    def _withdraw(self, name: str) -> None:
        self.tools.pop(name, None)
        self.withdrawn.add(name)


def require_sandbox(config: SandboxConfig | None) -> SandboxConfig:
    """The sandbox settings, once it is known the sandbox can start here.

    Raises:
        SandboxUnavailable: bubblewrap or ``ldd`` is missing (the message says how to install it).
        ConfigError: An allowlisted package is not installed, or (nexthop running as root) a mounted
            folder is not readable (writable, for a read-write mount) by other users.
    """
    bwrap_path()
    runtime_mounts()
    config = config or SandboxConfig()
    package_mounts(config.packages)
    for mount in config.mounts:
        _check_reachable(mount)
    return config


def _check_reachable(mount: SandboxMount) -> None:
    """A mounted folder the tool's own uid (nexthop as root) could not read is a setup error, said up front."""
    if os.getuid() != 0:
        return  # the tool runs as the user's own uid
    needed = stat.S_IROTH | stat.S_IXOTH | (stat.S_IWOTH if mount.writable else 0)
    mode = mount.path.stat().st_mode
    if mode & needed != needed:
        access = "read-write" if mount.writable else "read"
        flags = "o+rwx" if mount.writable else "o+rx"
        raise ConfigError(
            f"sandbox mount {mount.path} (mode {stat.S_IMODE(mode):o}) cannot be {access} by written tools, which "
            f"run as an unprivileged uid when nexthop runs as root: chmod {flags} {mount.path}, or mount another folder"
        )


def synthesis_toolsets(
    sandbox: SandboxConfig | None, taken: Callable[[], Awaitable[Sequence[ToolDef]]], *, task: str = ""
) -> list[Toolset]:
    """A fresh `SynthesisToolset` for one run when synthesis is on (``sandbox`` given), else none.

    It offers the saved tools of the user's `ToolLibrary` and records there the tools that work.
    """
    return [] if sandbox is None else [SynthesisToolset(sandbox, taken=taken, library=ToolLibrary(), task=task)]


def _failure(outcome: SandboxOutcome, tool: SynthesizedTool, mounts: Sequence[SandboxMount] = ()) -> str | None:
    """None when the call worked, else what the model should read: the error and the tool's traceback lines."""
    name = tool.definition.name
    if outcome.kind == "returned":
        if tool.output_schema is None:
            return None
        validator = jsonschema.validators.validator_for(tool.output_schema)(tool.output_schema)  # pyright: ignore[reportUnknownVariableType]
        error = cast(
            "jsonschema.exceptions.ValidationError | None",
            jsonschema.exceptions.best_match(validator.iter_errors(outcome.value)),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        )
        return None if error is None else f"{name} returned a result that fails its output schema: {error.message}"
    lines = [f"{name} failed: {outcome.error}"]
    lines += [f"  {line.rstrip()}" for line in outcome.traceback[:-1]]
    if outcome.stderr.strip() and outcome.kind == "crashed":
        lines.append("stderr: " + outcome.stderr.strip()[-500:])
    if outcome.error.startswith(("FileNotFoundError", "PermissionError", "OSError: [Errno 30]")):
        where = f"only {_folders(mounts)}" if mounts else "none of them"
        lines.append(
            f"Of the host's files the tool sees {where}: read others with another tool and pass the "
            "contents in, and write results with another tool."
        )
    return "\n".join(lines)


def _since(start: float) -> float:
    return time.perf_counter() - start
