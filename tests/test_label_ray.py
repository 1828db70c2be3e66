"""`tenet label --engine ray` on a local Ray cluster of 2 CPUs gives the local engine's labels and report."""

from __future__ import annotations


import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import run_cli
from test_label_parallel import POLICY, artifact, outputs, write_jsonl
from tenet.runtime import splits
from tenet.runtime.label.run import label_dataset

ray = pytest.importorskip("ray")


def shards(folder: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted(folder.glob("part-*.parquet"))])


def test_two_ray_workers_label_as_the_local_engine(tmp_path, cluster, monkeypatch):
    monkeypatch.setattr(splits, "SPLIT_BYTES", 8192)  # several splits of one file, hostile rows in each
    policy = artifact(tmp_path)
    folder = tmp_path / "logs"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", 1200, seed=5)
    pq.write_table(pa.table({"prompt": ["List it"] * 3, "response": ["- a", "a secret", None]}), folder / "b.parquet")
    (folder / "c.csv").write_text("prompt,response\nWhy?,fine\nWhy?,\"a\nsecret\"\nragged\n", encoding="utf-8")
    label_dataset(policy, folder, tmp_path / "local.parquet", workers=1)
    report = label_dataset(policy, folder, tmp_path / "ray", engine="ray", workers=2)
    local, local_report = outputs(tmp_path / "local.parquet")
    ray_report = json.loads((tmp_path / "ray.report.json").read_text())  # beside the folder, as locally
    for key in ("seconds", "rows_per_second"):
        ray_report.pop(key)
    labels = shards(tmp_path / "ray")
    assert len(list((tmp_path / "ray").glob("part-*.parquet"))) > 2
    assert labels.equals(local) and labels.schema.metadata == local.schema.metadata
    assert ray_report == local_report and report.rows == local.num_rows
    assert local_report["bad_rows"] > 0


def test_the_cli_labels_on_ray_and_prints_the_same_summary(tmp_path, cluster):
    (tmp_path / "p.policy").write_text(POLICY, encoding="utf-8")
    data = write_jsonl(tmp_path / "rows.jsonl", 300, seed=6)
    code, out, err = run_cli(["label", str(tmp_path / "p.policy"), str(data), "--out", str(tmp_path / "ray"),
                              "--engine", "ray", "--format", "json"])
    assert code == 0, err
    summary = json.loads(out)
    assert summary["rows"] == 300 - sum(1 for line in data.read_bytes().split(b"\n") if not line.strip()) + 1
    assert shards(tmp_path / "ray").num_rows == summary["rows"]


def test_the_ray_engine_refuses_what_it_cannot_read(tmp_path, cluster):
    (tmp_path / "p.policy").write_text(POLICY, encoding="utf-8")
    code, _, err = run_cli(["label", str(tmp_path / "p.policy"), "hf://org/name", "--out", str(tmp_path / "o"),
                            "--engine", "ray"])
    assert code == 2 and "error:" in err and "Traceback" not in err
    assert ".jsonl, .csv and .parquet" in err


def test_without_ray_the_error_names_the_scale_extra(tmp_path, monkeypatch):
    (tmp_path / "p.policy").write_text(POLICY, encoding="utf-8")
    data = write_jsonl(tmp_path / "rows.jsonl", 10)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    code, _, err = run_cli(["label", str(tmp_path / "p.policy"), str(data), "--out", str(tmp_path / "o"),
                            "--engine", "ray"])
    assert code == 2
    assert err.strip().count("\n") == 0 and "scale" in err and "Traceback" not in err, err


def test_rules_with_models_label_on_the_actors_as_locally(tmp_path, cluster):
    """Every actor loads its own scorer (VADER here) and votes as the local engine does."""
    body = POLICY + '\nrule warm (medium):\n  require sentiment(response) >= 0.25 or response mentions "refund"\n'
    (tmp_path / "p.policy").write_text(body, encoding="utf-8")
    data = write_jsonl(tmp_path / "rows.jsonl", 400, seed=7)
    for engine, out in (("local", "local.parquet"), ("ray", "ray")):
        code, _, err = run_cli(["label", str(tmp_path / "p.policy"), str(data), "--out", str(tmp_path / out),
                                "--engine", engine, "--workers", "2"])
        assert code == 0, err
    local, report = outputs(tmp_path / "local.parquet")
    assert shards(tmp_path / "ray").equals(local)
    assert "vote__warm" in local.column_names and report["rows"] == local.num_rows


def test_the_shard_folder_replaces_what_was_at_out(tmp_path, cluster):
    policy, data = artifact(tmp_path), write_jsonl(tmp_path / "rows.jsonl", 50)
    (tmp_path / "out").write_text("an earlier file", encoding="utf-8")
    label_dataset(policy, data, tmp_path / "out", engine="ray")
    label_dataset(policy, data, tmp_path / "out", engine="ray")  # and again, over the folder
    assert shards(tmp_path / "out").num_rows == label_dataset(policy, data, None).rows == 50
    assert not list(tmp_path.glob(".out.*"))  # no staging folder left behind
