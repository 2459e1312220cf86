import sys
from pathlib import Path

import pytest

# Test helpers (tests/support) are importable as plain modules.
sys.path.insert(0, str(Path(__file__).parent / "support"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _quiet_mcp_server_logs() -> None:
    # MCPServer renders every tool exception as a rich traceback at ERROR; it is noise here
    # and slow enough (~0.5 s) to skew timeouts.
    import logging

    logging.getLogger("mcp.server").setLevel(logging.CRITICAL)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tool pins live in the user config folder; each test gets its own, so tests never
    # pin each other's tools or touch the developer's real pins.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    # `nexthop run` records runs in a store by default; tests that do not test the store run without one.
    monkeypatch.setenv("NEXTHOP_STORE", "off")
