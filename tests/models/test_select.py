"""The model-string grammar of `model_from_string`."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import anyio
import pytest

from nexthop._exceptions import ConfigError
from nexthop.models._anthropic import AnthropicModel
from nexthop.models._model import Model, ModelRequest, ModelResponse
from nexthop.models._openai import OpenAIModel
from nexthop.models._select import DEFAULT_MODEL, model_from_string


class _FakeLlama(Model):
    """LlamaCppModel's constructor signature, without loading anything."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        seed: int = 0,
        recheck: bool = True,
        exemplar: bool = False,
    ) -> None:
        self.model_path = model_path
        self.n_ctx, self.n_threads, self.seed, self.recheck = n_ctx, n_threads, seed, recheck
        self.exemplar = exemplar

    async def request(self, request: ModelRequest) -> ModelResponse:
        raise NotImplementedError


@pytest.fixture
def fake_llama(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand in for nexthop.models._llama, whose real class loads a GGUF."""
    module = types.ModuleType("nexthop.models._llama")
    module.LlamaCppModel = _FakeLlama  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nexthop.models._llama", module)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-oai")


def _close(model: Model) -> None:
    anyio.run(model.aclose)


def test_anthropic(keys: None) -> None:
    model = model_from_string("anthropic:claude-sonnet-4-5")
    assert isinstance(model, AnthropicModel)
    assert (model.model, model.name) == ("claude-sonnet-4-5", "anthropic:claude-sonnet-4-5")
    _close(model)


def test_openai_without_base_url(keys: None) -> None:
    model = model_from_string("openai:gpt-4o")
    assert isinstance(model, OpenAIModel)
    assert (model.model, model.base_url) == ("gpt-4o", None)
    _close(model)


@pytest.mark.parametrize(
    ("spec", "model_name", "base_url"),
    [
        ("openai:llama3.2@http://localhost:11434/v1", "llama3.2", "http://localhost:11434/v1"),
        # Ollama tags hold ':' and some ids hold '@': only an '@' before a URL splits.
        ("openai:qwen2.5:7b@https://host:8000/v1", "qwen2.5:7b", "https://host:8000/v1"),
        ("openai:org/model@v2@http://127.0.0.1:8080/v1", "org/model@v2", "http://127.0.0.1:8080/v1"),
        ("openai:claude@20240229", "claude@20240229", None),
        ("openai:m@http://first/v1@http://second/v1", "m@http://first/v1", "http://second/v1"),
    ],
)
def test_openai_base_url_split_on_last_url_at(
    spec: str, model_name: str, base_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-oai")
    model = model_from_string(spec)
    assert isinstance(model, OpenAIModel)
    assert (model.model, model.base_url) == (model_name, base_url)
    _close(model)


def test_openai_compatible_server_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = model_from_string("openai:llama3.2@http://localhost:11434/v1")
    assert isinstance(model, OpenAIModel)
    _close(model)


def test_missing_keys_surface_as_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        model_from_string("anthropic:claude-sonnet-4-5")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        model_from_string("openai:gpt-4o")


def test_local_is_the_default_embedded_model(fake_llama: None) -> None:
    assert DEFAULT_MODEL == "local"
    model = model_from_string(DEFAULT_MODEL)
    assert isinstance(model, _FakeLlama) and model.model_path is None


def test_local_path(fake_llama: None, tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    model = model_from_string(f"local:{gguf}")
    assert isinstance(model, _FakeLlama)
    assert Path(model.model_path or "") == gguf


def test_local_missing_file_names_the_path(fake_llama: None, tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ConfigError, match=f"model file not found: '{missing}'"):
        model_from_string(f"local:{missing}")


def test_local_without_the_module_raises_its_own_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail, as when the module or its extra is absent.
    monkeypatch.setitem(sys.modules, "nexthop.models._llama", None)
    with pytest.raises(ImportError):
        model_from_string("local")


@pytest.mark.parametrize(
    "spec", ["foo:bar", "scripted", "gpt-4o", "anthropic:", "openai:  ", "local:", "", "openai:@http://h/v1"]
)
def test_bad_strings_are_one_line_config_errors(spec: str, keys: None, fake_llama: None) -> None:
    with pytest.raises(ConfigError) as info:
        model_from_string(spec)
    message = str(info.value)
    assert f"unknown model {spec!r}" in message
    assert (
        "anthropic:<model>, openai:<model>[@<base_url>], local, local:<path.gguf> or scripted:<actions.json>" in message
    )
    assert "\n" not in message


def test_provider_is_case_insensitive(keys: None) -> None:
    model: Any = model_from_string("Anthropic:claude-x")
    assert isinstance(model, AnthropicModel) and model.model == "claude-x"
    _close(model)


def test_a_scripted_model_from_a_file_replays_by_step(tmp_path: Path) -> None:
    script = tmp_path / "actions.json"
    script.write_text('[{"tool": "demo__echo", "arguments": {"text": "hi"}}, {"reply": "done"}]')
    model = model_from_string(f"scripted:{script}")
    assert model.name == f"scripted:{script}"
    bad = tmp_path / "bad.json"
    bad.write_text('{"tool": "x"}')
    with pytest.raises(ConfigError, match="must be a JSON list"):
        model_from_string(f"scripted:{bad}")


def test_local_options_reach_the_constructor(fake_llama: None, tmp_path: Path) -> None:
    model = model_from_string("local?threads=1&n_ctx=4096")
    assert isinstance(model, _FakeLlama)
    assert (model.model_path, model.n_threads, model.n_ctx, model.seed) == (None, 1, 4096, 0)

    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    model = model_from_string(f"local:{gguf}?threads=2&seed=7")
    assert isinstance(model, _FakeLlama)
    assert (Path(model.model_path or ""), model.n_threads, model.n_ctx, model.seed) == (gguf, 2, 8192, 7)
    assert model.recheck is True
    model = model_from_string("local?recheck=off")
    assert isinstance(model, _FakeLlama) and model.recheck is False
    with pytest.raises(ConfigError, match="recheck"):
        model_from_string("local?recheck=maybe")
    assert model.exemplar is False
    model = model_from_string("local?exemplar=on")
    assert isinstance(model, _FakeLlama) and model.exemplar is True
    with pytest.raises(ConfigError, match="exemplar='yes' .* must be on or off"):
        model_from_string("local?exemplar=yes")


def test_no_options_keep_the_defaults(fake_llama: None) -> None:
    model = model_from_string("local?")
    assert isinstance(model, _FakeLlama) and (model.n_threads, model.n_ctx) == (None, 8192)


def test_openai_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = model_from_string(
        "openai:qwen@http://127.0.0.1:8000/v1?tool_choice=required&tool_results=user&temperature=0&max_retries=0"
    )
    assert isinstance(model, OpenAIModel)
    assert (model.model, model.base_url) == ("qwen", "http://127.0.0.1:8000/v1")
    assert (model.tool_choice, model.tool_results, model.temperature) == ("required", "user", 0.0)
    assert model._client.max_retries == 0  # pyright: ignore[reportPrivateUsage]
    _close(model)
    default = model_from_string("openai:qwen@http://127.0.0.1:8000/v1")
    assert isinstance(default, OpenAIModel)
    assert (default.tool_choice, default.tool_results, default.temperature) == ("auto", "tool", None)
    _close(default)


def test_anthropic_max_retries(keys: None) -> None:
    model = model_from_string("anthropic:claude-x?max_retries=5")
    assert isinstance(model, AnthropicModel)
    assert model.model == "claude-x"
    _close(model)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "local?threds=1",
            "unknown option 'threds' in model 'local?threds=1':"
            " local takes catalog, exemplar, n_ctx, recheck, seed, threads",
        ),
        ("local?threads=0", "option threads='0' in model 'local?threads=0' must be an integer >= 1; local takes"),
        ("local?threads=two", "option threads='two' in model 'local?threads=two' must be an integer >= 1"),
        ("local?n_ctx=4k", "option n_ctx='4k' in model 'local?n_ctx=4k' must be an integer >= 1 (tokens)"),
        ("local?threads", "bad options 'threads' in model 'local?threads': write name=value pairs joined by '&'"),
        ("local?threads=1&threads=2", "option 'threads' is given twice in model 'local?threads=1&threads=2'"),
        (
            "openai:m@http://h/v1?tool_choice=any",
            "option tool_choice='any' in model 'openai:m@http://h/v1?tool_choice=any' must be auto, required or none;"
            " openai takes actions, max_retries, recheck, repeat_penalty, temperature, tool_choice, tool_results",
        ),
        ("openai:m@http://h/v1?temperature=9", "option temperature='9' in model"),
        ("openai:m@http://h/v1?threads=1", "unknown option 'threads' in model 'openai:m@http://h/v1?threads=1'"),
        ("anthropic:c?tool_choice=auto", "unknown option 'tool_choice' in model 'anthropic:c?tool_choice=auto': "),
        ("scripted:x.json?a=1", "unknown option 'a' in model 'scripted:x.json?a=1': scripted takes no options"),
    ],
)
def test_bad_options_are_one_line_config_errors_naming_the_allowed_ones(
    spec: str, expected: str, keys: None, fake_llama: None
) -> None:
    with pytest.raises(ConfigError) as info:
        model_from_string(spec)
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message
