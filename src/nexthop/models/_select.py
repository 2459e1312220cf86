"""Choosing a model from a string, as given to ``--model`` or in a config file.

The grammar::

    anthropic:<model>[?<options>]              Claude through the Anthropic API
    openai:<model>[?<options>]                 OpenAI's Chat Completions API
    openai:<model>@<base_url>[?<options>]      any OpenAI-compatible server (Ollama, vLLM,
                                               llama-cpp-python's server, ...)
    local[?<options>]                          the embedded default model (needs nexthop[local])
    local:<path.gguf>[?<options>]              a GGUF file of one's own (needs nexthop[local])
    scripted:<actions.json>                    a replayed script (tests and demos; no options)

Options follow the last ``?`` as a URL query, ``name=value`` pairs joined by ``&``
(read with `urllib.parse.parse_qsl`, so ``%20`` and ``+`` decode as in a URL). Each
provider takes its own; an unknown, repeated or malformed option is a `ConfigError`
that names it and lists the allowed ones::

    local, local:<path>   threads=<n>       CPU threads (default: every CPU this process may use)
                          n_ctx=<tokens>    context window, prompt plus reply (default 8192)
                          seed=<n>          sampling seed (default 0)
                          recheck=on|off    ask again when the tool picked shares no word
                                            with the thought and another server's does (default on)
                          catalog=schemas|signatures
                                            how the prompt lists tool arguments: JSON schemas
                                            or typed signatures (default schemas)
                          exemplar=on|off   show a worked run over made-up tools after
                                            the reply format (default off)
    openai                tool_choice=auto|required|none
                                            sent whenever tools are (default auto)
                          tool_results=tool|user
                                            how results travel back (default tool; user for
                                            servers whose chat template drops tool messages,
                                            see docs/models.md)
                          temperature=<t>   used when the run sets none (default: the server's)
                          max_retries=<n>   SDK retries with backoff (default 2)
                          actions=tools|json_object|json_schema
                                            tool calls (default), or one JSON reply under a
                                            schema sent as response_format of that type, for
                                            servers better at schemas than at tool calls
                          recheck=on|off    with JSON actions, as for local (default on)
                          repeat_penalty=<p>
                                            llama.cpp's request field, for llama.cpp servers
                                            (llama-cpp-python's defaults to 1.1; 1 turns it off)
    anthropic             max_retries=<n>

Examples: ``local?threads=1&n_ctx=4096``, ``local:~/models/qwen.gguf?threads=2``,
``openai:qwen@http://127.0.0.1:8000/v1?actions=json_object&temperature=0``.

``ScriptedModel`` from a string only replays a file; scripts in code use the class.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from nexthop._exceptions import ConfigError
from nexthop.models._model import Model

__all__ = ["DEFAULT_MODEL", "model_from_string"]

DEFAULT_MODEL = "local"
"""The model used when none is chosen: the embedded one, which needs no key or network."""

_GRAMMAR = "use anthropic:<model>, openai:<model>[@<base_url>], local, local:<path.gguf> or scripted:<actions.json>"
# Model names may hold '@' themselves (e.g. Vertex-style ids), so only an '@' that
# introduces a URL separates the base URL, and the last such one wins.
_URL_AT = re.compile(r"@(?=https?://)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _zero_to_two(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 2:  # the Chat Completions temperature range; also rejects nan
        raise ValueError(text)
    return value


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(text)
        return text

    return parse


@dataclass(frozen=True)
class _Option:
    """One option of a model string: the constructor keyword it sets and how to read it."""

    keyword: str
    parse: Callable[[str], object]
    expects: str  # completes "must be ...", for the error message


_MAX_RETRIES = _Option("max_retries", _non_negative_int, "an integer >= 0")


def _on(value: str) -> bool:
    return _one_of("on", "off")(value) == "on"


_RECHECK = _Option("recheck", _on, "on or off")
_OPTIONS: Mapping[str, Mapping[str, _Option]] = {
    "local": {
        "threads": _Option("n_threads", _positive_int, "an integer >= 1"),
        "n_ctx": _Option("n_ctx", _positive_int, "an integer >= 1 (tokens)"),
        "seed": _Option("seed", _non_negative_int, "an integer >= 0"),
        "recheck": _RECHECK,
        "catalog": _Option("catalog", _one_of("schemas", "signatures"), "schemas or signatures"),
        "exemplar": _Option("exemplar", _on, "on or off"),
    },
    "openai": {
        "tool_choice": _Option("tool_choice", _one_of("auto", "required", "none"), "auto, required or none"),
        "tool_results": _Option("tool_results", _one_of("tool", "user"), "tool or user"),
        "temperature": _Option("temperature", _zero_to_two, "a number from 0 to 2"),
        "max_retries": _MAX_RETRIES,
        "actions": _Option(
            "actions", _one_of("tools", "json_object", "json_schema"), "tools, json_object or json_schema"
        ),
        "recheck": _RECHECK,
        "repeat_penalty": _Option("repeat_penalty", _zero_to_two, "a number from 0 to 2"),
    },
    "anthropic": {"max_retries": _MAX_RETRIES},
    "scripted": {},
}


def model_from_string(spec: str) -> Model:
    """Build the model a string names.

    Args:
        spec: A model string in the grammar of this module's docstring, e.g.
            ``anthropic:claude-sonnet-4-5``, ``openai:llama3.2@http://localhost:11434/v1``,
            ``local?threads=1&n_ctx=4096`` or ``local:~/models/qwen.gguf``.

    Returns:
        A ready model; its `Model.name` repeats the string's meaning.

    Raises:
        ConfigError: Unknown provider, empty model name, a missing GGUF file, an unknown
            or invalid option (one line naming it and the allowed ones), or a missing
            API key (raised by the provider's constructor).
        MissingExtraError: ``local`` without the ``nexthop[local]`` extra (raised by
            the local model's module).
    """
    head, question, tail = spec.rpartition("?")
    text, query = (head.strip(), tail) if question else (spec.strip(), "")
    provider, sep, rest = text.partition(":")
    provider, rest = provider.strip().lower(), rest.strip()
    if text.lower() == "local":
        return _local(None, _options("local", query, spec))
    if not sep or not rest or provider not in _OPTIONS:
        raise ConfigError(f"unknown model {spec!r}: {_GRAMMAR}")
    options = _options(provider, query, spec)
    if provider == "anthropic":
        from nexthop.models._anthropic import AnthropicModel

        return AnthropicModel(rest, **options)
    if provider == "openai":
        from nexthop.models._openai import OpenAIModel

        model, base_url = _split_base_url(rest)
        if not model:
            raise ConfigError(f"unknown model {spec!r}: the model name before '@' is empty; {_GRAMMAR}")
        return OpenAIModel(model, base_url=base_url, **options)
    if provider == "scripted":
        from nexthop.models._scripted import ScriptedModel

        return ScriptedModel.from_file(Path(rest).expanduser())
    path = Path(rest).expanduser()  # provider == "local"
    if not path.is_file():
        raise ConfigError(f"model file not found: {str(path)!r}; give the path of a .gguf file, or use local")
    return _local(path, options)


def _options(provider: str, query: str, spec: str) -> dict[str, Any]:
    """Read a model string's options into constructor keywords, or raise a one-line `ConfigError`."""
    allowed = _OPTIONS[provider]
    takes = f"{provider} takes " + (", ".join(sorted(allowed)) if allowed else "no options")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        hint = "write name=value pairs joined by '&'"
        raise ConfigError(f"bad options {query!r} in model {spec!r}: {hint}; {takes}") from None
    keywords: dict[str, Any] = {}
    for name, value in pairs:
        option = allowed.get(name)
        if option is None:
            raise ConfigError(f"unknown option {name!r} in model {spec!r}: {takes}")
        if option.keyword in keywords:
            raise ConfigError(f"option {name!r} is given twice in model {spec!r}")
        try:
            keywords[option.keyword] = option.parse(value.strip())
        except ValueError:
            raise ConfigError(f"option {name}={value!r} in model {spec!r} must be {option.expects}; {takes}") from None
    return keywords


def _split_base_url(rest: str) -> tuple[str, str | None]:
    matches = list(_URL_AT.finditer(rest))
    if not matches:
        return rest, None
    at = matches[-1].start()
    return rest[:at].strip(), rest[at + 1 :].strip()


def _local(path: Path | None, options: dict[str, Any]) -> Model:
    # Imported here so that a missing module or extra surfaces as its own clear error,
    # and only for those who ask for the local model.
    from nexthop.models._llama import LlamaCppModel

    return LlamaCppModel(path, **options)
