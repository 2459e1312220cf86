"""The embedded model for end-to-end tests, with a clear failure when its extra is missing."""

from __future__ import annotations

from typing import Any

import pytest


def local_model() -> Any:
    """A fresh `LlamaCppModel` (the import is the check that the ``local`` extra is installed).

    ``make install`` builds llama.cpp without AMX, which these VMs advertise but trap.
    """
    try:
        from nexthop.models._llama import LlamaCppModel
    except ImportError as e:  # pragma: no cover - the message says what to install
        pytest.fail(f"the embedded model needs the local extra: pip install -e '.[local]' ({e})")
    return LlamaCppModel()
