"""The sandbox's ordinary behaviour: results over the pipe, scratch, mounts, packages, limits.

Needs bubblewrap (``make test`` installs it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from nexthop._exceptions import ConfigError
from nexthop.host._sandbox import SandboxConfig, SandboxLimits, SandboxMount, SandboxUnavailable, run_sandboxed

pytestmark = pytest.mark.anyio


async def test_a_result_comes_back_as_json_and_prints_do_not_corrupt_it() -> None:
    source = """
import hashlib
def f(text):
    print('noise', flush=True)
    return {'sha': hashlib.sha256(text.encode()).hexdigest()}
"""
    outcome = await run_sandboxed(source, "f", {"text": "abc"})
    assert outcome.kind == "returned"
    assert outcome.value == {"sha": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
    assert "noise" in outcome.stderr


async def test_the_scratch_folder_is_writable_and_fresh_for_each_call() -> None:
    source = """
import os
def f():
    before = os.listdir('.')
    open('x', 'w').write('1')
    return [os.getcwd(), before]
"""
    first = await run_sandboxed(source, "f", {})
    second = await run_sandboxed(source, "f", {})
    assert first.value == ["/scratch", []] and second.value == ["/scratch", []]


async def test_only_the_runtime_is_visible() -> None:
    source = "import os\ndef f():\n    return sorted(os.listdir('/'))\n"
    outcome = await run_sandboxed(source, "f", {})
    assert outcome.kind == "returned"
    assert "home" not in outcome.value and "bin" not in outcome.value and "work" not in outcome.value


async def test_roots_are_mounted_read_only_or_read_write_as_configured(tmp_path: Path) -> None:
    ro, rw = tmp_path / "ro", tmp_path / "rw"
    ro.mkdir()
    rw.mkdir()
    (ro / "in.txt").write_text("hello")
    rw.chmod(0o777)  # as root the tool runs as a uid of its own
    config = SandboxConfig(mounts=(SandboxMount(path=ro), SandboxMount(path=rw, writable=True)))
    source = """
def f(ro, rw):
    text = open(ro + '/in.txt').read()
    open(rw + '/out.txt', 'w').write(text.upper())
    open(ro + '/no.txt', 'w')
"""
    outcome = await run_sandboxed(source, "f", {"ro": str(ro), "rw": str(rw)}, config)
    assert outcome.kind == "raised" and "Read-only file system" in outcome.error
    assert (rw / "out.txt").read_text() == "HELLO"
    assert not (ro / "no.txt").exists()


async def test_only_allowlisted_packages_can_be_imported() -> None:
    source = "def f():\n    import docstring_parser\n    return docstring_parser.parse('Hi.').short_description\n"
    without = await run_sandboxed(source, "f", {})
    assert without.kind == "raised" and "ModuleNotFoundError" in without.error
    allowed = await run_sandboxed(source, "f", {}, SandboxConfig(packages=("docstring-parser",)))
    assert (allowed.kind, allowed.value) == ("returned", "Hi.")


async def test_an_unknown_package_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not installed"):
        await run_sandboxed("def f():\n    pass\n", "f", {}, SandboxConfig(packages=("no-such-dist-xyz",)))


async def test_a_result_past_the_output_limit_is_cut_off() -> None:
    config = SandboxConfig(limits=SandboxLimits(output_bytes=10_000))
    outcome = await run_sandboxed("def f():\n    return 'x' * 100_000\n", "f", {}, config)
    assert outcome.kind == "too_large"


async def test_without_bubblewrap_nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "bwrap" else real(name, *a, **k))  # pyright: ignore[reportUnknownLambdaType, reportUnknownArgumentType]
    marker = Path(os.environ.get("TMPDIR", "/tmp")) / f"nexthop-unsandboxed-{os.getpid()}"
    with pytest.raises(SandboxUnavailable, match="apt-get install -y bubblewrap"):
        await run_sandboxed(f"def f():\n    open({str(marker)!r}, 'w')\n", "f", {})
    assert not marker.exists()  # noqa: ASYNC240 - checking the host, on purpose
