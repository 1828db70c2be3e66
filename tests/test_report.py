"""`tenet report`: the HTML page's content (pure Python) and how headless Chromium renders it.

The cycles are the four of `test_audit.py`, recorded here in the work folder's SQLite store
(the default store, whose registry returns version numbers as int, unlike the REST API).
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from helpers import CHROMIUM, chromium, run_cli
from test_audit import POLICY_ID, RULES, record_all

PHASES = ("before", "after")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The four cycles in a local store; returns (work folder, run ids)."""
    from tenet.runtime.track import Tracker

    work = tmp_path_factory.mktemp("report") / "work"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        run_ids = record_all(Tracker(POLICY_ID, work), work)
    return work, run_ids


@pytest.fixture
def page(recorded, monkeypatch):
    """Render the report of one cycle (by run id, or None for the newest) to an HTML string."""
    from tenet.runtime.audit import CycleStore, resolve_tracking_uri
    from tenet.runtime.report import collect, render_html

    work, _ = recorded
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store = CycleStore(resolve_tracking_uri(None, work))
    return lambda run_id=None: render_html(collect(store, POLICY_ID, run_id))


class Dom(HTMLParser):
    """The elements of a page as (tag, attributes) in document order, plus each table's body rows."""

    def __init__(self, html: str):
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.rows: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attributes))
        if tag == "table":
            self._table = attributes.get("id", "")
            self.rows[self._table] = []
        elif tag == "tr" and self._table is not None and self._in_body:
            self.rows[self._table].append([])
        elif tag == "td" and self._table is not None:
            self._cell = []
        elif tag == "tbody":
            self._in_body = True

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None and self._table is not None:
            self.rows[self._table][-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table, self._in_body = None, False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    _in_body = False

    def bars(self) -> list[dict[str, str]]:
        """The chart's bar rectangles."""
        return [a for t, a in self.elements if t == "rect" and "bar" in a.get("class", "").split()]


# --- content (pure Python) --------------------------------------------------------------------


def test_chart_has_one_bar_per_rule_and_phase_scaled_to_compliance(page, recorded):
    dom = Dom(page(recorded[1][1]))
    assert sum(t == "svg" for t, _ in dom.elements) == 1
    bars = dom.bars()
    expected = sorted((r, p) for r in RULES for p in PHASES)
    assert sorted((b["data-rule"], b["data-phase"]) for b in bars) == expected
    height = {(b["data-rule"], b["data-phase"]): float(b["height"]) for b in bars}
    assert height[("short", "before")] == pytest.approx(0.4 * 220) and height[("short", "after")] == 220
    assert {b["class"] for b in bars} == {"bar before", "bar after"}


def test_rules_table_in_source_order_with_votes(page, recorded):
    dom = Dom(page(recorded[1][1]))
    rows = dom.rows["rules"]
    assert [r[0].split()[0] for r in rows] == list(RULES)
    assert rows[0] == ["short Keep answers <short> & sweet.", "high", "40%", "100%", "+60 pts", "40 / 60 / 2",
                       "100 / 0 / 2"]
    pooled = ["critical rules", "high rules", "medium rules", "all rules"]
    assert [r[0] for r in dom.rows["severities"]] == pooled


def test_policy_text_is_escaped(page, recorded):
    html = page(recorded[1][1])
    assert "<script" not in html.lower()
    assert "Support &lt;assistant&gt; policy &amp; friends." in html
    assert "Never echo &lt;script&gt; tags." in html
    assert "new rule &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_page_is_self_contained(page, recorded):
    html = page(recorded[1][1])
    # The only URL is the SVG namespace, which is a name, not a fetch.
    assert re.findall(r"https?://[^\s\"'<>]*", html) == ["http://www.w3.org/2000/svg"]
    for forbidden in ("src=", "href=", "<link", "@import", "url(", "<script", "<iframe", "<img"):
        assert forbidden not in html.lower(), forbidden
    assert "Content-Security-Policy\" content=\"default-src 'none'" in html and "<style>" in html


def test_diff_data_and_gate_sections(page, recorded):
    from tenet.runtime.track import file_sha256

    work, run_ids = recorded
    dom = Dom(page(run_ids[1]))
    assert [r[:2] for r in dom.rows["diff-table"]] == [["short", "breaking"], ["no-script", "non-breaking"]]
    datasets = {r[0]: r[3] for r in dom.rows["datasets"]}
    assert datasets == {n: file_sha256(work / "cycle2" / "pairs" / f"{n}.parquet")
                        for n in ("pairs", "unpaired", "eval_prompts")}
    assert dom.rows["strategies"] == [["examples", "32", "32"], ["perturb", "61", "48"]]
    assert {(r[0], r[3]) for r in dom.rows["gate-table"]} == {("high", "PASS"), ("drift", "PASS"),
                                                               ("critical", "PASS"), ("regression", "PASS"),
                                                               ("helpfulness", "PASS")}
    failed = {r[0]: r[3] for r in Dom(page(run_ids[2])).rows["gate-table"]}
    assert failed["high"] == "FAIL" and failed["regression"] == "FAIL"
    html = page(run_ids[1])
    assert "Dropped by reason: length_ratio 3, other_rule_flipped 8, over_budget 2." in html
    assert "no-script 3/5" in html


def test_first_cycle_and_newest_crashed_cycle(page, recorded):
    _, run_ids = recorded
    assert "First cycle, or one recorded before policy diffs were kept" in page(run_ids[0])  # no diff tags
    newest = page()  # the default: the newest cycle, which failed in training
    dom = Dom(newest)
    after = [b for b in dom.bars() if b["data-phase"] == "after"]
    assert len(after) == len(RULES) and all(b["data-value"] == "" and float(b["height"]) == 0 for b in after)
    assert run_ids[-1] in newest and "No gate results were recorded." in newest
    assert "0 breaking, 0 non-breaking, 0 metadata against champion run" in newest
    assert "no <code>policy/diff.json</code> was recorded" in newest


def test_fresh_cycle_with_an_empty_diff_is_a_first_cycle(recorded, monkeypatch):
    from tenet.runtime.audit import CycleStore, resolve_tracking_uri
    from tenet.runtime.report import collect, render_html

    work, run_ids = recorded
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data = collect(CycleStore(resolve_tracking_uri(None, work)), POLICY_ID, run_ids[1])
    fresh = dataclasses.replace(data, diff=(), cycle=dataclasses.replace(data.cycle, diff_summary="fresh"))
    html = render_html(fresh)
    assert "First cycle: there was no champion" in html and 'id="diff-table"' not in html


def test_gates_from_metrics_and_an_empty_chart(recorded, monkeypatch):
    from tenet.runtime.audit import CycleStore, resolve_tracking_uri
    from tenet.runtime.report import bar_chart_svg, metric_gates

    work, run_ids = recorded
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cycle = CycleStore(resolve_tracking_uri(None, work)).cycle(POLICY_ID, run_ids[2])
    rows = {g.name: g.passed for g in metric_gates(cycle)}
    assert rows == {"critical": True, "drift": True, "high": False, "regression": False, "helpfulness": True}
    no_votes = dataclasses.replace(cycle, metrics={"gate.rule.short.passed": 1.0})
    assert [(g.name, g.passed) for g in metric_gates(no_votes)] == [("rule short", True)]
    assert "No rule had a vote" in bar_chart_svg([])


def test_report_and_audit_commands_on_the_local_store(recorded, tmp_path, monkeypatch):
    work, run_ids = recorded
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "nested" / "report.html"
    code, stdout, err = run_cli(["report", POLICY_ID, "--work-dir", str(work), "--out", str(out)])
    assert code == 0, err
    assert f"run {run_ids[-1][:8]}" in stdout
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    code, _, err = run_cli(["report", POLICY_ID, "--work-dir", str(work), "--run", "zzz", "--out", str(out)])
    assert code == 2 and f"no cycle of policy {POLICY_ID} has run id zzz" in err
    assert "hint: recent cycles" in err
    code, stdout, err = run_cli(["audit", POLICY_ID, "--work-dir", str(work), "--model", "@champion"])
    assert code == 0, err
    assert stdout.startswith(f"model {POLICY_ID}/2 (aliases: champion)") and "promotion " in stdout
    code, stdout, _ = run_cli(["audit", POLICY_ID, "--work-dir", str(work), "--format", "json"])
    assert '"promoted": true' in stdout and '"model_version": "1"' in stdout


# --- rendered in headless Chromium --------------------------------------------------------------


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium "
                    "(apt-get install chromium); the pure-Python report tests still ran")
