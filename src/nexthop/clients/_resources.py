"""Upstream resources and prompts: what a server declares, and built-in tools that let the model read them.

A server that declares the ``resources`` capability gets two built-in, namespaced
tools beside its own: ``<server>__list_resources`` (resources and templates) and
``<server>__read_resource`` (one URI). The SDK's types are converted to ours here
(`ServerCatalog`, `ResourceInfo`, ...); every string a server sent is cleaned before
it can reach the model or the terminal. A task may also attach a resource
(``@server:uri``, see `resource_mentions`), and a server's prompt may be the task
(``nexthop run --prompt server/name key=value``).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Literal

import mcp
import mcp_types
from pydantic import BaseModel, ConfigDict

from nexthop._sanitize import clean_text, one_line
from nexthop._toolset import ToolDef

__all__ = [
    "LIST_RESOURCES",
    "READ_RESOURCE",
    "PromptArgumentInfo",
    "PromptInfo",
    "ResourceInfo",
    "ServerCatalog",
    "TemplateInfo",
    "builtin_tools",
    "capabilities_of",
    "fetch_catalog",
    "prompt_text",
    "resource_mentions",
    "resource_text",
]

LIST_RESOURCES = "list_resources"
READ_RESOURCE = "read_resource"
RESOURCE_TEXT_LIMIT = 64_000
"""Characters of a resource's text kept (the observation is cut further by the host)."""
_PAGES = 20
"""The most pages of one listing fetched (a server that paginates forever stops here)."""
_FROZEN = ConfigDict(frozen=True, extra="forbid")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_-]+):(\S+)")
"""``@server:uri`` in a task; the URI runs to the next whitespace."""


class ResourceInfo(BaseModel):
    """A resource a server lists (``resources/list``)."""

    model_config = _FROZEN
    kind: Literal["resource"] = "resource"
    uri: str
    name: str
    description: str = ""
    mime_type: str = ""


class TemplateInfo(BaseModel):
    """A resource template (RFC 6570 URI template) a server lists."""

    model_config = _FROZEN
    kind: Literal["resource_template"] = "resource_template"
    uri_template: str
    name: str
    description: str = ""
    mime_type: str = ""


class PromptArgumentInfo(BaseModel):
    """One argument of a prompt."""

    model_config = _FROZEN
    kind: Literal["prompt_argument"] = "prompt_argument"
    name: str
    description: str = ""
    required: bool = False


class PromptInfo(BaseModel):
    """A prompt a server lists (``prompts/list``)."""

    model_config = _FROZEN
    kind: Literal["prompt"] = "prompt"
    name: str
    description: str = ""
    arguments: tuple[PromptArgumentInfo, ...] = ()


class ServerCatalog(BaseModel):
    """What a server declared and offers besides tools (for ``nexthop tools``).

    Attributes:
        capabilities: The declared capabilities' names (``tools``, ``resources``, ``prompts``,
            ``logging``, ``completions``, with ``resources.subscribe`` / ``*.listChanged`` flags).
        resources: Its resources; templates; prompts (empty when not declared).
        error: Why a listing failed, if one did (the rest is still shown).
    """

    model_config = _FROZEN
    kind: Literal["server_catalog"] = "server_catalog"
    capabilities: tuple[str, ...] = ()
    resources: tuple[ResourceInfo, ...] = ()
    templates: tuple[TemplateInfo, ...] = ()
    prompts: tuple[PromptInfo, ...] = ()
    error: str | None = None


def capabilities_of(caps: mcp_types.ServerCapabilities) -> tuple[str, ...]:
    """The declared capabilities as short names, e.g. ``("tools", "tools.listChanged", "resources")``."""
    out: list[str] = []
    for name in ("tools", "resources", "prompts", "logging", "completions"):
        cap = getattr(caps, name, None)
        if cap is None:
            continue
        out.append(name)
        if getattr(cap, "list_changed", None):
            out.append(f"{name}.listChanged")
        if getattr(cap, "subscribe", None):
            out.append(f"{name}.subscribe")
    return tuple(out)


async def fetch_catalog(client: mcp.Client, capabilities: tuple[str, ...]) -> ServerCatalog:
    """List a server's resources, templates and prompts (only those it declares), every page."""
    resources: list[ResourceInfo] = []
    templates: list[TemplateInfo] = []
    prompts: list[PromptInfo] = []
    if "resources" in capabilities:
        resources = [_resource(r) for page in await _pages(client.list_resources) for r in page.resources]
        templates = [
            _template(t)
            for page in await _optional_pages(client.list_resource_templates)
            for t in page.resource_templates
        ]
    if "prompts" in capabilities:
        prompts = [_prompt(p) for page in await _pages(client.list_prompts) for p in page.prompts]
    return ServerCatalog(
        capabilities=capabilities, resources=tuple(resources), templates=tuple(templates), prompts=tuple(prompts)
    )


