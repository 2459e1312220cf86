"""A llama-cpp-python chat handler that does OpenAI tool calls through the GGUF's own chat template.

llama-cpp-python's server needs a chat handler to turn OpenAI ``tools`` into a prompt and
the model's text back into ``tool_calls``. Its stock ``chatml-function-calling`` handler
shows the model each tool's name and schema but not its description, renders ``tool``
messages as an empty header, and answers a ``message:`` choice with an empty reply under
a grammar that allows only function names (docs/models.md, issue 13). The GGUF's own
template (the server's default) renders tools and ``tool`` messages as the model was
trained to read them, but returns calls as ``<tool_call>`` text that no OpenAI client
reads as calls.

This handler keeps the template and adds the two missing halves, for any GGUF whose
template uses the Hermes convention (Qwen2.5, Qwen3, Hermes 2/3: a call is
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``):

* the reply is generated under a grammar built from the tools' JSON schemas, so a call
  names an offered tool and its arguments are well-formed (the idea of the stock
  handler's per-function grammar, and of nexthop's embedded model);
* the ``<tool_call>`` blocks are parsed into OpenAI ``tool_calls``; the text around them
  is the message's ``content``.

The Hermes format of both halves lives in `_llama_tool_calls`; this module renders the
GGUF's template and answers llama-cpp-python's handler interface.

Register it with `register` (``python -m nexthop.models.llama_server`` does) and start
the server with ``--chat_format gguf-tool-calls``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, cast

from nexthop.models._llama_tool_calls import parse_reply, tool_call_grammar

__all__ = [
    "CHAT_FORMAT",
    "TemplateError",
    "completion_to_chat",
    "handle_chat_completion",
    "register",
    "template_messages",
]

CHAT_FORMAT = "gguf-tool-calls"
"""The name the handler is registered under, for the server's ``--chat_format``."""

# Sampling arguments of Llama.create_chat_completion that create_completion takes as they are.
_PASSED = (
    "temperature", "top_p", "top_k", "min_p", "typical_p", "seed", "max_tokens", "presence_penalty",
    "frequency_penalty", "repeat_penalty", "tfs_z", "mirostat_mode", "mirostat_tau", "mirostat_eta",
    "model", "logits_processor", "logit_bias",
)  # fmt: skip


class TemplateError(ValueError):
    """The GGUF has no chat template, or one that does not show the tools to the model."""


