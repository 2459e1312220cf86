"""The AMX repacking guard (`nexthop.models._repack`), without loading a model.

The real probe loads a GGUF in a child process; here the child's script is swapped for
one that ends the way the probe can end (SIGILL, a clean exit, a hang), so the test
checks how each ending is read.
"""

from __future__ import annotations

import pytest

from nexthop.models import _repack


@pytest.mark.parametrize(
    ("script", "timeout_s", "faults"),
    [
        ("import os, signal; os.kill(os.getpid(), signal.SIGILL)", 60.0, True),
        ("pass", 60.0, False),
        ("raise SystemExit(3)", 60.0, False),  # a failure other than SIGILL (missing GGUF, no llama_cpp)
        ("import time; time.sleep(60)", 1.0, False),  # timed out: counts as no fault
    ],
)
def test_only_sigill_counts_as_a_fault(
    monkeypatch: pytest.MonkeyPatch, script: str, timeout_s: float, faults: bool
) -> None:
    monkeypatch.setattr(_repack, "_PROBE", script)
    assert _repack.repack_faults("unused.gguf", timeout_s=timeout_s) is faults


def test_disable_repack_turns_off_extra_buffer_types_for_new_models(monkeypatch: pytest.MonkeyPatch) -> None:
    lib = pytest.importorskip("llama_cpp.llama_cpp")
    monkeypatch.setattr(lib, "llama_model_default_params", lib.llama_model_default_params)  # restored afterwards
    before = lib.llama_model_default_params()
    assert before.use_extra_bufts is True
    _repack.disable_repack()
    _repack.disable_repack()  # again is harmless
    params = lib.llama_model_default_params()
    assert params.use_extra_bufts is False
    assert (params.n_gpu_layers, params.split_mode) == (before.n_gpu_layers, before.split_mode)  # the rest stays
