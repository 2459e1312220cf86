"""nexthop: an MCP-native agent host.

It connects to any number of MCP servers, takes their tools as its own, and reaches
a goal by generating each next action from the whole trajectory so far.
"""

import logging as _logging

from nexthop._exceptions import ConfigError, MissingExtraError, ModelError, NexthopError, ServerConnectionError
from nexthop.clients import (
    DEFAULT_MODEL,
    HostConfig,
    HTTPServerConfig,
    MCPConnection,
    Model,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ScriptedModel,
    ServerConfig,
    ServerGroup,
    SSEServerConfig,
    StdioServerConfig,
    load_config,
    model_from_string,
)
from nexthop.host import (
    DEFAULT_INSTRUCTIONS,
    DEFAULT_MAX_STEPS,
    FINISH_TOOL,
    ActionEvent,
    AgentHost,
    FunctionTool,
    FunctionToolset,
    Observation,
    Observer,
    RunEvent,
    RunHandle,
    RunResult,
    RunStatus,
    Step,
    TerminationKind,
    TerminationReason,
    ToolCall,
    ToolDef,
    Toolset,
    Trajectory,
    Usage,
    tool,
)
from nexthop.host._approval import ApprovalDecision, ApprovalRequest, Approver
from nexthop.policies import Permissions, PolicyConfig

__version__ = "0.1.0"

# A library logs, the application decides where to: without this, Python's last-resort
# handler would print our warnings raw next to the CLI's own rendering of them.
_logging.getLogger("nexthop").addHandler(_logging.NullHandler())

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_MODEL",
    "FINISH_TOOL",
    "ActionEvent",
    "AgentHost",
    "ApprovalDecision",
    "ApprovalRequest",
    "Approver",
    "ConfigError",
    "FunctionTool",
    "FunctionToolset",
    "HTTPServerConfig",
    "HostConfig",
    "MCPConnection",
    "MissingExtraError",
    "Model",
    "ModelError",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "NexthopError",
    "Observation",
    "Observer",
    "Permissions",
    "PolicyConfig",
    "RunEvent",
    "RunHandle",
    "RunResult",
    "RunStatus",
    "SSEServerConfig",
    "ScriptedModel",
    "ServerConfig",
    "ServerConnectionError",
    "ServerGroup",
    "StdioServerConfig",
    "Step",
    "TerminationKind",
    "TerminationReason",
    "ToolCall",
    "ToolDef",
    "Toolset",
    "Trajectory",
    "Usage",
    "__version__",
    "load_config",
    "model_from_string",
    "tool",
]
