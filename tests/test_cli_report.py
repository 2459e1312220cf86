"""The run report's renderer (`nexthop.cli._report`) on trajectories built here.

The page is parsed with the standard library's HTML parser, so the tests check the
elements a browser would build, not substrings that escaping could fake.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from nexthop._exceptions import ConfigError
from nexthop._trajectory import (
    Observation,
    PolicyRecord,
    Step,
    TerminationReason,
    ToolCall,
    Trajectory,
    Usage,
)
from nexthop.cli._report import default_report_path, render_report, write_report
from nexthop.host._store import RunSummary

SCRIPT = "<script>document.title='pwned'</script>"


class _Page(HTMLParser):
    """Every element (tag, attributes) and all the text of a page."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def tags(self, tag: str, css: str | None = None) -> list[dict[str, str]]:
        """Attributes of every ``tag`` whose class list holds every class in ``css``."""
        wanted = set((css or "").split())
        return [a for t, a in self.elements if t == tag and wanted <= set(a.get("class", "").split())]


def _summary(**fields: object) -> RunSummary:
    base: dict[str, object] = {
        "run_id": "3f2a9c1e0b7d4e21",
        "task": "count the orders",
        "model": "scripted",
        "state": "completed",
        "termination": TerminationReason(kind="completed", detail="the model called finish"),
        "steps": 2,
        "tokens": 300,
        "started_at": 1_764_000_000.0,
        "wall_time_s": 1.5,
    }
    return RunSummary.model_validate(base | fields)


def _step(index: int, name: str, content: str, **fields: object) -> Step:
    call = ToolCall(id=f"c{index}", name=name, arguments={"path": "orders.csv"})
    obs_fields = {k: fields.pop(k) for k in ("is_error", "denied", "skipped", "structured") if k in fields}
    obs = Observation(call_id=call.id, content=content, duration_s=0.25, **obs_fields)  # pyright: ignore[reportArgumentType]
    return Step.model_validate(
        {"index": index, "tool_calls": (call,), "observations": (obs,), "duration_s": 0.5, **fields}
    )


def test_text_from_the_run_is_escaped_and_cleaned_never_markup() -> None:
    steps = [
        _step(1, "fs__read", f"rows: 3 {SCRIPT}\x1b[31mred\x07", thought=f"I will read {SCRIPT}"),
        _step(2, "fs__<b>bold</b>", '<img src=x onerror="alert(1)">'),
    ]
    trajectory = Trajectory(task=f"count </title>{SCRIPT}", steps=steps)
    page = render_report(_summary(task=trajectory.task), trajectory)
    parsed = _Page(page)
    tags = {t for t, _ in parsed.elements}
    assert not tags & {"script", "img", "b", "iframe", "link"}  # the markup stayed text
    text = "".join(parsed.text)
    assert f"I will read {SCRIPT}" in text and '<img src=x onerror="alert(1)">' in text
    assert "fs__<b>bold</b>" in text and f"count </title>{SCRIPT}" in text
    assert "\x1b" not in page and "\x07" not in page and "rows: 3 " + SCRIPT + "red" in text  # escapes stripped
    assert [t.get("content") for t in parsed.tags("meta") if t.get("http-equiv")] == [
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    ]


def test_the_page_is_self_contained() -> None:
    trajectory = Trajectory(task="t", steps=[_step(1, "fs__read", "see https://example.com/x.js")])
    parsed = _Page(render_report(_summary(), trajectory))
    assert not parsed.tags("link") and not parsed.tags("script") and len(parsed.tags("style")) == 1
    references = [v for _, a in parsed.elements for k, v in a.items() if k in ("href", "src")]
    assert references and all(r.startswith("#") for r in references)


def test_long_observations_fold_and_short_ones_do_not() -> None:
    long = "\n".join(f"row {i}" for i in range(200))
    trajectory = Trajectory(task="t", steps=[_step(1, "fs__read", "short"), _step(2, "fs__read", long)])
    page = render_report(_summary(), trajectory)
    parsed = _Page(page)
    assert len(parsed.tags("details")) == 1
    assert "row 199" in "".join(parsed.text)  # folded, not cut
    assert "(200 lines," in page and "<summary>row 0 <em>" in page  # the summary is the first line


