"""Clients: connections to MCP servers, their configuration, and model providers.

Provider SDKs are imported only when a model of theirs is built, and llama-cpp-python
only for the local model.
"""

from nexthop.clients._config import (
    HostConfig,
    HTTPServerConfig,
    ServerConfig,
    SSEServerConfig,
    StdioServerConfig,
    parse_server_flag,
)
from nexthop.clients._config_file import load_config
from nexthop.clients._connection import TOOL_SEPARATOR, MCPConnection
from nexthop.clients._group import ServerGroup
from nexthop.clients._model import Model, ModelRequest, ModelResponse, ModelSettings
from nexthop.clients._scripted import ScriptedModel, call, finish, reply
from nexthop.clients._select import DEFAULT_MODEL, model_from_string

__all__ = [
    "DEFAULT_MODEL",
    "TOOL_SEPARATOR",
    "HTTPServerConfig",
    "HostConfig",
    "MCPConnection",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "SSEServerConfig",
    "ScriptedModel",
    "ServerConfig",
    "ServerGroup",
    "StdioServerConfig",
    "call",
    "finish",
    "load_config",
    "model_from_string",
    "parse_server_flag",
    "reply",
]
