"""A guard for CPUs that advertise AMX but fault on it, which crashes llama.cpp with SIGILL.

llama.cpp's CPU backend repacks weights into "extra buffer types" (AMX tiles where the CPU
reports ``amx_int8``). Some virtual machines report AMX yet trap its instructions: the first
batch of prompt tokens then dies with SIGILL at ``tilezero`` in ``libggml-cpu``, measured on
this project's 2-core machines (Xeon, Firecracker; docs/models.md). Loading without extra
buffer types avoids it, at the cost of slower prompt evaluation; the answers are the same.

`repack_faults` finds out in a throwaway process whether this CPU is one of those, and
`disable_repack` turns repacking off for every model loaded afterwards in this process.
Both the benchmarks (``--repack {auto,on,off}``) and ``python -m nexthop.models.llama_server
--extra_buffer_types off`` use them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

__all__ = ["disable_repack", "repack_faults"]

# Run in a child process: SIGILL cannot be caught in the process that faults.
_PROBE = """
import sys
from llama_cpp import Llama
from nexthop.models._weights import ensure_embedded_model
path = sys.argv[1] or str(ensure_embedded_model())
llm = Llama(model_path=path, n_ctx=256, n_threads=1, verbose=False)
llm.eval(llm.tokenize(b"word " * 32))
"""


def repack_faults(model_path: str = "", timeout_s: float = 300.0) -> bool:
    """Whether evaluating a 32-token batch kills a fresh process with SIGILL.

    The probe loads the model once in a child Python (seconds; the embedded model loads
    in 1-4 s), with llama.cpp's default weight repacking, and evaluates one batch: the
    point where a trapped AMX instruction (``tilezero``) faults.

    Args:
        model_path: A GGUF; empty means the embedded model (assembled on first use).
        timeout_s: How long the probe may take (seconds); a probe that times out counts
            as no fault.

    Returns:
        True if the child died of SIGILL; False if it finished, failed otherwise (a
        missing llama-cpp-python, an unreadable GGUF) or timed out.
    """
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, model_path], capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == -signal.SIGILL


def disable_repack() -> None:
    """Make every ``llama_cpp.Llama`` created from now on in this process load without extra buffer types.

    It covers any ``Llama`` (`LlamaCppModel`'s, a benchmark baseline's, the one
    llama-cpp-python's server loads); models already loaded keep their buffers. Calling
    it again is harmless.

    Raises:
        ImportError: llama-cpp-python is not installed.
    """
    # llama-cpp-python has no switch for this; every Llama builds its model params from
    # this function of its ctypes module.
    import llama_cpp.llama_cpp as lib

    default = lib.llama_model_default_params

    def params() -> Any:
        p = default()
        p.use_extra_bufts = False
        return p

    lib.llama_model_default_params = params