def test_errors_and_policy_events_are_highlighted() -> None:
    records = (
        PolicyRecord(policy="doom_loop", event="stop", data={"shape": "same_call"}),
        PolicyRecord(policy="transient", event="transient", data={"attempt": 1}),
        PolicyRecord(policy="permissions", event="approved", data={"tool": "fs__write", "reason": "asked"}),
        PolicyRecord(policy="abandonment", event="draw", data={"p": 0.1}),
    )
    steps = [
        _step(1, "fs__read", "ok"),
        _step(2, "fs__read", "no such file", is_error=True, hint="try listing the folder first"),
        _step(3, "fs__write", "denied by policy: writes need approval", is_error=True, denied=True),
        _step(4, "fs__read", "same", records=records),
    ]
    summary = _summary(state="incomplete", termination=TerminationReason(kind="doom_loop", policy="doom_loop"))
    parsed = _Page(render_report(summary, Trajectory(task="t", steps=steps)))
    assert [a["id"] for a in parsed.tags("article", "step error")] == ["step-2"]
    assert [a["id"] for a in parsed.tags("article", "step policy")] == ["step-3", "step-4"]
    assert len(parsed.tags("div", "obs error")) == 1 and len(parsed.tags("div", "obs denied")) == 1
    notes = [a["class"] for a in parsed.tags("p", "note")]
    assert notes == ["note warn", "note bad", "note retry", "note ok", "note info"]
    tags = [a["class"] for a in parsed.tags("span", "tag")]
    assert tags == ["tag bad", "tag warn", "tag bad", "tag bad", "tag retry", "tag ok"]  # draws are not events
    assert parsed.tags("p", "termination warn") and parsed.tags("span", "badge warn")


def test_a_skipped_call_is_labelled_skipped_not_error() -> None:
    steps = [_step(1, "fs__read", "not run: this exact call already failed at step 0", is_error=True, skipped=True)]
    html = render_report(_summary(), Trajectory(task="t", steps=steps))
    assert '<span class="label">skipped</span>' in html and '<span class="tag bad">skipped</span>' in html
    assert '<span class="label">error</span>' not in html


def test_the_chart_has_one_bar_per_step_scaled_to_tokens() -> None:
    steps = [
        _step(1, "a__b", "x", usage=Usage(input_tokens=100, output_tokens=20)),
        _step(2, "a__b", "x", usage=Usage(input_tokens=200, output_tokens=40), is_error=True),
        _step(3, "a__b", "x", usage=Usage(input_tokens=50, output_tokens=10)),
    ]
    parsed = _Page(render_report(_summary(), Trajectory(task="t", steps=steps)))
    bars = parsed.tags("g", "bar")
    assert len(bars) == len(steps)
    assert [a["class"] for a in bars] == ["bar", "bar error", "bar"]
    heights = [
        float(a["height"]) + float(b["height"])
        for a, b in zip(parsed.tags("rect", "in"), parsed.tags("rect", "out"), strict=True)
    ]
    assert heights[1] == max(heights) and heights[0] == pytest.approx(heights[1] / 2)
    assert "step 2: 240 tokens (200 in, 40 out)" in "".join(parsed.text)


def test_delegated_runs_are_linked_by_their_run_id() -> None:
    structured = {"run_uri": "nexthop://runs/6ead306fec0541e1", "status": "completed"}
    steps = [
        _step(1, "hostb__run_task", "completed after 3 steps: done", structured=structured),
        _step(2, "hostb__run_task", "done\n[resource nexthop://runs/0b7d4e213f2a9c1e]"),
        _step(3, "hostb__run_task", "done\n[resource nexthop://runs/../../etc/passwd]"),
    ]
    parsed = _Page(render_report(_summary(), Trajectory(task="t", steps=steps)))
    links = [a["href"] for a in parsed.tags("a") if not a["href"].startswith("#")]
    assert links == ["6ead306fec0541e1.html", "0b7d4e213f2a9c1e.html"]


def test_an_interrupted_run_shows_the_call_in_flight() -> None:
    call = ToolCall(id="c2", name="work__work", arguments={"label": "b"})
    steps = [_step(1, "work__work", "done a"), Step(index=2, tool_calls=(call,))]
    summary = _summary(state="interrupted", termination=None)
    parsed = _Page(render_report(summary, Trajectory(task="t", steps=steps), [call]))
    assert len(parsed.tags("div", "obs pending")) == 1
    assert "in flight when the run stopped" in "".join(parsed.text)
    assert [a["class"] for a in parsed.tags("span", "tag")] == ["tag warn"]


def test_a_run_with_no_step_says_so_and_draws_no_chart() -> None:
    summary = _summary(state="error", steps=0, tokens=0, started_at=0.0, termination=TerminationReason(kind="error"))
    parsed = _Page(render_report(summary, Trajectory(task="t")))
    assert not parsed.tags("svg") and not parsed.tags("article")
    assert "No step was recorded." in "".join(parsed.text)
    assert parsed.tags("span", "badge bad") and parsed.tags("p", "termination bad")


def test_output_goes_to_a_file_or_stdout_and_odd_ids_need_a_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    trajectory = Trajectory(task="t", steps=[_step(1, "a__b", "x")])
    monkeypatch.chdir(tmp_path)
    assert write_report(_summary(), trajectory, [], None) == "3f2a9c1e0b7d4e21.html"
    assert (tmp_path / "3f2a9c1e0b7d4e21.html").read_text().startswith("<!DOCTYPE html>")
    assert write_report(_summary(), trajectory, [], "-") is None
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")
    with pytest.raises(ConfigError, match="pass -o FILE"):
        default_report_path("../x")
    with pytest.raises(ConfigError, match="cannot write the report to"):
        write_report(_summary(), trajectory, [], str(tmp_path / "missing" / "r.html"))
