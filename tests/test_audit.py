"""`tenet audit` (and `tenet report`) against a real `mlflow server` on 127.0.0.1.

The fixture records four cycles with the layout `runtime/cycle.py` writes, using `Tracker`
and the cycle module's own logging helpers, without training anything:

1. an older cycle without the `tenet.diff.*` / `tenet.model.*` tags: gates pass, version 1 promoted;
2. a diffed cycle (1 breaking, 1 non-breaking change): gates pass, version 2 promoted;
3. a metadata-only change whose model fails the gates: version 3 registered, not promoted;
4. a cycle that fails in its train stage: before-metrics only, no model.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers import run_cli
from mlflow_server import free_port

pytest_plugins = ["mlflow_server"]

POLICY_ID = "audit-demo"
POLICY = """dsl 1
policy audit-demo version "{version}"
  "Support <assistant> policy & friends."

rule short (high):
  "Keep answers <short> & sweet."
  require response has at most 6 words
  example:
    prompt "hello"
    good   "hello world"
    bad    "hello world hello world hello world hello world"

rule no-bad (critical):
  forbid response contains "bad"
  example:
    prompt "hello"
    good   "good"
    bad    "bad"

rule no-script (medium):
  "Never echo <script> tags."
  forbid response contains "<script>"
  example:
    prompt "hello"
    good   "hi there"
    bad    "<script>alert(1)</script>"

prompts:
  template "{{x}} {{y}}" slot x = "hello", "thanks", "please", "sorry" slot y = "world", "help", "today"

training:
  pairs = 16
  max_new_tokens = 8
  eval_max_new_tokens = 8
  eval_prompts = 4
  gate high >= 0.8
  gate drift <= 0.5
"""
RULES = ("short", "no-bad", "no-script")
PAIR_QA = {"candidates": 93, "kept": 80, "dropped": 13,
           "dropped_by_reason": {"length_ratio": 3, "other_rule_flipped": 8, "over_budget": 2},
           "per_strategy": {"examples": {"candidates": 32, "kept": 32, "dropped": {}},
                            "perturb": {"candidates": 61, "kept": 48, "dropped": {"length_ratio": 3}}},
           "per_rule": {}, "shortfall": {"no-script": {"severity": "medium", "kept": 3, "budget": 5}}}
DIFF_2 = [{"rule": "short", "kind": "breaking", "detail": "check: at most 8 words -> at most 6 words"},
          {"rule": "no-script", "kind": "non-breaking", "detail": "new rule <script>alert('x')</script>"}]


@dataclass(frozen=True)
class CycleSpec:
    """What one recorded cycle looks like."""

    version: str
    before: dict[str, float]
    after: dict[str, float] | None  # None: the cycle fails in its train stage
    passed: bool | None = None
    tags: dict[str, str] = field(default_factory=dict)
    diff: list[dict] | None = None
    new_layout: bool = True


def _rates(short: float, no_bad: float, no_script: float) -> dict[str, float]:
    return {"short": short, "no-bad": no_bad, "no-script": no_script}


SPECS = (
    CycleSpec("1", _rates(0.5, 1.0, 0.9), _rates(0.9, 1.0, 0.9), passed=True, new_layout=False),
    CycleSpec("2", _rates(0.4, 1.0, 0.8), _rates(1.0, 1.0, 1.0), passed=True, diff=DIFF_2,
              tags={"tenet.diff.summary": "1 breaking, 1 non-breaking, 0 metadata"}),
    CycleSpec("3", _rates(0.5, 1.0, 0.9), _rates(0.6, 0.9, 0.9), passed=False,
              diff=[{"rule": "short", "kind": "metadata", "detail": "description"}],
              tags={"tenet.diff.summary": "0 breaking, 0 non-breaking, 1 metadata"}),
    CycleSpec("4", _rates(0.5, 1.0, 0.9), None,
              tags={"tenet.diff.summary": "0 breaking, 0 non-breaking, 0 metadata"}),
)


# --- recording cycles the way runtime/cycle.py does -------------------------------------


def compile_demo(directory: Path, version: str):
    """Compile the demo policy at `version` (written to `directory`)."""
    from tenet.compiler.pipeline import compile_policy

    path = directory / f"{POLICY_ID}.policy"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(POLICY.format(version=version), encoding="utf-8")
    result = compile_policy(str(path))
    assert result.ok, result.diagnostics
    return result.artifact


def compliance(rules, rates: dict[str, float]):
    """A Compliance with 100 decisive votes per rule at the given rates (the first prompts kept), pooled per severity."""
    from tenet.runtime.evaluate import SEVERITIES, Compliance

    n = 100
    votes = {r.id: {"good": round(n * rates[r.id]), "bad": n - round(n * rates[r.id]), "abstain": 2}
             for r in rules}

    def pooled(ids):
        good, bad = sum(votes[i]["good"] for i in ids), sum(votes[i]["bad"] for i in ids)
        return good / (good + bad) if good + bad else None

    per_severity = {s: pooled([r.id for r in rules if r.severity == s]) for s in SEVERITIES}
    per_rule = {r.id: votes[r.id]["good"] / n for r in rules}
    outcomes = {r.id: {f"p{i}": int(i < votes[r.id]["good"]) for i in range(n)} for r in rules}
    return Compliance(per_rule, per_severity, pooled(list(votes)), votes, [("hello world", "hi")],
                      severities={r.id: r.severity for r in rules}, outcomes=outcomes,
                      instructions={f"i{i}": 1 for i in range(16)})


def write_data(folder: Path, salt: str) -> None:
    """The synthesize stage's Parquet files and pair QA report."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    pairs = {"prompt": ["hello", salt], "chosen": ["hi", "ok"], "rejected": ["bad", "bad bad"]}
    pd.DataFrame(pairs).to_parquet(folder / "pairs.parquet")
    pd.DataFrame({"prompt": ["hello"], "completion": [salt], "label": [True]}).to_parquet(
        folder / "unpaired.parquet")
    pd.DataFrame({"prompt": ["thanks help", salt]}).to_parquet(folder / "eval_prompts.parquet")
    (folder / "pair_qa.json").write_text(json.dumps(PAIR_QA), encoding="utf-8")