def template_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Shape OpenAI request messages the way Hugging Face chat templates expect them.

    Templates come from ``transformers``, where a call's ``arguments`` is a dict that the
    template writes with ``tojson``; the OpenAI wire format sends a JSON string, which
    would be written as a quoted string inside the call. ``content`` that is null (a
    tool-call turn) becomes ``""`` and a list of content parts becomes its text, since
    templates concatenate it.

    Args:
        messages: The request's messages (OpenAI Chat Completions shape).

    Returns:
        New message dicts; the input is not changed.
    """
    shaped: list[dict[str, Any]] = []
    for message in messages:
        out = dict(message)
        out["content"] = _text(message.get("content"))
        calls = message.get("tool_calls")
        if calls:
            out["tool_calls"] = [_template_call(c) for c in cast(list[Mapping[str, Any]], calls)]
        shaped.append(out)
    return shaped


def _text(content: object) -> str:
    if content is None:
        return ""
    if isinstance(content, list):  # content parts: only text ones can reach a text model
        parts = [cast(dict[str, Any], p) for p in cast(list[Any], content) if isinstance(p, dict)]
        return "".join(str(p.get("text", "")) for p in parts)
    return str(content)


def _template_call(call: Mapping[str, Any]) -> dict[str, Any]:
    function = dict(cast(Mapping[str, Any], call.get("function") or {}))
    raw = function.get("arguments")
    if isinstance(raw, str):
        try:
            function["arguments"] = json.loads(raw) if raw.strip() else {}
        except ValueError:
            pass  # kept as the model wrote it: the template shows it as a string
    return {**call, "function": function}


@lru_cache(maxsize=8)
def _formatter(template: str, eos: str, bos: str) -> Any:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter: Any = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    probe = [{"role": "user", "content": "x"}]
    tool = {"type": "function", "function": {"name": "probe_tool_name", "parameters": {"type": "object"}}}
    if "probe_tool_name" not in formatter(messages=probe, tools=[tool]).prompt:
        raise TemplateError("the GGUF's chat template does not show tools to the model; use chatml-function-calling")
    return formatter


def _render(llama: Any, messages: list[dict[str, Any]], tools: list[Any] | None) -> str:
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise TemplateError("the GGUF has no chat template (tokenizer.chat_template)")
    eos, bos = llama.token_eos(), llama.token_bos()
    text = llama._model.token_get_text  # the same tokens llama-cpp-python gives its own template handler
    formatter = _formatter(template, text(eos) if eos != -1 else "", text(bos) if bos != -1 else "")
    return formatter(messages=messages, tools=tools or None).prompt


def handle_chat_completion(
    *,
    llama: Any,
    messages: Sequence[Mapping[str, Any]],
    functions: Sequence[Mapping[str, Any]] | None = None,
    function_call: object = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: object = None,
    stream: bool = False,
    stop: str | Sequence[str] | None = None,
    response_format: Mapping[str, Any] | None = None,
    grammar: Any = None,
    parallel_tool_calls: bool = True,
    thought_first: bool = False,
    **params: Any,
) -> dict[str, Any] | Iterator[dict[str, Any]]:
    """Answer one chat completion request (a llama-cpp-python ``LlamaChatCompletionHandler``).

    The prompt is the GGUF's own chat template rendered with the tools (descriptions
    included) and with ``tool`` messages; the reply is generated under
    `tool_call_grammar` and its ``<tool_call>`` blocks come back as ``tool_calls``. A
    missing ``tool_choice`` with tools is ``auto``, as at OpenAI (the stock handler reads
    it as ``none``). ``stream`` is answered with the whole reply in one chunk.

    Args:
        llama: The ``llama_cpp.Llama`` the server loaded.
        messages: The request's messages.
        functions: Legacy ``functions``, read as tools when no tools are given.
        function_call: Legacy ``function_call``, read as ``tool_choice`` when none is given.
        tools: The tools on offer.
        tool_choice: See `tool_call_grammar`.
        stream: Return an iterator of chunks instead of one completion.
        stop: Extra stop strings.
        response_format: ``{"type": "json_object", "schema": ...}`` constrains a reply
            made without tools.
        grammar: A caller's grammar, used when neither tools nor a response format apply.
        parallel_tool_calls: Allow more than one call in a reply. llama-cpp-python's
            server drops this request field; set it for the server with
            ``--chat_template_kwargs '{"parallel_tool_calls": false}'``.
        thought_first: Require a line of text before the calls (see
            `tool_call_grammar`); set it the same way.
        **params: Sampling settings (``temperature``, ``max_tokens`` ...), passed on to
            ``Llama.create_completion``.

    Returns:
        An OpenAI ``chat.completion`` dict, or an iterator of ``chat.completion.chunk``.

    Raises:
        TemplateError: The GGUF's template is missing or does not render tools.
        ValueError: ``tool_choice`` is not valid for these tools.
    """
    from llama_cpp import LlamaGrammar

    if functions and not tools:
        tools = [{"type": "function", "function": f} for f in functions]
    if tool_choice is None and function_call is not None:
        named = isinstance(function_call, Mapping)
        tool_choice = {"type": "function", "function": cast(object, function_call)} if named else function_call
    offered = list(tools or [])
    rules = tool_call_grammar(offered, tool_choice, parallel_tool_calls, thought_first)
    prompt = _render(llama, template_messages(messages), offered if rules is not None else None)
    if rules is not None:
        grammar = LlamaGrammar.from_string(rules, verbose=llama.verbose)
    elif response_format is not None and response_format.get("type") == "json_object":
        schema = response_format.get("schema") or {"type": "object"}
        grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=llama.verbose)
    completion = llama.create_completion(
        prompt=llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True),
        stop=[stop] if isinstance(stop, str) else list(stop or []),
        grammar=grammar,
        stream=False,
        **{k: params[k] for k in _PASSED if k in params},
    )
    response = completion_to_chat(completion)
    return _as_chunks(response) if stream else response


def completion_to_chat(completion: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a text completion of the model into an OpenAI ``chat.completion``.

    Args:
        completion: ``Llama.create_completion``'s result.

    Returns:
        The chat completion: ``content`` is the text outside the calls (None when there
        are calls and no text), ``tool_calls`` the parsed calls, and ``finish_reason``
        ``tool_calls`` when there are any.
    """
    choice = completion["choices"][0]
    content, calls = parse_reply(choice["text"])
    message: dict[str, Any] = {"role": "assistant", "content": (content or None) if calls else content}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": f"chat{completion['id']}",
        "object": "chat.completion",
        "created": completion.get("created", int(time.time())),
        "model": completion["model"],
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if calls else choice.get("finish_reason"),
            }
        ],
        "usage": completion.get("usage"),
    }


def _as_chunks(response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    head = {"id": response["id"], "object": "chat.completion.chunk", "created": response["created"]}
    head["model"] = response["model"]
    choice = response["choices"][0]
    message = choice["message"]
    delta: dict[str, Any] = {"role": "assistant", "content": message["content"]}
    if "tool_calls" in message:
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
    yield {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]}
    done: dict[str, Any] = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": choice["finish_reason"]}
    yield {**head, "choices": [done]}


def register() -> None:
    """Register the handler with llama-cpp-python as ``gguf-tool-calls`` (again is harmless).

    Raises:
        ImportError: llama-cpp-python is not installed.
    """
    from llama_cpp.llama_chat_format import LlamaChatCompletionHandlerRegistry

    registry: Any = LlamaChatCompletionHandlerRegistry()
    registry.register_chat_completion_handler(CHAT_FORMAT, handle_chat_completion, overwrite=True)
