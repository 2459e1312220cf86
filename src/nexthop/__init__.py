"""nexthop: an MCP-native agent host.

It connects to any number of MCP servers, takes their tools as its own, and reaches
a goal by generating each next action from the whole trajectory so far.
"""

import logging as _logging
from typing import TYPE_CHECKING, Any

from nexthop._config_file import HostConfig, load_config
from nexthop._exceptions import ConfigError, MissingExtraError, ModelError, NexthopError, ServerConnectionError
from nexthop.clients import HTTPServerConfig, ServerConfig, SSEServerConfig, StdioServerConfig
from nexthop.host import (
    DEFAULT_INSTRUCTIONS,
    DEFAULT_MAX_STEPS,
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
from nexthop.models import (
    DEFAULT_MODEL,
    Model,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ScriptedModel,
    model_from_string,
)
from nexthop.policies import (
    CallVerdict,
    Permissions,
    Policy,
    PolicyConfig,
    PolicyRecord,
    RunPolicy,
    RunView,
    ToolOffer,
    Verdict,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nexthop.models import AnthropicModel, LlamaCppModel, OpenAIModel


def __getattr__(name: str) -> Any:
    # The provider classes load their SDKs on first use (see nexthop.models).
    if name in {"AnthropicModel", "LlamaCppModel", "OpenAIModel"}:
        from nexthop import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# A library logs, the application decides where to: without this, Python's last-resort
# handler would print our warnings raw next to the CLI's own rendering of them.
_logging.getLogger("nexthop").addHandler(_logging.NullHandler())

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_MODEL",
    "ActionEvent",
    "AnthropicModel",
    "AgentHost",
    "ApprovalDecision",
    "ApprovalRequest",
    "Approver",
    "CallVerdict",
    "ConfigError",
    "FunctionTool",
    "FunctionToolset",
    "HTTPServerConfig",
    "HostConfig",
    "LlamaCppModel",
    "MissingExtraError",
    "Model",
    "ModelError",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "NexthopError",
    "Observation",
    "Observer",
    "OpenAIModel",
    "Permissions",
    "Policy",
    "PolicyConfig",
    "PolicyRecord",
    "RunEvent",
    "RunHandle",
    "RunPolicy",
    "RunResult",
    "RunStatus",
    "RunView",
    "SSEServerConfig",
    "ScriptedModel",
    "ServerConfig",
    "ServerConnectionError",
    "StdioServerConfig",
    "Step",
    "TerminationKind",
    "TerminationReason",
    "ToolCall",
    "ToolDef",
    "ToolOffer",
    "Toolset",
    "Trajectory",
    "Usage",
    "Verdict",
    "__version__",
    "load_config",
    "model_from_string",
    "tool",
]