def record_cycle(tracker, work: Path, spec: CycleSpec, champion_run: str | None) -> str:
    """Record one cycle's parent and stage runs, metrics, datasets, artifacts and model version."""
    from tenet.runtime.cycle_log import compliance_report, log_compliance, log_policy
    from tenet.runtime.gates import check_gates

    artifact = compile_demo(work / "policy", spec.version)
    rules = artifact.ir.rules
    params = {"policy.id": POLICY_ID, "policy.version": spec.version, "policy.hash": artifact.policy_hash,
              "plan.hash": artifact.plan_hash, "plan.base_model": "tiny", "plan.method": "dpo"}
    tags = {"tenet.compiler": artifact.compiler_version}
    if spec.new_layout:
        tags.update({"tenet.policy.version": spec.version, "tenet.git.commit": f"c0ffee{spec.version}",
                     **spec.tags, **({"tenet.diff.parent_run": champion_run} if champion_run else {})})
    name = f"{POLICY_ID}@{spec.version}"
    with contextlib.suppress(RuntimeError), tracker.cycle(name, params, tags) as run_id:
        log_policy(tracker, artifact, work)
        if spec.diff is not None:
            tracker.mlflow.log_dict(spec.diff, "policy/diff.json")
        with tracker.stage("label"):
            pass
        with tracker.stage("synthesize"):
            write_data(work / "pairs", spec.version)
            for name in ("pairs", "unpaired", "eval_prompts"):
                tracker.log_dataset(work / "pairs" / f"{name}.parquet", name,
                                    "training" if name != "eval_prompts" else "evaluation")
            tracker.mlflow.log_artifact(str(work / "pairs" / "pair_qa.json"), "reports")
            tracker.mlflow.log_metric("pairs.kept", PAIR_QA["kept"])
        before = compliance(rules, spec.before)
        with tracker.stage("evaluate-before"):
            log_compliance(tracker, "before", before)
        with tracker.stage("train"):
            tracker.mlflow.log_metric("train.loss", 0.42)
            if spec.after is None:
                raise RuntimeError("out of memory")
        after = compliance(rules, spec.after)
        with tracker.stage("evaluate-after"):
            log_compliance(tracker, "after", after)
            tracker.mlflow.log_metric("drift.kl", 0.05)
        with tracker.stage("gate"):
            gates = check_gates(artifact.ir.training.gates, before, after, 0.05)
            passed = all(g.passed for g in gates)
            assert passed is spec.passed, [g.detail for g in gates]
            for g in gates:
                target = g.gate.target + (f".{g.gate.rule}" if g.gate.rule else "")
                tracker.mlflow.log_metric(f"gate.{target}.passed", float(g.passed))
            tracker.mlflow.set_tag("tenet.gates", "passed" if passed else "failed")
            tracker.mlflow.log_artifact(str(compliance_report(rules, before, after, gates, work)), "reports")
        with tracker.stage("register"):
            model = _tiny_model(work.parent / "tiny-llama")
            version = tracker.register(run_id, model, POLICY_ID, {"policy.version": spec.version,
                                                                  "policy.hash": artifact.policy_hash,
                                                                  "gates": "passed" if passed else "failed"})
            if passed:
                tracker.promote(POLICY_ID, version, "champion", actor="tenet compile-and-train",
                                reason=f"all {len(gates)} gates passed")
        if spec.new_layout:
            tracker.client.set_tag(run_id, "tenet.model.version", version)
            tracker.client.set_tag(run_id, "tenet.promoted", "true" if passed else "false")
    return run_id


