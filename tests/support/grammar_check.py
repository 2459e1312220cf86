"""Whether llama.cpp's own grammar sampler accepts a text: the check a reply grammar must pass.

A GBNF grammar cannot be tested by reading it; this runs llama.cpp's sampler over the
embedded model's vocabulary (loaded vocabulary-only, about a second) and feeds it the
text token by token, as generation would.
"""

from __future__ import annotations

import ctypes
import functools
import math
from typing import Any

__all__ = ["grammar_accepts"]


@functools.cache
def _vocab_model() -> Any:
    from llama_cpp import Llama

    from nexthop.models._weights import ensure_embedded_model

    return Llama(model_path=str(ensure_embedded_model(progress=False)), vocab_only=True, verbose=False)


def grammar_accepts(grammar: str, text: str) -> bool:
    """Whether ``text`` is a complete sentence of ``grammar`` (GBNF, root rule ``root``).

    Args:
        grammar: GBNF text, e.g. from `schema_grammar`.
        text: The would-be reply.

    Returns:
        True when every token of ``text`` is allowed in turn and the grammar may end after it.
    """
    import llama_cpp

    llm = _vocab_model()
    sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar.encode(), b"root")
    if not sampler:
        raise ValueError("llama.cpp could not parse the grammar")
    try:
        for token in [*llm.tokenize(text.encode(), add_bos=False, special=False), llm.token_eos()]:
            data = (llama_cpp.llama_token_data * 1)()
            data[0].id, data[0].logit, data[0].p = token, 0.0, 0.0
            candidates = llama_cpp.llama_token_data_array(data=data, size=1, selected=-1, sorted=False)
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates))  # pyright: ignore[reportArgumentType]
            if math.isinf(data[0].logit):
                return False
            if token != llm.token_eos():
                llama_cpp.llama_sampler_accept(sampler, token)
        return True
    finally:
        llama_cpp.llama_sampler_free(sampler)
