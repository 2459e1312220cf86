"""Choosing a model from a string, as given to ``--model`` or in a config file.

The grammar::

    anthropic:<model>                 Claude through the Anthropic API
    openai:<model>                    OpenAI's Chat Completions API
    openai:<model>@<base_url>         any OpenAI-compatible server (Ollama, vLLM, ...)
    local                             the embedded default model (needs nexthop[local])
    local:<path.gguf>                 a GGUF file of one's own (needs nexthop[local])

``ScriptedModel`` is deliberately absent: it replays a script, which a string cannot hold.
"""

from __future__ import annotations

import re
from pathlib import Path

from nexthop._exceptions import ConfigError
from nexthop.models._model import Model

__all__ = ["DEFAULT_MODEL", "model_from_string"]

DEFAULT_MODEL = "local"
"""The model used when none is chosen: the embedded one, which needs no key or network."""

_GRAMMAR = "use anthropic:<model>, openai:<model>[@<base_url>], local, local:<path.gguf> or scripted:<actions.json>"
# Model names may hold '@' themselves (e.g. Vertex-style ids), so only an '@' that
# introduces a URL separates the base URL, and the last such one wins.
_URL_AT = re.compile(r"@(?=https?://)")


def model_from_string(spec: str) -> Model:
    """Build the model a string names.

    Args:
        spec: A model string in the grammar of this module's docstring, e.g.
            ``anthropic:claude-sonnet-4-5``, ``openai:llama3.2@http://localhost:11434/v1``
            or ``local:~/models/qwen.gguf``.

    Returns:
        A ready model; its `Model.name` repeats the string's meaning.

    Raises:
        ConfigError: Unknown provider, empty model name, a missing GGUF file, or a
            missing API key (raised by the provider's constructor).
        MissingExtraError: ``local`` without the ``nexthop[local]`` extra (raised by
            the local model's module).
    """
    text = spec.strip()
    if text == "local":
        return _local(None)
    provider, sep, rest = text.partition(":")
    provider, rest = provider.strip().lower(), rest.strip()
    if not sep or not rest:
        raise ConfigError(f"unknown model {spec!r}: {_GRAMMAR}")
    if provider == "anthropic":
        from nexthop.models._anthropic import AnthropicModel

        return AnthropicModel(rest)
    if provider == "openai":
        from nexthop.models._openai import OpenAIModel

        model, base_url = _split_base_url(rest)
        if not model:
            raise ConfigError(f"unknown model {spec!r}: the model name before '@' is empty; {_GRAMMAR}")
        return OpenAIModel(model, base_url=base_url)
    if provider == "scripted":
        from nexthop.models._scripted import ScriptedModel

        return ScriptedModel.from_file(Path(rest).expanduser())
    if provider == "local":
        path = Path(rest).expanduser()
        if not path.is_file():
            raise ConfigError(f"model file not found: {str(path)!r}; give the path of a .gguf file, or use local")
        return _local(path)
    raise ConfigError(f"unknown model {spec!r}: {_GRAMMAR}")


def _split_base_url(rest: str) -> tuple[str, str | None]:
    matches = list(_URL_AT.finditer(rest))
    if not matches:
        return rest, None
    at = matches[-1].start()
    return rest[:at].strip(), rest[at + 1 :].strip()


def _local(path: Path | None) -> Model:
    # Imported here so that a missing module or extra surfaces as its own clear error,
    # and only for those who ask for the local model.
    from nexthop.models._llama import LlamaCppModel

    return LlamaCppModel(path)