def test_report_renders_in_headless_chromium(page, recorded, tmp_path):
    from PIL import Image

    from tenet.runtime.report import BAR_COLORS

    html_file = tmp_path / "report.html"
    html_file.write_text(page(recorded[1][1]), encoding="utf-8")
    dumped = chromium("--dump-dom", html_file.as_uri(), profile=tmp_path / "profile-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = Dom(dumped.stdout)
    assert any(t == "svg" and a.get("id") == "compliance-chart" for t, a in dom.elements)
    assert sorted((b["data-rule"], b["data-phase"]) for b in dom.bars()) == sorted(
        (r, p) for r in RULES for p in PHASES)
    assert [r[0].split()[0] for r in dom.rows["rules"]] == list(RULES)

    png = tmp_path / "report.png"
    shot = chromium("--window-size=1200,1400", f"--screenshot={png}", html_file.as_uri(),
                    profile=tmp_path / "profile-shot")
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-2000:]
    image = Image.open(png).convert("RGB")
    assert image.size == (1200, 1400)
    pixels = list(image.getdata())
    colors = {_rgb(BAR_COLORS[p]): sum(px == _rgb(BAR_COLORS[p]) for px in pixels) for p in PHASES}
    # The bars are painted: at 100% a bar is 18 x 220 px, and `after` reaches 100% for all three rules.
    assert colors[_rgb(BAR_COLORS["after"])] > 3 * 15 * 200
    assert colors[_rgb(BAR_COLORS["before"])] > 18 * 80
    assert len(set(pixels)) > 50  # text, tables and chart, not a blank page


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
