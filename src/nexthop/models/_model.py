"""The provider-neutral model interface.

One question, asked once per step: given the instructions, the whole trajectory and
the tools on offer, what is the next action, and what did it cost? (Shaped after
pydantic-ai's ``Model.request``.) Each provider lives in its own module beside this one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from nexthop._toolset import ToolDef
from nexthop._trajectory import ToolCall, Trajectory, Usage

__all__ = ["Model", "ModelRequest", "ModelResponse", "ModelSettings"]


class ModelSettings(BaseModel):
    """Per-request settings every provider understands.

    Attributes:
        max_output_tokens: Upper bound on the reply (tokens).
        temperature: Sampling temperature; None leaves the provider's default.
        seed: Sampling seed for this request; None leaves the model's own. Providers
            that take no seed ignore it.
        timeout_s: How long one request may take (seconds). Generous, because the embedded
            model on two cores needs tens of seconds for a first prompt with many tools.
    """

    model_config = ConfigDict(frozen=True)
    max_output_tokens: int = 1024
    temperature: float | None = None
    seed: int | None = None
    timeout_s: float = 600.0


class ModelRequest(BaseModel):
    """Everything a model needs to choose the next action.

    Attributes:
        instructions: The system prompt.
        trajectory: The whole run so far (task and steps); shared, never copied.
        tools: The tools the model may call this step, ``finish`` included.
        listed: The tools to list in the prompt when that is more than ``tools``:
            those withheld for one step stay listed, so a prompt that lists tools keeps
            its prefix (and the embedded model its KV cache); None lists ``tools``.
            A model that lists tools in its own prompt lists these and still lets the
            reply call only ``tools``.
        settings: Request settings.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    kind: Literal["model_request"] = "model_request"
    instructions: str
    trajectory: Trajectory
    tools: Sequence[ToolDef]
    listed: Sequence[ToolDef] | None = None
    settings: ModelSettings = ModelSettings()

    @property
    def prompt_tools(self) -> Sequence[ToolDef]:
        """The tools a prompt lists: ``listed``, else ``tools``."""
        return self.tools if self.listed is None else self.listed


class ModelResponse(BaseModel):
    """The model's next action and its cost.

    Attributes:
        thought: Reasoning or reply text. With no tool calls it is the final answer.
        tool_calls: The action(s); several are run concurrently.
        usage: Tokens this request cost.
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["model_response"] = "model_response"
    thought: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage(requests=1)


class Model(ABC):
    """Base of every model client. Subclasses implement `request`.

    Attributes:
        name: The model string that selects this model (e.g. ``openai:gpt-4o``).
    """

    name: str = "model"

    @abstractmethod
    async def request(self, request: ModelRequest) -> ModelResponse:
        """Choose the next action.

        Args:
            request: Instructions, trajectory, tools and settings.

        Returns:
            The next action with its usage.

        Raises:
            ModelError: The provider failed; the message says why in one line.
        """

    def tool_list_share(self, tools: Sequence[ToolDef]) -> float | None:
        """The share of this model's context window that listing ``tools`` in its prompt takes.

        Tool narrowing (`nexthop.policies.ToolNarrowing`) leaves a tool set whole while
        it fits well inside the window, and narrows it past a count only when the model
        cannot tell (this default).

        Args:
            tools: The tools that would be on offer, in order.

        Returns:
            Tokens of the listing divided by the context window's tokens (above 1 when
            it cannot fit), or None when the model does not know its window or how it
            lists tools (API models, where the provider renders the tools).
        """
        return None

    async def prepare(self) -> None:  # noqa: B027 - most models have nothing to get ready
        """Get ready for the first request (load weights), so that it waits less.

        `AgentHost` calls it while it connects its servers. It is best effort and never
        raises: an error it meets is raised again by the first `request`. The default does
        nothing.
        """

    async def aclose(self) -> None:  # noqa: B027 - most models hold nothing to close
        """Release what the model holds (HTTP pools, a loaded GGUF)."""
