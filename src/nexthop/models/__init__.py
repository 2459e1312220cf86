"""Models: the provider-neutral interface and every provider.

Each provider answers one question, the next action given the instructions, the
trajectory and the tools (`Model.request`). Provider SDKs are imported only when a
model of theirs is built, and llama-cpp-python only for the local model.
"""

from typing import TYPE_CHECKING, Any

from nexthop.models._model import Model, ModelRequest, ModelResponse, ModelSettings
from nexthop.models._scripted import ScriptedModel, call, finish, reply
from nexthop.models._select import DEFAULT_MODEL, model_from_string

if TYPE_CHECKING:
    from nexthop.models._anthropic import AnthropicModel
    from nexthop.models._llama import LlamaCppModel
    from nexthop.models._openai import OpenAIModel

__all__ = [
    "DEFAULT_MODEL",
    "AnthropicModel",
    "LlamaCppModel",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "OpenAIModel",
    "ScriptedModel",
    "call",
    "finish",
    "model_from_string",
    "reply",
]

_LAZY = {
    "AnthropicModel": "nexthop.models._anthropic",
    "OpenAIModel": "nexthop.models._openai",
    "LlamaCppModel": "nexthop.models._llama",
}


def __getattr__(name: str) -> Any:
    # The provider classes import their SDKs at module level; loading them on first use
    # keeps `import nexthop` fast and free of SDKs a user does not need.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
