"""OpenAI Chat Completions (and OpenAI-compatible servers) as a nexthop `Model`.

Message conversion lives in `nexthop.models._openai_mapping`; this module owns the
client, the request and the mapping of SDK errors to `ModelError` at the boundary.
"""

from __future__ import annotations

import os
from typing import Any, Literal, cast

import openai
from openai import AsyncOpenAI

from nexthop._exceptions import ConfigError, ModelError
from nexthop._sanitize import one_line
from nexthop.models._llama_gbnf import stock_converter_takes
from nexthop.models._llama_recheck import Recheck
from nexthop.models._model import Model, ModelRequest, ModelResponse
from nexthop.models._openai_actions import ActionFormat, JsonActions, reply_format
from nexthop.models._openai_mapping import (
    ToolResults,
    completion_to_response,
    tools_to_openai,
    trajectory_to_messages,
)

__all__ = ["ActionFormat", "OpenAIModel", "ToolChoice"]

ToolChoice = Literal["auto", "required", "none"]
"""The ``tool_choice`` values nexthop sends; ``auto`` lets the model call tools or reply."""

API_KEY_ENV = "OPENAI_API_KEY"
_NO_KEY = "not-needed"  # the SDK insists on some key, local servers ignore it


class OpenAIModel(Model):
    """A model behind the Chat Completions API, at OpenAI or any compatible server.

    Tools are offered as ``{"type": "function", "function": {...}}``; each step of the
    trajectory is sent as an assistant message with ``tool_calls`` followed by one
    ``tool`` message per call. Tool-call arguments that are not a JSON object are not
    an error: the call is kept with ``invalid_arguments`` set to the raw text, so that
    the host reports the error to the model (see `parse_arguments`).

    Args:
        model: The model id, e.g. ``gpt-4o`` (or ``llama3.2`` on Ollama).
        api_key: The API key; defaults to the ``OPENAI_API_KEY`` environment variable.
            With ``base_url`` set and no key anywhere, ``"not-needed"`` is sent.
        base_url: An OpenAI-compatible endpoint, e.g. ``http://localhost:11434/v1``
            for Ollama; None for OpenAI itself.
        client: A ready ``openai.AsyncOpenAI`` to use instead of building one; it is
            then the caller's to close, and ``api_key``, ``base_url`` and
            ``max_retries`` are ignored.
        max_retries: How many times the SDK retries a failed request (with backoff).
        tool_choice: Sent with every request that offers tools. It defaults to ``auto``
            rather than being left out, because some compatible servers read a missing
            ``tool_choice`` as ``none`` and hide the tools from the model
            (llama-cpp-python's ``chatml-function-calling``: issue 13).
        tool_results: How tool results travel back (see
            `nexthop.models._openai_mapping.trajectory_to_messages`): ``tool`` messages,
            or one ``user`` message per step for servers whose chat template drops
            ``tool`` messages (llama-cpp-python's ``chatml-function-calling``; see
            docs/models.md).
        temperature: Sampling temperature for runs whose settings give none; None
            leaves it to the server (llama-cpp-python's server defaults to 0.8).
        actions: ``tools`` asks for OpenAI tool calls. ``json_object`` and
            ``json_schema`` send no tools: the server is asked for one JSON reply under
            a schema (``response_format`` of that type), in the embedded model's
            protocol, for servers that hold a schema better than they handle tool
            calls (llama-cpp-python's ``chatml-function-calling``; see
            `nexthop.models._openai_actions`). ``tool_choice`` and ``tool_results``
            then do not apply.
        repeat_penalty: Sent as llama.cpp's ``repeat_penalty`` request field (read by
            llama-cpp-python's server and llama.cpp's ``llama-server``; not an OpenAI
            field) when set. llama-cpp-python's server applies 1.1 to requests that give
            none, which penalizes every token of the last 64 in the context, and so the
            values a call must copy from the observation just shown (docs/models.md);
            1.0 turns it off, as the embedded model runs.
        recheck: With JSON actions, ask once more when a writing tool's pick shares no
            word with the thought before it (`nexthop.models._llama_recheck`).

    Attributes:
        rechecks: With JSON actions, each second ask made (else empty).

    Raises:
        ConfigError: No model id, or no API key for OpenAI itself (no ``base_url``,
            no ``client``).
    """

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: AsyncOpenAI | None = None,
        max_retries: int = 2,
        tool_choice: ToolChoice = "auto",
        tool_results: ToolResults = "tool",
        temperature: float | None = None,
        actions: ActionFormat = "tools",
        repeat_penalty: float | None = None,
        recheck: bool = True,
    ) -> None:
        if not model.strip():
            raise ConfigError("empty OpenAI model name: use openai:<model>[@<base_url>], e.g. openai:gpt-4o")
        self.model = model
        self.base_url = base_url
        self.tool_choice: ToolChoice = tool_choice
        self.tool_results: ToolResults = tool_results
        self.temperature = temperature
        self.name = f"openai:{model}@{base_url}" if base_url else f"openai:{model}"
        self._owns_client = client is None
        if client is None:
            key = api_key or os.environ.get(API_KEY_ENV)
            if not key:
                if base_url is None:
                    raise ConfigError(
                        f"no OpenAI API key: set {API_KEY_ENV}, give a server as openai:<model>@<base_url>, "
                        "or pass --model local for the embedded model"
                    )
                key = _NO_KEY
            client = AsyncOpenAI(api_key=key, base_url=base_url, max_retries=max_retries)
        self._client = client
        self.actions: ActionFormat = actions
        self.repeat_penalty = repeat_penalty
        self._json = JsonActions(f"model {self.name}", recheck=recheck) if actions != "tools" else None
        self.rechecks: list[Recheck] = self._json.recheck.rechecks if self._json is not None else []

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Ask the model for the next action.

        Args:
            request: Instructions (the system message), trajectory, tools and settings
                (``max_output_tokens`` caps the reply, ``temperature`` is sent when
                set here or on the model, ``timeout_s`` bounds the request, in seconds).
                With tools, ``tool_choice`` is sent too.

        Returns:
            The next action: ``message.content`` as the thought, function tool calls
            as tool calls, and the usage with ``requests=1``. With JSON actions, the
            reply's fields instead, and the usage of both asks when a second was made.

        Raises:
            ModelError: The server could not be reached, timed out, rejected the key,
                answered with an error status or with no choices, or (JSON actions) its
                reply was not one under the schema; one line says which.
        """
        if self._json is not None:
            return await self._json_request(request)
        response = await self._create(
            request,
            messages=trajectory_to_messages(request.instructions, request.trajectory, self.tool_results),
            tools=tools_to_openai(request.tools) if request.tools else openai.omit,
            tool_choice=self.tool_choice if request.tools else openai.omit,
        )
        return response

    async def _json_request(self, request: ModelRequest) -> ModelResponse:
        protocol = self._json
        assert protocol is not None and self.actions != "tools"
        messages = protocol.messages(request)
        schema = protocol.schema(request.tools)
        reply = await self._create(request, messages=messages, response_format=reply_format(self.actions, schema))
        first = protocol.parse(reply.thought, request.tools, reply.usage)
        again = protocol.recheck.misfit(first, request.tools)
        if again is None:
            return first
        # A thought with a quote or a backslash goes free in the second ask: llama-cpp-python's
        # server converts the schema with the converter whose unescaped literals crash llama.cpp
        # (see nexthop.models._llama_gbnf), and nexthop cannot fix a server's converter.
        fixed = first.thought if stock_converter_takes(first.thought) else None
        schema = protocol.schema(again, thought=fixed)
        reply = await self._create(request, messages=messages, response_format=reply_format(self.actions, schema))
        return protocol.recheck.record(first, again, protocol.parse(reply.thought, again, reply.usage))

    async def _create(
        self,
        request: ModelRequest,
        *,
        messages: Any,
        tools: Any = openai.omit,
        tool_choice: Any = openai.omit,
        response_format: Any = openai.omit,
    ) -> ModelResponse:
        settings = request.settings
        # OpenAI's newer models accept only max_completion_tokens, while compatible
        # servers (Ollama, older llama.cpp) understand only the older max_tokens.
        cap = settings.max_output_tokens
        temperature = settings.temperature if settings.temperature is not None else self.temperature
        try:
            completion = await self._client.chat.completions.create(
                model=self.model,
                max_tokens=cap if self.base_url else openai.omit,
                max_completion_tokens=openai.omit if self.base_url else cap,
                temperature=openai.omit if temperature is None else temperature,
                seed=openai.omit if settings.seed is None else settings.seed,
                timeout=settings.timeout_s,
                messages=messages,
                tools=tools,
                tool_choice=tool_choice,
                response_format=response_format,
                extra_body={"repeat_penalty": self.repeat_penalty} if self.repeat_penalty is not None else None,
            )
        except openai.OpenAIError as e:
            raise _to_model_error(e, where=self._where(), timeout_s=settings.timeout_s) from e
        response = completion_to_response(completion)
        if response is None:
            raise ModelError(f"{self._where()} returned no choices for model {self.model!r}")
        return response

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was passed in by the caller."""
        if self._owns_client:
            await self._client.close()

    def _where(self) -> str:
        return f"the server at {self.base_url}" if self.base_url else "openai"


