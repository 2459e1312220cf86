"""FirstChoiceGrammar: greedy decoding that checks the top token first gives the chain grammar's text.

These load the embedded GGUF (``-m embedded``): the point is that llama.cpp's own grammar,
applied to the whole vocabulary, and the one-token check pick the same tokens.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from nexthop._exceptions import ModelError
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop.models._llama_gbnf import schema_grammar
from nexthop.models._llama_prompt import build_reply_schema

if TYPE_CHECKING:
    from llama_cpp import Llama

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="llama-cpp-python is not installed: pip install 'nexthop[local]'",
    ),
]

# The model's own first choices break this grammar (it would answer in prose, or pick
# fruits with capitals), so both the one-token check and the full mask are exercised.
FRUITS = 'root ::= "{\\"fruits\\": [" item ("," item)* "]}"\nitem ::= "\\"" [a-z]+ "\\""'

READ = ToolDef(
    name="fs__read_text_file",
    description="Read a text file and return its contents.",
    input_schema={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


@pytest.fixture(scope="module")
def llm() -> Iterator[Llama]:
    from llama_cpp import Llama

    from nexthop.models._weights import ensure_embedded_model

    model = Llama(model_path=str(ensure_embedded_model(progress=False)), n_ctx=1024, n_threads=2, verbose=False)
    yield model
    model.close()


def _chain(llm: Llama, tokens: list[int], grammar: str, max_tokens: int) -> str:
    from llama_cpp import LlamaGrammar

    out: Any = llm.create_completion(
        tokens, max_tokens=max_tokens, temperature=0.0, grammar=LlamaGrammar.from_string(grammar, verbose=False)
    )
    return str(out["choices"][0]["text"])


def _first_choice(llm: Llama, tokens: list[int], grammar: str, max_tokens: int) -> tuple[str, int, int]:
    from llama_cpp import LogitsProcessorList

    from nexthop.models._llama_greedy import FirstChoiceGrammar

    checker = FirstChoiceGrammar(llm, grammar)
    try:
        out: Any = llm.create_completion(
            tokens, max_tokens=max_tokens, temperature=0.0, logits_processor=LogitsProcessorList([checker])
        )
    finally:
        checker.close()
    return str(out["choices"][0]["text"]), checker.checked, checker.masked


def test_same_text_as_the_chain_grammar_when_the_model_strays(llm: Llama) -> None:
    tokens = llm.tokenize(b"Name three fruits.", add_bos=False)
    text, checked, masked = _first_choice(llm, tokens, FRUITS, 40)
    assert text == _chain(llm, tokens, FRUITS, 40)
    assert json.loads(text)["fruits"] and all(f.isalpha() and f.islower() for f in json.loads(text)["fruits"])
    assert checked > 0 and masked > 0, (checked, masked)


def test_same_reply_as_the_chain_grammar_under_the_reply_grammar(llm: Llama) -> None:
    grammar = schema_grammar(build_reply_schema([READ, FINISH_TOOL]))
    prompt = (
        "<|im_start|>system\nReply with JSON: remaining_work, tool, arguments. Tools: fs__read_text_file(path), "
        "finish(result).<|im_end|>\n<|im_start|>user\nRead notes.txt and tell me its first line.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    text, checked, _ = _first_choice(llm, tokens, grammar, 120)
    assert text == _chain(llm, tokens, grammar, 120)
    assert json.loads(text)["tool"] in {"fs__read_text_file", "finish"}
    assert checked > 0


def test_sampling_above_temperature_zero_keeps_to_the_grammar(llm: Llama) -> None:
    from nexthop.models._llama_greedy import complete_under_grammar

    tokens = llm.tokenize(b"Name three fruits.", add_bos=False)
    out = complete_under_grammar(
        llm, tokens, FRUITS, max_tokens=40, temperature=0.9, seed=3, should_stop=lambda _ids, _logits: False
    )
    assert all(f.isalpha() and f.islower() for f in json.loads(out["choices"][0]["text"])["fruits"])


def test_a_grammar_llama_cpp_cannot_parse_is_a_model_error(llm: Llama) -> None:
    from nexthop.models._llama_greedy import FirstChoiceGrammar

    with pytest.raises(ModelError, match="could not parse"):
        FirstChoiceGrammar(llm, 'root ::= "unterminated')


def _complete(llm: Llama, tokens: list[int], grammar: str, opening: str = "") -> dict[str, Any]:
    from nexthop.models._llama_greedy import complete_under_grammar

    return complete_under_grammar(
        llm, tokens, grammar, max_tokens=120, temperature=0.0, seed=0, should_stop=lambda _i, _l: False, opening=opening
    )


def test_a_fixed_opening_is_evaluated_not_generated_and_the_reply_is_the_same(llm: Llama) -> None:
    from nexthop.models._llama_prompt import reply_opening

    task = 'Read "notes.txt" and tell me its first line.'
    grammar = schema_grammar(build_reply_schema([READ, FINISH_TOOL], thought=task))
    prompt = (
        "<|im_start|>system\nReply with JSON: remaining_work, tool, arguments. Tools: fs__read_text_file(path), "
        f"finish(result).<|im_end|>\n<|im_start|>user\n{task}<|im_end|>\n<|im_start|>assistant\n"
    )
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    generated = _complete(llm, tokens, grammar)
    opened = _complete(llm, tokens, grammar, opening=reply_opening(task))
    assert opened["choices"][0]["text"] == generated["choices"][0]["text"]
    assert json.loads(opened["choices"][0]["text"])["remaining_work"] == task
    # The opening's tokens count as the reply's, as when they were generated.
    assert opened["usage"]["completion_tokens"] == pytest.approx(generated["usage"]["completion_tokens"], abs=2)


def test_an_opening_the_grammar_refuses_is_generated_instead(llm: Llama) -> None:
    tokens = llm.tokenize(b"Name three fruits.", add_bos=False)
    plain = _complete(llm, tokens, FRUITS)
    refused = _complete(llm, tokens, FRUITS, opening='{"vegetables": [')
    assert refused["choices"][0]["text"] == plain["choices"][0]["text"]
