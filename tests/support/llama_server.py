"""Run ``python -m llama_cpp.server`` with llama.cpp's extra buffer types off; arguments pass through.

On the project's VMs the CPU advertises AMX but faults on it (SIGILL, ``tilezero`` in
libggml-cpu) when llama.cpp picks its AMX buffer type, so the server dies on its first
request with a natively built wheel. llama-cpp-python has no switch for this; every
``Llama`` takes its model params from ``llama_model_default_params``, so patching that
one function (as ``benchmarks/tasks/run.py --no-repack`` does) covers the server's model.
Prompt evaluation is slower without weight repacking; answers are the same.

Usage: ``python tests/support/llama_server.py --model X.gguf --chat_format chatml-function-calling ...``
"""

from __future__ import annotations

import runpy
from typing import Any

import llama_cpp.llama_cpp as lib

_default = lib.llama_model_default_params


def _params() -> Any:
    params = _default()
    params.use_extra_bufts = False
    return params


if __name__ == "__main__":
    lib.llama_model_default_params = _params
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