def _to_model_error(e: openai.OpenAIError, *, where: str, timeout_s: float) -> ModelError:
    # Order matters: the timeout error is a connection error, and auth errors are status errors.
    if isinstance(e, openai.APITimeoutError):
        return ModelError(f"request to {where} timed out after {timeout_s:g}s; raise the timeout or retry")
    if isinstance(e, openai.APIConnectionError):
        return ModelError(f"could not reach {where} ({e.request.url}): {_one_line(e.__cause__ or e)}")
    if isinstance(e, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelError(f"{where} rejected the API key (HTTP {e.status_code}): {_detail(e)}; check {API_KEY_ENV}")
    if isinstance(e, openai.APIStatusError):
        return ModelError(f"{where} returned HTTP {e.status_code}: {_detail(e)}")
    return ModelError(f"request to {where} failed: {type(e).__name__}: {_one_line(e)}")


def _detail(e: openai.APIStatusError) -> str:
    # The SDK hands over the body's "error" object; its message beats the SDK's, which embeds the whole body.
    body: object = e.body
    message = cast(dict[str, Any], body).get("message") if isinstance(body, dict) else None
    if isinstance(message, str):
        return _one_line(message)
    return _one_line(e.message)


def _one_line(text: object, limit: int = 200) -> str:
    return one_line(str(text), limit)  # an error body is untrusted text too: cleaned as well as flattened