async def _optional_pages(fetch: Any) -> list[Any]:
    """Like `_pages`, but no pages when the server lacks the method.

    Servers built on older SDKs list resources yet answer ``resources/templates/list``
    with "Method not found" (the SQLite reference server, mcp-server-sqlite 2025.4.25):
    they have no templates, and their resources must still be listed.
    """
    try:
        return await _pages(fetch)
    except mcp.MCPError as e:
        if e.error.code != mcp_types.METHOD_NOT_FOUND:
            raise
        return []


async def _pages(fetch: Any) -> list[Any]:
    pages: list[Any] = []
    cursor: str | None = None
    for _ in range(_PAGES):
        page = await fetch(cursor=cursor)
        pages.append(page)
        cursor = page.next_cursor
        if not cursor:
            break
    return pages


def _resource(r: mcp_types.Resource) -> ResourceInfo:
    return ResourceInfo(
        uri=one_line(str(r.uri), 2000),
        name=one_line(r.title or r.name, 200),
        description=clean_text(r.description or "", 1000),
        mime_type=one_line(r.mime_type or "", 100),
    )


def _template(t: mcp_types.ResourceTemplate) -> TemplateInfo:
    return TemplateInfo(
        uri_template=one_line(t.uri_template, 2000),
        name=one_line(t.title or t.name, 200),
        description=clean_text(t.description or "", 1000),
        mime_type=one_line(t.mime_type or "", 100),
    )


def _prompt(p: mcp_types.Prompt) -> PromptInfo:
    arguments = tuple(
        PromptArgumentInfo(
            name=one_line(a.name, 200), description=clean_text(a.description or "", 500), required=bool(a.required)
        )
        for a in p.arguments or ()
    )
    return PromptInfo(
        name=one_line(p.name, 200), description=clean_text(p.description or "", 1000), arguments=arguments
    )


def resource_text(result: mcp_types.ReadResourceResult, uri: str) -> str:
    """A read resource as text: text contents joined; binary contents noted with their size."""
    parts: list[str] = []
    for c in result.contents:
        if isinstance(c, mcp_types.TextResourceContents):
            parts.append(c.text)
        else:
            size = len(base64.b64decode(c.blob, validate=False)) if c.blob else 0
            parts.append(f"[binary {c.mime_type or 'data'}, {size} bytes, at {c.uri}]")
    if not parts:
        return f"(resource {uri} is empty)"
    return clean_text("\n".join(parts), RESOURCE_TEXT_LIMIT)


def prompt_text(result: mcp_types.GetPromptResult) -> str:
    """A prompt's messages as one task text (``role: text`` per message after the first user one)."""
    lines: list[str] = []
    for m in result.messages:
        content = m.content
        if isinstance(content, mcp_types.TextContent):
            text = content.text
        elif isinstance(content, mcp_types.EmbeddedResource) and isinstance(
            content.resource, mcp_types.TextResourceContents
        ):
            text = f"Resource {content.resource.uri}:\n{content.resource.text}"
        else:
            text = f"[{content.type}]"
        lines.append(text if m.role == "user" else f"{m.role}: {text}")
    return clean_text("\n\n".join(lines), RESOURCE_TEXT_LIMIT)


def builtin_tools(server: str, separator: str) -> list[ToolDef]:
    """The built-in resource tools of a server that declares ``resources``."""
    return [
        ToolDef(
            name=f"{server}{separator}{LIST_RESOURCES}",
            description=f"List the resources and resource templates of MCP server {server!r} (uri, name, "
            "description). Read one with the read_resource tool of the same server.",
            input_schema={"type": "object", "properties": {}},
            annotations={"readOnlyHint": True},
            server=server,
            remote_name=LIST_RESOURCES,
        ),
        ToolDef(
            name=f"{server}{separator}{READ_RESOURCE}",
            description=f"Read one resource of MCP server {server!r} by its URI (from list_resources, or a "
            "template with its variables filled in).",
            input_schema={
                "type": "object",
                "properties": {"uri": {"type": "string", "description": "The resource's URI."}},
                "required": ["uri"],
            },
            annotations={"readOnlyHint": True},
            server=server,
            remote_name=READ_RESOURCE,
        ),
    ]


def catalog_listing(catalog: ServerCatalog) -> str:
    """The text ``list_resources`` returns to the model: JSON of resources and templates."""
    return json.dumps(
        {
            "resources": [r.model_dump(exclude={"kind"}) for r in catalog.resources],
            "templates": [t.model_dump(exclude={"kind"}) for t in catalog.templates],
        },
        ensure_ascii=False,
    )


def resource_mentions(task: str) -> list[tuple[str, str]]:
    """The ``@server:uri`` mentions in a task, in order, without repeats: ``(server, uri)``."""
    seen: list[tuple[str, str]] = []
    for m in _MENTION.finditer(task):
        pair = (m[1], m[2].rstrip(".,;)"))
        if pair not in seen:
            seen.append(pair)
    return seen