def _tiny_model(folder: Path) -> Path:
    """A tiny random Llama to register (built once per work folder): a version is a real model."""
    from tiny_models import build_tiny_llama

    return folder if (folder / "config.json").exists() else build_tiny_llama(folder)


def record_all(tracker, tmp: Path) -> list[str]:
    """Record every cycle of SPECS, oldest first; returns their run ids."""
    run_ids: list[str] = []
    champion = None
    for i, spec in enumerate(SPECS):
        run_ids.append(record_cycle(tracker, tmp / f"cycle{i + 1}", spec, champion))
        if spec.passed:
            champion = run_ids[-1]
    return run_ids


@pytest.fixture(scope="module")
def server(mlflow_server):
    """The shared server fixture under this module's name."""
    return mlflow_server


@pytest.fixture(scope="module")
def recorded(server):
    """The four cycles, recorded through the server; returns (url, run ids, work folder)."""
    from mlflow import MlflowClient

    from tenet.runtime.track import Tracker

    url, tmp = server
    # Created without an artifact location, the experiment stores artifacts behind the
    # server (mlflow-artifacts:/), so reading them back goes through its proxy as it would remotely.
    MlflowClient(url).create_experiment(f"tenet/{POLICY_ID}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", url)
        tracker = Tracker(POLICY_ID, tmp / "work")
        run_ids = record_all(tracker, tmp / "work")
    assert tracker.client.get_run(run_ids[0]).info.artifact_uri.startswith("mlflow-artifacts:")
    return url, run_ids, tmp / "work"


def audit(url: str, *args: str) -> tuple[int, str, str]:
    """Run `tenet audit` against the server."""
    return run_cli(["audit", POLICY_ID, "--tracking-uri", url, *args])


