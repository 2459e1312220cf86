"""Decoding under a grammar that checks the model's first choice before the whole vocabulary.

llama-cpp-python puts a grammar into its sampler chain, where it is applied to all
151,936 tokens of the embedded model's vocabulary at every generated token. With the
reply grammar of 22 tools that cost about 80 ms a token on this project's 2-core
machine, as much as the model itself (2026-11-30, `benchmarks/bench_local_model.py`).

Greedy decoding (temperature 0, the embedded model's default) does not need it: when
the model's own top token is one the grammar accepts, it is also the top token among
the tokens the grammar accepts. So `FirstChoiceGrammar` checks that one token, and
masks the whole vocabulary only when the grammar refuses it. This is llama.cpp's own
order (``common_sampler_sample`` in ``common/sampling.cpp``: sample first, check the
one token, resample under the grammar only on refusal). The reply is the same token for
token; in the benchmark above 65-110 of each step's 66-110 tokens needed only the check.
Sampling at a temperature above 0 still goes through the chain's grammar, since a
refused draw there would change which tokens are drawn.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from nexthop._exceptions import ModelError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from llama_cpp import Llama

__all__ = ["FirstChoiceGrammar", "complete_under_grammar"]


class FirstChoiceGrammar:
    """A llama-cpp-python logits processor that keeps greedy decoding within a GBNF grammar.

    It holds its own llama.cpp grammar sampler. At each call it first feeds the
    grammar the tokens generated since the last call (the chain that picked them does
    not hold this grammar), then checks the top token alone, and masks the whole
    vocabulary (refused tokens to -inf) only if the grammar refuses it.

    Attributes:
        checked: Tokens for which checking the top token was enough.
        masked: Tokens for which the whole vocabulary was masked.
    """

    def __init__(self, llm: Llama, grammar: str, root: str = "root") -> None:
        """Parse ``grammar`` for ``llm``'s vocabulary.

        Args:
            llm: The loaded model.
            grammar: GBNF text (see `schema_grammar`).
            root: The grammar's start rule.

        Raises:
            ModelError: llama.cpp could not parse the grammar.
        """
        import llama_cpp

        self._lib = llama_cpp
        vocab = llm._model.vocab  # pyright: ignore[reportPrivateUsage]
        self._sampler: Any = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), root.encode("utf-8"))
        if not self._sampler:
            raise ModelError("llama.cpp could not parse the local model's reply grammar; this is a bug in nexthop")
        self._one = (llama_cpp.llama_token_data * 1)()
        self._prompt_len: int | None = None
        self._fed = 0
        self.checked = 0
        self.masked = 0

    def __call__(self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]) -> npt.NDArray[np.single]:
        """The scores to pick the next token from: as given when the top token is allowed, else masked."""
        import numpy as np

        if self._prompt_len is None:  # the first call comes right after the prompt
            self._prompt_len = len(input_ids)
        for token in input_ids[self._prompt_len + self._fed :]:
            self._lib.llama_sampler_accept(self._sampler, int(token))
            self._fed += 1
        if self._allows(int(np.argmax(scores))):
            self.checked += 1
            return scores
        self.masked += 1
        return self._mask(scores)

    def take(self, tokens: Sequence[int]) -> bool:
        """Feed the grammar ``tokens`` placed before the generation (a forced opening).

        Returns:
            False, having fed nothing further, at the first token the grammar refuses;
            the processor must then not be used.
        """
        for token in tokens:
            if not self._allows(token):  # accepting a refused token aborts inside llama.cpp
                return False
            self._lib.llama_sampler_accept(self._sampler, token)
        return True

    def close(self) -> None:
        """Free the grammar sampler; the processor must not be called again."""
        if self._sampler:
            self._lib.llama_sampler_free(self._sampler)
            self._sampler = None

    def _allows(self, token: int) -> bool:
        one = self._one[0]
        one.id, one.logit, one.p = token, 0.0, 0.0
        self._apply(self._one, 1)
        return one.logit != float("-inf")

    def _mask(self, scores: npt.NDArray[np.single]) -> npt.NDArray[np.single]:
        import numpy as np

        data: Any = np.zeros(len(scores), dtype=np.dtype(self._lib.llama_token_data))  # llama.h's layout
        data["id"] = np.arange(len(scores), dtype=np.intc)
        data["logit"] = scores
        self._apply(data.ctypes.data_as(self._lib.llama_token_data_p), len(scores))
        masked: npt.NDArray[np.single] = data["logit"].copy()
        return masked

    def _apply(self, data: Any, size: int) -> None:
        lib = self._lib
        array = lib.llama_token_data_array(data=data, size=size, selected=-1, sorted=False)
        pointer: Any = ctypes.byref(array)
        lib.llama_sampler_apply(self._sampler, pointer)


def complete_under_grammar(
    llm: Llama,
    tokens: Sequence[int],
    grammar: str,
    *,
    max_tokens: int,
    temperature: float,
    seed: int | None,
    should_stop: Callable[[Any, Any], bool],
    opening: str = "",
) -> Any:
    """``llm.create_completion`` of ``tokens`` whose text the GBNF ``grammar`` accepts.

    Args:
        llm: The loaded model.
        tokens: The whole prompt (llama-cpp-python reuses its longest evaluated prefix).
        grammar: GBNF text.
        max_tokens: Cap on generated tokens.
        temperature: 0 decodes greedily with `FirstChoiceGrammar`; above 0 samples
            with the grammar in llama-cpp-python's sampler chain.
        seed: Sampling seed.
        should_stop: Checked after each token (a llama-cpp-python stopping criterion).
        opening: Text the reply must open with (the grammar fixes it): evaluated with the
            prompt, in one batch, instead of generated a token at a time. Greedy only;
            when the grammar refuses its tokens it is generated as usual.

    Returns:
        llama-cpp-python's completion dict (``choices``, ``usage``); the text and
        ``completion_tokens`` include ``opening``.

    Raises:
        ModelError: The grammar did not parse.
        ValueError, RuntimeError: llama-cpp-python failed (the caller wraps them).
    """
    from llama_cpp import LlamaGrammar, LogitsProcessorList, StoppingCriteriaList

    stop = StoppingCriteriaList([should_stop])
    if temperature > 0:
        parsed = LlamaGrammar.from_string(grammar, verbose=False)
        return llm.create_completion(
            list(tokens),
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            grammar=parsed,
            stopping_criteria=stop,
        )
    forced = llm.tokenize(opening.encode("utf-8"), add_bos=False, special=False) if opening else []
    first_choice = FirstChoiceGrammar(llm, grammar)
    try:
        if not first_choice.take(forced):
            first_choice.close()
            first_choice, forced = FirstChoiceGrammar(llm, grammar), []
        out: Any = llm.create_completion(
            [*tokens, *forced],
            max_tokens=max(1, max_tokens - len(forced)),
            temperature=0.0,
            seed=seed,
            logits_processor=LogitsProcessorList([first_choice]),
            stopping_criteria=stop,
        )
    finally:
        first_choice.close()
    if forced:
        out["choices"][0]["text"] = opening + out["choices"][0]["text"]
        out["usage"]["completion_tokens"] += len(forced)
    return out
