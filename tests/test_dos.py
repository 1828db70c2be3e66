"""Regex denial of service: catastrophic patterns over hostile rows finish, and say which rule gave up.

Patterns RE2 can run (`/(a+)+$/`, `/(a|aa)+b/`) are linear there. Patterns with lookarounds
run on Python `re` in a killable worker (runtime/label/bounded.py): a row that overruns
abstains, and after `MAX_STUCK_ROWS` such rows the pattern is given up for the run. The fast
tests shorten the per-row time-out so they take seconds; the slow test labels 1M hostile
rows with the shipped limits.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tenet.compiler.ir import ABSTAIN, BAD, GOOD
from tenet.compiler.pipeline import compile_policy
from helpers import run_cli, write_policy
from tenet.runtime.label import bounded
from tenet.runtime.label.run import label_dataset

HOSTILE_POLICY = r"""dsl 1
policy dos version "1"

rule nested (low):
  forbid response matches /(a+)+$/

rule alternation (low):
  forbid response matches /(a|aa)+b/

rule lookahead (low):
  forbid response matches /^(a+)+(?=b)/

rule lookbehind (low):
  forbid response matches /(?<!x)(\w+\s?)+$/
"""
RE2_RULES = ("nested", "alternation")
FALLBACK_RULES = ("lookahead", "lookbehind")
# Each takes Python `re` exponential time on one of the patterns.
HOSTILE = ("a" * 40 + "c", "word " * 12 + "!")
# Benign rows first, so the fallback rules have answered them before they are given up.
BENIGN = [("aab", {"nested": GOOD, "alternation": BAD, "lookahead": BAD, "lookbehind": BAD}),
          ("aaaa", {"nested": BAD, "alternation": GOOD, "lookahead": GOOD, "lookbehind": BAD}),
          ("a" * 5000 + "b", {"nested": GOOD, "alternation": BAD, "lookahead": BAD, "lookbehind": BAD}),
          ("x!", {"nested": GOOD, "alternation": GOOD, "lookahead": GOOD, "lookbehind": GOOD})]


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """The hostile policy, checked to use RE2 for two rules and the Python fallback for two."""
    path = write_policy(tmp_path, "dos.policy", HOSTILE_POLICY)
    engines = {r.id: r.check.engine for r in compile_policy(path).artifact.ir.rules}
    assert engines == {"nested": "re2", "alternation": "re2", "lookahead": "python", "lookbehind": "python"}
    return path


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """A 50 ms row time-out instead of 250 ms, so the fast tests stay fast."""
    monkeypatch.setattr(bounded, "ROW_TIMEOUT_S", 0.05)
    return 0.05


def hostile_rows(n: int) -> list[dict]:
    """The benign rows, then `n` rows alternating between the hostile texts."""
    rows = [{"prompt": "p", "response": text} for text, _ in BENIGN]
    return rows + [{"prompt": "p", "response": HOSTILE[i % 2]} for i in range(n)]


def test_catastrophic_patterns_on_thousands_of_hostile_rows_finish_and_report(policy, tmp_path, short_timeout):
    rows = hostile_rows(3000)
    data = tmp_path / "hostile.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    start = time.monotonic()
    code, out, err = run_cli(["label", str(policy), str(data), "--out", str(tmp_path / "labels.parquet")])
    elapsed = time.monotonic() - start
    assert code == 0, err
    # Two given-up patterns cost at most 2 x 32 time-outs of 50 ms (plus forks); the rest is labeling.
    assert elapsed < 60, f"labeling {len(rows)} hostile rows took {elapsed:.1f}s"
    report = json.loads((tmp_path / "labels.report.json").read_text())
    assert report["rows"] == len(rows)
    assert sorted(report["regex_timeouts"]) == sorted(FALLBACK_RULES)
    for rule in FALLBACK_RULES:
        assert bounded.MAX_STUCK_ROWS <= report["regex_timeouts"][rule] <= len(rows) - len(BENIGN)
        assert f"warning: rule {rule}: its regex overran the time bound on" in out
    table = pq.read_table(tmp_path / "labels.parquet")
    assert table.num_rows == len(rows)
    for rule in RE2_RULES:  # RE2 answers every row: no time-out, no abstention
        assert ABSTAIN not in table.column(f"vote__{rule}").to_pylist()
    for i, (_, votes) in enumerate(BENIGN):
        assert {rule: table.column(f"vote__{rule}")[i].as_py() for rule in votes} == votes


def test_a_given_up_pattern_is_not_searched_again_in_later_batches(policy, monkeypatch, short_timeout):
    monkeypatch.setattr(bounded, "MAX_STUCK_ROWS", 4)
    forks = []
    real_worker = bounded._run_worker
    monkeypatch.setattr(bounded, "_run_worker", lambda *args: forks.append(1) or real_worker(*args))
    rows = [{"prompt": "p", "response": HOSTILE[0]}] * 2000
    start = time.monotonic()
    report = label_dataset(compile_policy(policy).artifact, rows, None, batch_rows=100)
    assert time.monotonic() - start < 30
    # Only `lookahead` is hostile on these rows: 4 stuck rows, 4 workers, then never again.
    assert report.regex_timeouts == {"lookahead": 2000}
    assert len(forks) == 4 + 20  # `lookbehind` answers each of the 20 batches in one worker


def test_one_overrunning_row_abstains_alone(short_timeout):
    import re

    pattern = re.compile(r"^(a+)+(?=b)")
    texts = ["aab", HOSTILE[0], "b", "aaab", HOSTILE[0], ""]
    start = time.monotonic()
    assert bounded.bounded_search(pattern, texts) == [True, None, False, True, None, False]
    assert time.monotonic() - start < 10


def test_a_worker_that_dies_leaves_its_row_without_a_verdict(monkeypatch):
    import os
    import re

    class Deadly:  # stands in for a search that kills the worker (e.g. the kernel's OOM killer)
        pattern, flags = "x", 0

        def search(self, text: str):
            if text == "boom":
                os._exit(9)
            return re.search("x", text)

    assert bounded.bounded_search(Deadly(), ["x", "boom", "y", "xx"]) == [True, None, False, True]


@pytest.mark.slow
def test_a_million_hostile_rows_label_in_bounded_time(policy, tmp_path):
    """1M rows, half of them catastrophic for each fallback pattern, with the shipped limits."""
    n = 1_000_000
    responses = pa.array([text for text, _ in BENIGN] + [HOSTILE[i % 2] for i in range(n - len(BENIGN))])
    pq.write_table(pa.table({"prompt": pa.array(["p"] * n), "response": responses}), tmp_path / "rows.parquet")
    start = time.monotonic()
    report = label_dataset(compile_policy(policy).artifact, tmp_path / "rows.parquet", tmp_path / "labels.parquet")
    elapsed = time.monotonic() - start
    print(f"\n1M hostile rows labeled in {elapsed:.1f}s; time-outs {report.regex_timeouts}")
    assert report.rows == n
    assert sorted(report.regex_timeouts) == sorted(FALLBACK_RULES)
    assert pq.ParquetFile(tmp_path / "labels.parquet").metadata.num_rows == n
    # The given-up patterns cost 2 x 32 x 0.25 s; the rest is ordinary labeling of 1M rows.
    assert elapsed < 600, f"{elapsed:.0f}s"
