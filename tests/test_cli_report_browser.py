"""`nexthop run` on a store, then `nexthop report`, then the page in headless Chromium.

Real processes all the way: the CLI with a scripted model and a stdio tool server
(tests/support/work_server.py) records a run; `nexthop report` writes its page; Debian's
`chromium` loads it from a file:// URL with networking off, dumps the DOM it built and
takes a screenshot. The screenshot goes to ``$NEXTHOP_REPORT_SCREENSHOT`` when set (for
a person to look at), else to the test's tmp folder.

Chromium is skipped when absent, unless ``NEXTHOP_REQUIRE_CHROMIUM`` is set (``make test``
sets it after installing chromium): then its absence fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SUPPORT = Path(__file__).parent / "support"
PAYLOAD = "<script>document.body.setAttribute('data-pwned', '1')</script>"


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("NEXTHOP_REQUIRE_CHROMIUM"):
            pytest.fail("NEXTHOP_REQUIRE_CHROMIUM is set but chromium is not installed (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium; make test installs it)")
    return found


def _nexthop(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NEXTHOP_STORE"}
    env["XDG_DATA_HOME"] = str(cwd / "data")
    done = subprocess.run(
        [sys.executable, "-m", "nexthop", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _record_a_run(tmp_path: Path, store: str) -> str:
    actions: list[dict[str, Any]] = [
        {"tool": "work__work", "arguments": {"label": "a"}, "thought": f"start small {PAYLOAD}"},
        {"tool": "work__nope", "arguments": {}, "thought": "try a tool that does not exist"},
        {"tool": "work__work", "arguments": {"label": PAYLOAD}, "thought": "a label with markup"},
        {"tool": "finish", "arguments": {"result": "all done"}, "thought": "that is everything"},
    ]
    for i, action in enumerate(actions):
        action["usage"] = {"input_tokens": 400 + 150 * i, "output_tokens": 40 + 10 * i}
    script = tmp_path / "script.json"
    script.write_text(json.dumps(actions))
    server = f"work={sys.executable} {SUPPORT / 'work_server.py'} {tmp_path / 'work.log'}"
    run = ["run", "-q", "--store", store, "--server", server, "--model", f"scripted:{script}", "do the work"]
    assert _nexthop(*run, cwd=tmp_path).stdout.strip() == "all done"
    listed = json.loads(_nexthop("runs", "--json", "--store", store, cwd=tmp_path).stdout)
    assert [r["state"] for r in listed] == ["completed"]
    return listed[0]["run_id"]


def _browse(chromium: str, page: Path, tmp_path: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    flags += ["--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,1600"]
    flags.append(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    done = subprocess.run(
        [chromium, *flags, *mode, page.as_uri()], cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_a_recorded_run_reports_as_a_page_chromium_renders(tmp_path: Path) -> None:
    chromium = _chromium()
    store = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    run_id = _record_a_run(tmp_path, store)

    unknown = _nexthop("report", "nosuchrun", "--store", store, cwd=tmp_path, check=False)
    assert unknown.returncode == 2 and "no run 'nosuchrun'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    written = _nexthop("report", run_id, "--store", store, "-o", "run.html", cwd=tmp_path)
    assert "wrote run.html" in written.stderr
    page = tmp_path / "run.html"

    dom = _browse(chromium, page, tmp_path, "--dump-dom").stdout
    assert "do the work" in dom and "all done" in dom
    for index in (1, 2, 3, 4):
        assert f'id="step-{index}"' in dom
    assert dom.count("work__work") >= 2 and "work__nope" in dom and "unknown tool" in dom
    assert dom.count('class="bar') == 4  # the chart: one bar per step
    assert "2,720 (2,500 in, 220 out)" in dom  # the tokens the script stated, as the store recorded them
    # The payload arrived as text in a thought, an argument and a result; it never became a script.
    assert "<body><main>" in dom and "<script" not in dom  # a script that ran would have set data-pwned on body
    assert dom.count("&lt;script&gt;document.body.setAttribute") >= 3

    shot = Path(os.environ.get("NEXTHOP_REPORT_SCREENSHOT") or tmp_path / "report.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    _browse(chromium, page, tmp_path, f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
