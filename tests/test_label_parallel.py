"""Labeling on worker processes and the Arrow JSONL reader give exactly what one process reading
line by line gives: the same labels, spans, bad rows and report, hostile rows included."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenet.compiler.pipeline import compile_policy
from tenet.runtime import jsonl, splits
from tenet.runtime.data import read_batches
from tenet.runtime.label.run import label_dataset

POLICY = """dsl 1
policy parallel version "1"

rule no-secret (high):
  forbid response contains "secret"

rule lists (medium):
  when prompt matches /\\blist\\b/i
  require response matches /^\\s*[-*] /m

rule short (low):
  require response has at most 12 words

rule after-a (low):
  forbid response matches /(?<=a )secret/
"""

# Lines a JSONL reader must keep as rows with a reason (or read as `json` would).
HOSTILE = [
    b'{"prompt": "p", "response": "r"} {"prompt": "q", "response": "s"}',  # two objects, one line
    b'{"prompt": "a", "prompt": "b", "response": "secret"}',  # a repeated key: the last one wins
    b'{"prompt": "\\ud800", "response": "r"}',  # a lone surrogate
    b'{"prompt": "p", "response": "\xff\xfe"}',  # not UTF-8
    b"\xef\xbb\xbf" + b'{"prompt": "p", "response": "a mark mid-file"}',
    b'{"prompt": 3, "response": "r"}', b"[1, 2]", b'"text"', b"{", b"{}", b"NaN",
    b'{"prompt": "p", "response": "r", "n": 1e400}',
    b'{"messages": [{"role": "user", "content": "list it"}, {"role": "assistant", "content": "- a"}]}',
    b'{"prompt": "p", "response": "   "}', b'{"prompt": null, "response": "r"}', b"   ", b"\x0c", b"",
]


def rows_line(rng: random.Random) -> bytes:
    words = rng.choice(["- a\n- b", "a secret", "one two", " ".join(["w"] * 20), "fine"])
    return json.dumps({"prompt": rng.choice(["List it", "Why?"]), "response": words}).encode()


def write_jsonl(path: Path, n: int, seed: int = 0, hostile_every: int = 7) -> Path:
    rng = random.Random(seed)
    lines = [HOSTILE[i // hostile_every % len(HOSTILE)] if i % hostile_every == 0 else rows_line(rng)
             for i in range(n)]
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    return path


def artifact(tmp_path: Path):
    (tmp_path / "p.policy").write_text(POLICY, encoding="utf-8")
    return compile_policy(tmp_path / "p.policy").artifact


def outputs(out: Path) -> tuple[pa.Table, dict]:
    report = json.loads(out.with_name(out.name.removesuffix(".parquet") + ".report.json").read_text())
    for key in ("seconds", "rows_per_second"):
        report.pop(key)
    return pq.read_table(out), report


def test_the_arrow_reader_reads_as_json_does(tmp_path, monkeypatch):
    data = write_jsonl(tmp_path / "rows.jsonl", 3000)
    fast = pa.concat_tables(read_batches(data, batch_rows=500))
    monkeypatch.setattr(jsonl, "arrow_block", lambda *args: None)
    slow = pa.concat_tables(read_batches(data, batch_rows=500))
    assert fast.equals(slow)
    assert fast.num_rows > 2500 and fast.column("bad").null_count < fast.num_rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(HOSTILE + [b'{"prompt": "p", "response": "ok"}']), max_size=12))
def test_any_block_reads_as_json_does(tmp_path, lines):
    block = b"\n".join(lines) + b"\n"
    table = jsonl.arrow_block(block, ("prompt", "response"), "messages")
    if table is not None:
        parsed = [json.loads(line) for line in lines if line.strip()]
        assert table.to_pylist() == [{k: row.get(k) for k in table.column_names} for row in parsed]


def test_two_workers_label_as_one_process(tmp_path, monkeypatch):
    monkeypatch.setattr(splits, "SPLIT_BYTES", 4096)  # many splits, cut mid-file
    policy, data = artifact(tmp_path), write_jsonl(tmp_path / "rows.jsonl", 2500, seed=1)
    label_dataset(policy, data, tmp_path / "one.parquet", workers=1, batch_rows=300)
    label_dataset(policy, data, tmp_path / "two.parquet", workers=2, batch_rows=300)
    one, two = outputs(tmp_path / "one.parquet"), outputs(tmp_path / "two.parquet")
    assert one[0].equals(two[0]) and one[0].schema.metadata == two[0].schema.metadata
    assert one[1] == two[1]
    assert one[0].column("row").to_pylist() == list(range(one[0].num_rows))
    assert one[1]["bad_rows"] > 0


def test_a_folder_of_files_labels_as_its_files_in_order(tmp_path):
    policy = artifact(tmp_path)
    folder = tmp_path / "logs"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", 40, seed=2)
    pq.write_table(pa.table({"prompt": ["List it", "Why?"], "response": ["- a", "a secret"]}), folder / "b.parquet")
    (folder / "c.csv").write_text("prompt,response\nWhy?,fine\nWhy?,\"a\nsecret\"\n", encoding="utf-8")
    (folder / "_SUCCESS").write_text("", encoding="utf-8")
    one = label_dataset(policy, folder, tmp_path / "one.parquet", workers=1)
    two = label_dataset(policy, folder, tmp_path / "two.parquet", workers=2)
    files = [folder / "a.jsonl", folder / "b.parquet", folder / "c.csv"]
    assert one.rows == two.rows == sum(t.num_rows for f in files for t in read_batches(f)) > 40
    assert outputs(tmp_path / "one.parquet") == outputs(tmp_path / "two.parquet")


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_splits_cover_every_line_once(tmp_path, size):
    data = write_jsonl(tmp_path / "rows.jsonl", 300, seed=3)
    parts = splits.plan_splits([data], size)
    assert parts[0].start == 0 and parts[-1].end == data.stat().st_size
    assert all(a.end == b.start for a, b in zip(parts, parts[1:]))
    whole = pa.concat_tables(read_batches(data))
    pieces = [t for s in parts for t in splits.read_split(s)]
    got = pa.concat_tables(pieces).drop_columns(["row"])
    assert got.equals(whole.drop_columns(["row"]))


def test_split_rows_counts_what_a_split_reads(tmp_path):
    data = write_jsonl(tmp_path / "rows.jsonl", 500, seed=4)
    for split in splits.plan_splits([data], 2000):
        assert splits.split_rows(split) == sum(t.num_rows for t in splits.read_split(split))
