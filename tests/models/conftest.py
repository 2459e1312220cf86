"""Fixtures for the tests of the model providers (``anyio_backend`` comes from ``tests/conftest.py``)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fake_provider import FakeProvider, serve


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A provider endpoint on 127.0.0.1 (see ``tests/support/fake_provider.py``)."""
    with serve() as fake:
        yield fake


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
