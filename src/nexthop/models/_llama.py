"""`LlamaCppModel`: a GGUF model run in-process by llama-cpp-python (the ``local`` extra).

With no path it runs the embedded Qwen2.5-Coder-1.5B-Instruct (see `_weights`). Each
reply is decoded under a grammar built from a JSON schema (`_llama_prompt`, checked a
token at a time by `_llama_greedy`), so every step yields a well-formed call of a tool.

Cost per step is kept flat by prefix reuse: llama.cpp keeps the KV cache of the tokens
it evaluated last, and ``Llama.generate`` evaluates only the tokens after the longest
common prefix with them. The prompt is therefore append-only across steps, and each
request's `Usage` reports how many prompt tokens were evaluated and how many reused.

Across processes the stable prefix (the system message: instructions and tool
definitions) is restored from disk (`_llama_prefix`, `_llama_kv`): the first request of
a run evaluates only the task message when the same model has seen the same tools before.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from nexthop._exceptions import ConfigError, MissingExtraError, ModelError
from nexthop._toolset import ToolDef
from nexthop._trajectory import Usage
from nexthop.models import _llama_runtime
from nexthop.models._llama_gbnf import schema_grammar
from nexthop.models._llama_greedy import complete_under_grammar
from nexthop.models._llama_kv import (
    DEFAULT_PREFIX_CACHE_BYTES,
    PrefixCache,
    default_prefix_cache_dir,
    model_identity,
    prefix_key,
)
from nexthop.models._llama_prefix import PrefixEvent, common_prefix, prime, worth_priming
from nexthop.models._llama_prompt import (
    avoided_opening,
    build_messages,
    opening_thought,
    reply_opening,
    system_message,
    system_prompt,
)
from nexthop.models._llama_recheck import Recheck, Rechecker
from nexthop.models._llama_replies import ReplyMemory, ReplySchemas
from nexthop.models._model import Model, ModelRequest, ModelResponse

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["LlamaCppModel", "PrefixEvent"]

_MAX_KEPT_REPLIES = 4096  # generated texts kept for re-rendering past steps; a few MB at most
_CHARS_PER_TOKEN = 4.5
"""Characters of the tool listing per token, for `LlamaCppModel.tool_list_share`. The embedded
GGUF's tokenizer gives 4.55-4.65 on the listings of 22 and 67 real tools (both catalogues);
rounded down, the estimate errs a little towards narrowing, and needs no loaded model."""


def _grammar_check(schema: dict[str, Any]) -> None:
    """Raise if llama.cpp cannot turn ``schema`` into a grammar (used per tool branch)."""
    schema_grammar(schema)


@dataclass(frozen=True)
class _Reply:
    text: str
    finish_reason: str | None
    timed_out: bool
    usage: Usage


class LlamaCppModel(Model):
    """A local GGUF model, run in-process; the embedded default when no path is given.

    Loading (1-4 s for the embedded model: 3.9 s in FACTS, 1.1-1.4 s measured here with
    the file in the page cache) happens in `prepare` (`AgentHost` calls it while servers
    start) or else on the first request, in a worker thread, as does
    every generation, so the event loop stays responsive. Requests on one instance run
    one at a time (a llama.cpp context is not shareable), and a generation stops at the
    next token once its task is cancelled or ``settings.timeout_s`` has passed.

    Args:
        model_path: A GGUF file; None runs the embedded model, assembling it into the
            user cache on first use (`ensure_embedded_model`).
        n_ctx: Context window (tokens). Prompt plus reply must fit in it.
        n_threads: CPU threads for generation; None uses every CPU this process may run on.
        seed: Sampling seed (only matters when a temperature above 0 is requested).
        recheck: When the tool picked shares no word with the thought written before it
            and another server's tool does, ask once more offering only the fitting tools
            (see `nexthop.models._llama_recheck`); the thought is kept.
        prefix_cache_dir: Folder for the KV state of the stable prompt prefix, reused
            across processes (`_llama_kv`); None uses ``<user cache>/nexthop/kv``.
        prefix_cache_bytes: Bound on that folder's size (bytes; least recently used
            files go first); 0 turns the cache off.
        catalog: How the system prompt lists each tool's arguments: ``schemas`` (its
            simplified JSON schema, with descriptions) or ``signatures`` (one typed
            parameter list, `_llama_prompt.signature`).
        exemplar: Show a worked run over made-up tools after the reply format
            (`_llama_prompt.EXEMPLAR`).

    Attributes:
        name: ``local:qwen2.5-coder-1.5b-instruct`` for the embedded model, else
            ``llama-cpp:<file name>``.
        load_time_s: Seconds the GGUF took to load; None until the first request.
        prefix_events: What the prefix cache did, one event per cold start of the
            context (a new process, or new tools), oldest first.
        rechecks: Each second ask made because the first pick did not fit its thought.

    Raises:
        MissingExtraError: llama-cpp-python is not installed.
        ConfigError: ``model_path`` is not a file.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        seed: int = 0,
        recheck: bool = True,
        prefix_cache_dir: str | Path | None = None,
        prefix_cache_bytes: int = DEFAULT_PREFIX_CACHE_BYTES,
        catalog: Literal["schemas", "signatures"] = "schemas",
        exemplar: bool = False,
    ) -> None:
        _llama_runtime.import_llama_cpp()
        self.model_path = Path(model_path) if model_path is not None else None
        if self.model_path is not None and not self.model_path.is_file():
            raise ConfigError(f"local model file not found: {self.model_path}")
        self.name = f"llama-cpp:{self.model_path.name}" if self.model_path else "local:qwen2.5-coder-1.5b-instruct"
        self.n_ctx = n_ctx
        self.n_threads = n_threads if n_threads is not None else _llama_runtime.available_cpus()
        self.seed = seed
        self.recheck = recheck
        self.catalog = catalog
        self._signatures = catalog == "signatures"
        self.exemplar = exemplar
        self._share: tuple[tuple[ToolDef, ...], float] | None = None  # tool_list_share's last list and answer
        self._rechecker = Rechecker(recheck)
        self.rechecks: list[Recheck] = self._rechecker.rechecks
        self.load_time_s: float | None = None
        self.prefix_events: list[PrefixEvent] = []
        self._prefix_cache = (
            PrefixCache(Path(prefix_cache_dir or default_prefix_cache_dir()), prefix_cache_bytes)
            if prefix_cache_bytes > 0
            else None
        )
        self._identity = ""  # model_identity of the loaded GGUF, part of every prefix key
        self._llm: Llama | None = None
        self._formatter: Any = None
        self._lock = anyio.Lock()
        # Held by the worker thread while it loads or decodes. A request abandoned by its
        # task (a signal raised in the event loop: Ctrl-C, pytest-timeout) leaves that
        # thread running after the anyio lock is gone; freeing the context under it
        # killed the process with SIGSEGV. aclose() waits on this instead.
        self._busy = threading.Lock()
        self._closing = False
        self._replies = ReplyMemory("l", _MAX_KEPT_REPLIES, "local model")
        self._schemas = ReplySchemas(_grammar_check)

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Generate the next action; see `Model.request`.

        Returns:
            One tool call (or, with no tools on offer, a plain answer) and its usage:
            ``input_tokens`` are prompt tokens evaluated now, ``cached_input_tokens``
            those reused from the KV cache.

        Raises:
            ModelError: The GGUF failed to load, the prompt exceeds ``n_ctx``, the
                reply timed out or was cut off at ``max_output_tokens``.
        """
        async with self._lock:
            if self._llm is None:
                await anyio.to_thread.run_sync(self._load)
            reply = await anyio.to_thread.run_sync(self._generate, request)
        # A generation stopped by cancellation returns a partial reply: the cancellation
        # must win over the error parsing it would raise.
        await anyio.lowlevel.checkpoint_if_cancelled()
        response = self._finish(reply, request)
        again = self._rechecker.misfit(response, request.tools)
        if again is None:
            return response
        async with self._lock:
            schema = self._schemas(again, thought=response.thought)
            reply = await anyio.to_thread.run_sync(self._generate, request, schema)
        await anyio.lowlevel.checkpoint_if_cancelled()
        return self._rechecker.record(response, again, self._finish(reply, request, again))

    async def prepare(self) -> None:
        """Load the GGUF now (see `Model.prepare`); a load that fails is tried again by `request`."""
        async with self._lock:
            if self._llm is None:
                with contextlib.suppress(ModelError, ConfigError, MissingExtraError):
                    await anyio.to_thread.run_sync(self._load)

    def tool_list_share(self, tools: Sequence[ToolDef]) -> float | None:
        """The share of ``n_ctx`` the system prompt's tool list takes; see `Model.tool_list_share`.

        Estimated from the listing's length (`_CHARS_PER_TOKEN`), so that the answer is
        there before the GGUF is loaded. The host asks once per step, and the list rarely
        changes, so the last answer is kept for its list.
        """
        key = tuple(tools)
        if self._share is None or self._share[0] != key:
            listing = system_prompt("", tools, signatures=self._signatures)
            self._share = (key, len(listing) / _CHARS_PER_TOKEN / self.n_ctx)
        return self._share[1]

    async def aclose(self) -> None:
        """Free the loaded model (about 1.1 GB for the embedded one).

        A generation still running in a worker thread (its request was abandoned) is
        stopped at its next token, and the model is freed only once it has returned.
        """
        self._closing = True
        try:
            async with self._lock:
                await anyio.to_thread.run_sync(self._close_when_idle)
        finally:
            self._closing = False

    def _close_when_idle(self) -> None:
        with self._busy:
            llm, self._llm = self._llm, None
            if llm is not None:
                llm.close()

    def _load(self) -> None:
        with self._busy:
            self._load_now()

    def _load_now(self) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import CHATML_CHAT_TEMPLATE, Jinja2ChatFormatter

        from nexthop.models._weights import ensure_embedded_model

        path = self.model_path or ensure_embedded_model()
        start = time.perf_counter()
        try:
            llm = Llama(
                model_path=str(path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                seed=self.seed,
                verbose=False,
            )
        except (ValueError, OSError, RuntimeError) as e:
            raise ModelError(f"could not load GGUF {path}: {e}") from e
        self.load_time_s = time.perf_counter() - start
        self._identity = model_identity(path)
        # The GGUF's own chat template, rendered here rather than inside
        # create_chat_completion, so we know the exact prompt tokens (for usage) and can
        # pass a grammar that fails loudly instead of silently degrading to plain JSON.
        eos = llm.token_eos()
        bos = llm.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=llm.metadata.get("tokenizer.chat_template", CHATML_CHAT_TEMPLATE),
            eos_token=llm._model.token_get_text(eos) if eos != -1 else "",  # pyright: ignore[reportPrivateUsage]
            bos_token=llm._model.token_get_text(bos) if bos != -1 else "",  # pyright: ignore[reportPrivateUsage]
        )
        self._llm = llm

    def _prompt_style(self) -> dict[str, bool]:
        """How this model's system message is written: the same for the whole prompt and its cached prefix."""
        return {"signatures": self._signatures, "exemplar": self.exemplar}

    def prompt_tokens(self, request: ModelRequest) -> list[int]:
        """Tokens of the prompt for ``request`` (the model must be loaded)."""
        assert self._llm is not None and self._formatter is not None
        texts = self._replies.texts
        messages = build_messages(
            request.instructions, request.prompt_tools, request.trajectory, texts, **self._prompt_style()
        )
        text: str = self._formatter(messages=messages).prompt
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def prefix_tokens(self, request: ModelRequest, tokens: Sequence[int]) -> list[int]:
        """The stable prefix of a prompt's ``tokens`` (the model must be loaded).

        It is the common start of the prompt and of its system message rendered alone,
        so it covers whatever the chat template wraps around that message, and ends
        before the first token that depends on the task.
        """
        assert self._llm is not None and self._formatter is not None
        system = system_message(request.instructions, request.prompt_tools, **self._prompt_style())
        text: str = self._formatter(messages=[system]).prompt
        alone = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return list(tokens[: common_prefix(alone, tokens)])

    def _prime_prefix(self, llm: Llama, request: ModelRequest, tokens: list[int]) -> int:
        """Put the stable prefix's KV state into a cold context before generating.

        Nothing happens when the cache is off or priming is not worth it
        (`worth_priming`); otherwise `prime` restores the state from disk, or evaluates
        it now and writes it for the next process.

        Returns:
            Prompt tokens evaluated here (0 unless the prefix had to be evaluated).

        Raises:
            ModelError: llama.cpp failed to evaluate the prefix.
        """
        cache = self._prefix_cache
        if cache is None:
            return 0
        prefix = self.prefix_tokens(request, tokens)
        if not worth_priming(llm._input_ids.tolist(), prefix, tokens):  # pyright: ignore[reportPrivateUsage]
            return 0
        key = prefix_key(self._identity, self.n_ctx, prefix, _llama_runtime.runtime_version())
        event = prime(llm, cache, key, prefix)
        self.prefix_events.append(event)
        return 0 if event.kind == "loaded" else len(prefix)

    def _generate(self, request: ModelRequest, schema: dict[str, Any] | None = None) -> _Reply:
        with self._busy:
            if self._llm is None:
                raise ModelError("local model was closed while a request was waiting")
            return self._generate_now(self._llm, request, schema)

    def _generate_now(self, llm: Llama, request: ModelRequest, schema: dict[str, Any] | None) -> _Reply:
        tokens = self.prompt_tokens(request)
        settings = request.settings
        if len(tokens) + settings.max_output_tokens > self.n_ctx:
            raise ModelError(
                f"local model prompt is {len(tokens)} tokens; with max_output_tokens={settings.max_output_tokens} "
                f"it exceeds n_ctx={self.n_ctx}; raise n_ctx or shorten the observations"
            )
        trajectory = request.trajectory
        fixed = opening_thought(trajectory) if schema is None else None
        schema = schema or self._schemas(
            request.tools, thought=fixed, avoid=avoided_opening(trajectory, request.prompt_tools)
        )
        primed = self._prime_prefix(llm, request, tokens)
        # Same rule as Llama.generate: it keeps the longest common prefix with what is
        # evaluated and always re-evaluates at least one token to get fresh logits. A
        # prefix evaluated just now by _prime_prefix counts as evaluated, not reused.
        reused = common_prefix(llm._input_ids.tolist(), tokens)  # pyright: ignore[reportPrivateUsage]
        reused = min(reused, len(tokens) - 1) - primed
        deadline = time.monotonic() + settings.timeout_s
        timed_out = False

        def should_stop(_ids: Any, _logits: Any) -> bool:
            # Checked once per generated token: stop at the deadline, as soon as the
            # awaiting task is cancelled (it then raises its own cancellation), or when
            # the model is being closed under an abandoned request.
            nonlocal timed_out
            timed_out = time.monotonic() > deadline
            return timed_out or self._closing or _host_task_cancelled()

        try:
            out: Any = complete_under_grammar(
                llm,
                tokens,
                schema_grammar(schema),
                max_tokens=settings.max_output_tokens,
                temperature=settings.temperature or 0.0,
                seed=self.seed if settings.seed is None else settings.seed,
                should_stop=should_stop,
                opening=reply_opening(fixed) if fixed is not None else "",
            )
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"local model failed: {e}") from e
        choice = out["choices"][0]
        usage = Usage(
            input_tokens=len(tokens) - reused,
            cached_input_tokens=reused,
            output_tokens=out["usage"]["completion_tokens"],
            requests=1,
        )
        return _Reply(choice["text"], choice["finish_reason"], timed_out, usage)

    def _finish(self, reply: _Reply, request: ModelRequest, tools: Sequence[ToolDef] | None = None) -> ModelResponse:
        settings = request.settings
        if reply.timed_out:
            raise ModelError(f"local model took longer than timeout_s={settings.timeout_s} s")
        if reply.finish_reason == "length":
            raise ModelError(f"local model reply was cut off at max_output_tokens={settings.max_output_tokens}")
        return self._replies.action(reply.text, request.tools if tools is None else tools, reply.usage)


def _host_task_cancelled() -> bool:
    try:
        anyio.from_thread.check_cancelled()
    except BaseException:  # the backend's cancellation exception: only a signal here
        return True
    return False
