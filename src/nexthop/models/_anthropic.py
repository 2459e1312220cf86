"""The Anthropic Messages API as a nexthop `Model`.

Message conversion lives in `nexthop.models._anthropic_mapping`; this module owns the
client, the request and the mapping of SDK errors to `ModelError` at the boundary.
"""

from __future__ import annotations

import os

import anthropic
from anthropic import AsyncAnthropic

from nexthop._exceptions import ConfigError, ModelError
from nexthop._sanitize import one_line
from nexthop.models._anthropic_mapping import message_to_response, tools_to_anthropic, trajectory_to_messages
from nexthop.models._model import Model, ModelRequest, ModelResponse

__all__ = ["AnthropicModel"]

API_KEY_ENV = "ANTHROPIC_API_KEY"


class AnthropicModel(Model):
    """A Claude model reached through the ``anthropic`` SDK's async client.

    Tools are offered as ``{name, description, input_schema}``; the trajectory is sent
    as alternating user and assistant messages with ``tool_use`` and ``tool_result``
    blocks paired by the calls' ids. ``ModelSettings.temperature`` is not sent: the
    Messages API of ``anthropic`` 2.x has no such parameter.

    Args:
        model: The model id, e.g. ``claude-sonnet-4-5``.
        api_key: The API key; defaults to the ``ANTHROPIC_API_KEY`` environment variable.
        base_url: Another endpoint for the API (a proxy or gateway); None for the default.
        client: A ready ``anthropic.AsyncAnthropic`` to use instead of building one; it is
            then the caller's to close, and ``api_key``, ``base_url`` and
            ``max_retries`` are ignored.
        max_retries: How many times the SDK retries a failed request (with backoff).

    Raises:
        ConfigError: No model id, or no API key and no ``client``.
    """

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: AsyncAnthropic | None = None,
        max_retries: int = 2,
    ) -> None:
        if not model.strip():
            raise ConfigError("empty Anthropic model name: use anthropic:<model>, e.g. anthropic:claude-sonnet-4-5")
        self.model = model
        self.name = f"anthropic:{model}"
        self._owns_client = client is None
        if client is None:
            key = api_key or os.environ.get(API_KEY_ENV)
            if not key:
                raise ConfigError(
                    f"no Anthropic API key: set {API_KEY_ENV} or pass --model local for the embedded model"
                )
            client = AsyncAnthropic(api_key=key, base_url=base_url, max_retries=max_retries)
        self._client = client

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Ask the model for the next action.

        Args:
            request: Instructions (sent as ``system``), trajectory, tools and settings
                (``max_output_tokens`` becomes ``max_tokens``; ``timeout_s`` bounds the
                request, in seconds).

        Returns:
            The next action: joined text blocks as the thought, ``tool_use`` blocks as
            tool calls, and the usage with ``requests=1``.

        Raises:
            ModelError: The API could not be reached, timed out, rejected the key or
                answered with an error status; the message says which in one line.
        """
        try:
            message = await self._client.messages.create(
                model=self.model,
                max_tokens=request.settings.max_output_tokens,
                messages=trajectory_to_messages(request.trajectory),
                system=request.instructions or anthropic.omit,
                tools=tools_to_anthropic(request.tools) if request.tools else anthropic.omit,
                timeout=request.settings.timeout_s,
            )
        except anthropic.AnthropicError as e:
            raise _to_model_error(e, timeout_s=request.settings.timeout_s) from e
        return message_to_response(message)

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was passed in by the caller."""
        if self._owns_client:
            await self._client.close()


def _to_model_error(e: anthropic.AnthropicError, *, timeout_s: float) -> ModelError:
    # Order matters: the timeout error is a connection error, and auth errors are status errors.
    if isinstance(e, anthropic.APITimeoutError):
        return ModelError(f"anthropic request timed out after {timeout_s:g}s; raise the timeout or retry")
    if isinstance(e, anthropic.APIConnectionError):
        return ModelError(f"could not reach the Anthropic API at {e.request.url}: {_one_line(e.__cause__ or e)}")
    if isinstance(e, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return ModelError(f"anthropic rejected the API key (HTTP {e.status_code}): {_detail(e)}; check {API_KEY_ENV}")
    if isinstance(e, anthropic.APIStatusError):
        return ModelError(f"anthropic returned HTTP {e.status_code}: {_detail(e)}")
    return ModelError(f"anthropic request failed: {type(e).__name__}: {_one_line(e)}")


def _detail(e: anthropic.APIStatusError) -> str:
    # api_message is the body's error.message; the SDK's own message embeds the whole body.
    return _one_line(e.api_message or e.message)


def _one_line(text: object, limit: int = 200) -> str:
    return one_line(str(text), limit)  # an error body is untrusted text too: cleaned as well as flattened
