"""The plain ReAct baseline: OpenAI-style tools, stop when the reply has no tool call.

This is the basic ReAct agent of the seed guide (Yao et al. 2022, arXiv 2210.03629): a
message list that starts with a system prompt and the task; each turn the model sees
every tool in OpenAI's ``{"type": "function", "function": {...}}`` form and either calls
tools or answers; tool results go back as ``tool`` messages; the first reply without a
tool call ends the run. There is no ``finish`` tool, no grammar, no policy, no loop
detection and no retry: that is what nexthop is measured against.

Which model, and why this way. It runs the same GGUF as nexthop's `LlamaCppModel` (the
embedded Qwen2.5-Coder-1.5B-Instruct, found by the same `ensure_embedded_model`), with the
same context (8,192 tokens), threads, seed, temperature 0 and output cap (1,024 tokens),
on the same MCP servers through nexthop's `ServerGroup`. The prompt is rendered with the
GGUF's own chat template and its native tool format (``<tools>`` in the system turn,
``<tool_call>{...}</tool_call>`` in replies, ``<tool_response>`` for results), which is
what an OpenAI-compatible server (vLLM's or Ollama's tool parser) gives this model.
The two alternatives are less fair:

* ``LlamaCppModel`` itself decodes under nexthop's grammar, which forces one tool call
  per reply; a run could then never end "when there is no tool call", and the baseline
  would be nexthop's own prompt and decoder minus its loop, not a plain ReAct agent.
* llama-cpp-python's ``chatml-function-calling`` handler renders no ``tool`` messages
  at all (its template has no branch for that role), so the model would never see a
  tool's result, which would cripple the baseline for reasons that are not ReAct's.

Usage counts like `LlamaCppModel`'s: prompt tokens evaluated now, prompt tokens reused
from llama.cpp's KV cache (the message list is append-only, so each turn reuses the
previous prefix), and generated tokens.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

import anyio.to_thread

from nexthop import Observation, ToolCall, ToolDef, Toolset, Usage

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["SYSTEM_PROMPT", "ReActAgent", "ReActResult", "ReActStep", "load_embedded_llama", "parse_tool_calls"]

SYSTEM_PROMPT = (
    "You are a helpful assistant. Use the tools to complete the user's task. "
    "When the task is done, reply with a short summary and no tool call."
)
"""The baseline's whole instruction; deliberately plain, as in the seed guide's basic agent."""

_OPEN = "<tool_call>"


@dataclass(frozen=True)
class ReActStep:
    """One model turn: the reply text, the calls it made, their results and what it cost.

    Attributes:
        text: The generated reply, verbatim.
        tool_calls: Calls parsed from the reply (none ends the run).
        observations: One per call, in order.
        usage: Tokens of this turn.
        duration_s: Wall time of the turn, model plus tools (seconds).
    """

    text: str
    tool_calls: tuple[ToolCall, ...]
    observations: tuple[Observation, ...]
    usage: Usage
    duration_s: float


@dataclass
class ReActResult:
    """How a baseline run ended.

    Attributes:
        stop: ``answered`` (a reply without a tool call), ``max_steps``, ``timeout`` or ``error``
            (the prompt outgrew the context, or the model failed).
        answer: The last reply's text.
        steps: Every turn.
        usage: Tokens over the run.
        wall_time_s: Wall time of the run (seconds).
        error: What failed, for ``error``.
    """

    stop: Literal["answered", "max_steps", "timeout", "error"] = "max_steps"
    answer: str = ""
    steps: list[ReActStep] = field(default_factory=list[ReActStep])
    usage: Usage = field(default_factory=Usage)
    wall_time_s: float = 0.0
    error: str = ""


def load_embedded_llama(*, n_ctx: int = 8192, n_threads: int | None = None, seed: int = 0) -> Llama:
    """Load the embedded GGUF exactly as `LlamaCppModel` does (same file, context, threads, seed)."""
    from llama_cpp import Llama

    from nexthop.models._llama_runtime import available_cpus
    from nexthop.models._weights import ensure_embedded_model

    threads = n_threads if n_threads is not None else available_cpus()
    return Llama(model_path=str(ensure_embedded_model()), n_ctx=n_ctx, n_threads=threads, seed=seed, verbose=False)


def parse_tool_calls(text: str, ids: Any) -> tuple[ToolCall, ...]:
    """The tool calls in a reply: every JSON object ``{"name": ..., "arguments": {...}}`` in it.

    Qwen's native form wraps each in ``<tool_call>...</tool_call>``; the 1.5B model often
    writes the same object in a Markdown ``json`` fence or bare instead. llama.cpp's own
    OpenAI-compatible server accepts all three for this (Hermes) format, so the baseline
    does too: it should lose on its loop, not on a parsing quirk. An object needs a string
    ``name`` and an ``arguments`` (or ``parameters``) key; anything else is plain text, and a
    reply without a call ends the run.
    """
    calls: list[ToolCall] = []
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        call = cast("dict[str, Any]", value) if isinstance(value, dict) else {}
        name = call.get("name")
        args = call.get("arguments", call.get("parameters"))
        if isinstance(args, str):  # some replies double-encode the arguments
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                args = None
        if isinstance(name, str) and isinstance(args, dict):
            calls.append(ToolCall(id=f"r{next(ids)}", name=name, arguments=cast("dict[str, Any]", args)))
            start = text.find("{", end)
        else:
            start = text.find("{", start + 1)
    return tuple(calls)


class ReActAgent:
    """The plain ReAct loop over a `Toolset` with a llama.cpp model.

    Args:
        llm: A loaded `Llama` (see `load_embedded_llama`); one run at a time.
        toolset: Where the tools come from and calls go (a `ServerGroup`).
        max_steps: Model turns before the run stops with ``max_steps``.
        max_output_tokens: Cap on one reply (tokens), as nexthop's default `ModelSettings`.
        max_observation_chars: Longest tool result sent back (characters), as nexthop's default.
        max_wall_time_s: No new turn starts after this long (seconds); the run stops with ``timeout``.
    """

    def __init__(
        self,
        llm: Llama,
        toolset: Toolset,
        *,
        max_steps: int = 30,
        max_output_tokens: int = 1024,
        max_observation_chars: int = 16_000,
        max_wall_time_s: float = math.inf,
    ) -> None:
        from llama_cpp.llama_chat_format import CHATML_CHAT_TEMPLATE, Jinja2ChatFormatter

        self.llm = llm
        self.toolset = toolset
        self.max_steps = max_steps
        self.max_output_tokens = max_output_tokens
        self.max_observation_chars = max_observation_chars
        self.max_wall_time_s = max_wall_time_s
        self._ids = itertools.count(1)
        eos, bos = llm.token_eos(), llm.token_bos()
        self._format = Jinja2ChatFormatter(
            template=llm.metadata.get("tokenizer.chat_template", CHATML_CHAT_TEMPLATE),
            eos_token=llm._model.token_get_text(eos) if eos != -1 else "",  # pyright: ignore[reportPrivateUsage]
            bos_token=llm._model.token_get_text(bos) if bos != -1 else "",  # pyright: ignore[reportPrivateUsage]
        )

    async def run(self, task: str) -> ReActResult:
        """Run ``task`` until a reply has no tool call, the step budget runs out, or the model fails."""
        start = time.perf_counter()
        tools = [_openai_tool(t) for t in await self.toolset.list_tools()]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": task},
        ]
        result = ReActResult()
        for _ in range(self.max_steps):
            step_start = time.perf_counter()
            if step_start - start > self.max_wall_time_s:
                result.stop = "timeout"
                break
            try:
                text, usage = await anyio.to_thread.run_sync(self._generate, messages, tools)
            except (ValueError, RuntimeError) as e:
                result.stop, result.error = "error", str(e)
                break
            calls = parse_tool_calls(text, self._ids)
            observations = [await self.toolset.call_tool(c) for c in calls]
            messages.append(_assistant_message(text, calls))
            messages += [{"role": "tool", "content": self._observed(o)} for o in observations]
            result.usage = result.usage + usage
            result.answer = text
            result.steps.append(ReActStep(text, calls, tuple(observations), usage, time.perf_counter() - step_start))
            if not calls:
                result.stop = "answered"
                break
        result.wall_time_s = time.perf_counter() - start
        return result

    def _observed(self, observation: Observation) -> str:
        text = observation.content[: self.max_observation_chars]
        return f"Error: {text}" if observation.is_error else text

    def _generate(self, messages: Sequence[dict[str, Any]], tools: list[dict[str, Any]]) -> tuple[str, Usage]:
        prompt: str = self._format(messages=list(messages), tools=tools).prompt  # type: ignore[arg-type]
        tokens = self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) + self.max_output_tokens > self.llm.n_ctx():
            raise ValueError(f"prompt of {len(tokens)} tokens leaves no room for a reply in n_ctx={self.llm.n_ctx()}")
        cached = self.llm._input_ids.tolist()  # pyright: ignore[reportPrivateUsage]
        reused = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            reused += 1
        reused = min(reused, len(tokens) - 1)  # llama.cpp re-evaluates at least one token
        out: Any = self.llm.create_completion(
            tokens, max_tokens=self.max_output_tokens, temperature=0.0, seed=0, stop=["<|im_end|>"]
        )
        usage = Usage(
            input_tokens=len(tokens) - reused,
            cached_input_tokens=reused,
            output_tokens=out["usage"]["completion_tokens"],
            requests=1,
        )
        return str(out["choices"][0]["text"]), usage


def _openai_tool(tool: ToolDef) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.input_schema},
    }


def _assistant_message(text: str, calls: Sequence[ToolCall]) -> dict[str, Any]:
    if not calls:
        return {"role": "assistant", "content": text}
    # The text before the first call is the model's own words; the template re-renders the calls.
    content = text.split(_OPEN, 1)[0].split("```", 1)[0].split("{", 1)[0].strip()
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
        ],
    }