# --- the cycle table --------------------------------------------------------------------------


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of a text table as dicts (columns are separated by two or more spaces)."""
    header, *rows = text.strip().splitlines()
    names = re.split(r"\s{2,}", header.strip())
    return [dict(zip(names, re.split(r"\s{2,}", row.strip()))) for row in rows]


def test_cycle_table_lists_every_cycle_newest_last(recorded):
    url, run_ids, _ = recorded
    code, out, err = audit(url)
    assert code == 0, err
    rows = parse_table(out)
    assert list(rows[0]) == ["date (UTC)", "run", "status", "version", "diff", "model", "critical", "high",
                             "medium", "low", "gates", "promoted"]
    assert [r["run"] for r in rows] == [rid[:8] for rid in run_ids]
    assert [r["version"] for r in rows] == ["1", "2", "3", "4"]
    # The older cycle has no tenet.diff/model tags: "-" for its diff, the registry for its model.
    assert [r["diff"] for r in rows] == ["-", *(s.tags["tenet.diff.summary"] for s in SPECS[1:])]
    assert [r["model"] for r in rows] == ["1", "2", "3", "-"]
    assert [r["gates"] for r in rows] == ["passed", "passed", "failed", "-"]
    assert [r["promoted"] for r in rows] == ["yes", "yes", "no", "-"]
    assert [r["status"] for r in rows] == ["finished", "finished", "finished", "failed"]
    assert [r["high"] for r in rows] == ["50→90%", "40→100%", "50→60%", "50→-"]
    assert [r["critical"] for r in rows] == ["100→100%", "100→100%", "100→90%", "100→-"]
    assert {r["low"] for r in rows} == {"-"}  # the policy has no low rule
    assert rows[0]["date (UTC)"] <= rows[-1]["date (UTC)"]


def test_cycle_table_as_json(recorded):
    url, run_ids, work = recorded
    code, out, err = audit(url, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    cycles = data["cycles"]
    assert data["policy"] == POLICY_ID and [c["run_id"] for c in cycles] == run_ids
    assert [c["model_version"] for c in cycles] == ["1", "2", "3", None]
    assert [c["promoted"] for c in cycles] == [True, True, False, None]
    assert [c["gates"] for c in cycles] == ["passed", "passed", "failed", None]
    assert [c["status"] for c in cycles] == ["FINISHED"] * 3 + ["FAILED"]
    assert cycles[0]["diff_summary"] is None and cycles[0]["git_commit"] is None
    assert cycles[1]["diff_parent_run"] == run_ids[0] and cycles[1]["git_commit"] == "c0ffee2"
    assert cycles[1]["metrics"]["before.severity.high"] == pytest.approx(0.4)
    assert cycles[1]["metrics"]["after.rule.no-script"] == pytest.approx(1.0)
    assert [s["name"] for s in cycles[1]["stages"]] == ["label", "synthesize", "evaluate-before", "train",
                                                        "evaluate-after", "gate", "register"]
    assert [s["status"] for s in cycles[3]["stages"]][-1] == "FAILED"


# --- lineage ---------------------------------------------------------------------------------


def test_lineage_of_a_version_is_the_same_by_number_and_by_alias(recorded):
    url, run_ids, work = recorded
    from tenet.runtime.track import file_sha256

    by_number = json.loads(audit(url, "--model", f"{POLICY_ID}/2", "--format", "json")[1])
    code, out, err = audit(url, "--model", f"{POLICY_ID}@champion", "--format", "json")
    assert code == 0, err
    by_alias = json.loads(out)
    assert by_alias == by_number
    assert by_alias["version"] == "2" and by_alias["aliases"] == ["champion"]
    assert [(p["previous"], p["version"]) for p in by_alias["promotions"]] == [("1", "2")]
    cycle = by_alias["cycle"]
    assert cycle["run_id"] == run_ids[1] and cycle["diff_parent_run"] == run_ids[0]
    assert {"policy/artifact.json", f"policy/sources/{POLICY_ID}.policy", "policy/plan.txt",
            "policy/diff.json"} <= set(by_alias["policy_files"])
    assert "register" in by_alias["plan"] and "gate" in by_alias["plan"]
    digests = {d["name"]: d["sha256"] for d in cycle["datasets"]}
    assert digests == {n: file_sha256(work / "cycle2" / "pairs" / f"{n}.parquet")
                       for n in ("pairs", "unpaired", "eval_prompts")}
    assert {d["digest"] for d in cycle["datasets"]} == {v[:32] for v in digests.values()}
    rows = {c["key"]: (c["before"], c["after"]) for c in by_alias["comparisons"]}
    assert rows["rule.short"] == pytest.approx((0.4, 1.0))
    assert "severity.critical" in rows and "overall" in rows
    assert [d["kind"] for d in by_alias["diff"]] == ["breaking", "non-breaking"]
    assert len(cycle["stages"]) == 7 and all(s["status"] == "FINISHED" for s in cycle["stages"])


def test_lineage_as_text(recorded):
    url, run_ids, _ = recorded
    code, out, err = audit(url, "--model", f"{POLICY_ID}/3")
    assert code == 0, err
    assert out.startswith(f"model {POLICY_ID}/3, registered ")
    for text in (f"cycle run {run_ids[2]}", "policy/sources/audit-demo.policy", "datasets:", "pairs ",
                 "sha256 ", "plan:", "rule.short", "gates: failed", "stage runs:", "evaluate-after",
                 "diff: 0 breaking, 0 non-breaking, 1 metadata", "git commit c0ffee3", "tag gates = failed"):
        assert text in out, text


# --- one rule ----------------------------------------------------------------------------------


def test_rule_history_across_cycles(recorded):
    url, run_ids, _ = recorded
    code, out, err = audit(url, "--rule", "short", "--format", "json")
    assert code == 0, err
    points = json.loads(out)["cycles"]
    assert [p["run_id"] for p in points] == run_ids
    assert [(p["before"], p["after"]) for p in points] == [(0.5, 0.9), (0.4, 1.0), (0.5, 0.6), (0.5, None)]
    assert [p["change"] for p in points] == [None, "breaking", "metadata", None]
    code, out, _ = audit(url, "--rule", "short")
    title, table = out.split("\n", 1)
    assert title.startswith("rule short of policy audit-demo")
    rows = parse_table(table)
    assert [(r["before"], r["after"], r["change"]) for r in rows] == [
        ("50%", "90%", "+40 pts"), ("40%", "100%", "+60 pts"), ("50%", "60%", "+10 pts"), ("50%", "-", "-")]
    assert [r["rule diff"] for r in rows] == ["-", "breaking", "metadata", "-"]
    assert [r["model"] for r in rows] == ["1", "2", "3", "-"]


# --- errors --------------------------------------------------------------------------------------


def test_unknown_policy_names_the_store_and_the_known_policies(recorded):
    url, _, _ = recorded
    code, out, err = run_cli(["audit", "nope", "--tracking-uri", url])
    assert code == 2 and out == ""
    assert f"error: no cycles recorded for policy nope in {url}" in err
    assert f"hint: policies recorded there: {POLICY_ID}" in err and "Traceback" not in err


@pytest.mark.parametrize(("ref", "message"), [
    (f"{POLICY_ID}/99", f"no registered model version {POLICY_ID}/99"),
    (f"{POLICY_ID}@nobody", f"no registered model version {POLICY_ID}@nobody"),
    (POLICY_ID, f"cannot read model reference '{POLICY_ID}'"),
])
def test_bad_model_references(recorded, ref, message):
    url, _, _ = recorded
    code, _, err = audit(url, "--model", ref)
    assert code == 2 and message in err and "hint: " in err


def test_unknown_rule_lists_the_rules(recorded):
    url, _, _ = recorded
    code, _, err = audit(url, "--rule", "nope")
    assert code == 2 and "no compliance recorded for rule nope" in err and "no-bad, no-script, short" in err


def test_env_tracking_uri_and_policy_file(recorded, monkeypatch, tmp_path):
    url, run_ids, work = recorded
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    code, out, err = run_cli(["audit", str(work / "cycle1" / "policy" / f"{POLICY_ID}.policy"),
                              "--work-dir", str(tmp_path / "ignored")])
    assert code == 0, err
    assert run_ids[-1][:8] in out and not (tmp_path / "ignored").exists()


def test_unreachable_server_and_missing_store_are_clean_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, _, err = run_cli(["audit", POLICY_ID, "--tracking-uri", f"http://127.0.0.1:{free_port()}"])
    assert code == 2 and "cannot reach the tracking server http://127.0.0.1:" in err
    code, _, err = run_cli(["audit", POLICY_ID, "--work-dir", str(tmp_path / "work")])
    assert code == 2 and f"no tracking store at sqlite:///{tmp_path / 'work' / 'mlflow.db'}" in err
    assert not (tmp_path / "work").exists()  # a read leaves nothing behind


def test_tracking_uri_resolution_matches_the_tracker(tmp_path, monkeypatch):
    from tenet.runtime.audit import display_uri, resolve_tracking_uri
    from tenet.runtime.track import tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None, tmp_path) == tracking_uri(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://example.invalid:5000")
    assert resolve_tracking_uri(None, tmp_path) == tracking_uri(tmp_path) == "http://example.invalid:5000"
    assert resolve_tracking_uri("sqlite:////x.db", tmp_path) == "sqlite:////x.db"
    assert display_uri("https://me:secret@mlflow.example.com:8443/x") == "https://mlflow.example.com:8443/x"


# --- the report, read through the server ------------------------------------------------------


def test_report_reads_artifacts_through_the_server(recorded, tmp_path):
    url, run_ids, work = recorded
    from tenet.runtime.track import file_sha256

    out_file = tmp_path / "report.html"
    code, out, err = run_cli(["report", POLICY_ID, "--tracking-uri", url, "--run", run_ids[1][:10],
                              "--out", str(out_file)])
    assert code == 0, err
    assert out.startswith(f"wrote {out_file} (policy {POLICY_ID} 2, run {run_ids[1][:8]}, 3 rules, "
                          "gates passed)")
    page = out_file.read_text(encoding="utf-8")
    assert "new rule &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page  # diff.json, escaped
    assert file_sha256(work / "cycle2" / "pairs" / "pairs.parquet") in page
    assert '<dl class="facts" id="pair-qa"><dt>candidates</dt><dd>93</dd>' in page
    assert page.count('class="bar ') == 2 * len(RULES)
