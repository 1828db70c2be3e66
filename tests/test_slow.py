"""Long campaigns, run by `make test-slow` (not by `make test`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.pipeline import Compilation, compile_policy

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted((REPO / "policies").rglob("*.policy"))

pytestmark = pytest.mark.slow


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_shipped_policies_never_crash(tmp_path_factory, data) -> None:
    """Random byte edits of the shipped policies give an artifact or diagnostics, never an exception."""
    source = data.draw(st.sampled_from(SHIPPED))
    raw = bytearray(source.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw)))
        op = data.draw(st.sampled_from(["insert", "delete", "flip"]))
        if op == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=12))
        elif op == "delete":
            del raw[pos:pos + data.draw(st.integers(1, 60))]
        elif pos < len(raw):
            raw[pos] = data.draw(st.integers(0, 255))
    target = tmp_path_factory.mktemp("mut") / source.name
    target.write_bytes(bytes(raw))
    result = compile_policy(target, root=source.parent)
    assert isinstance(result, Compilation)
    assert result.ok or result.diagnostics


MILLION = """
import json, resource, sys, tempfile
sys.path.insert(0, {repo!r})
sys.path.insert(0, {bench!r})
import pyarrow as pa, pyarrow.parquet as pq
from label_throughput import POLICY, generate_rows
from compiler.pipeline import compile_policy
from runtime.label.run import label_dataset
with tempfile.TemporaryDirectory() as tmp:
    rows = generate_rows(200_000, seed=5)
    writer = None
    for part in range(5):  # 1M rows written in parts so the writer itself stays small
        table = pa.Table.from_pylist(rows)
        writer = writer or pq.ParquetWriter(tmp + "/rows.parquet", table.schema)
        writer.write_table(table)
    writer.close()
    del rows, table
    report = label_dataset(compile_policy(POLICY).artifact, tmp + "/rows.parquet", tmp + "/labels.parquet")
    print(json.dumps({{"rows": report.rows, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def test_million_rows_stream_under_4_gb() -> None:
    """Labeling 1M rows streams in batches: peak RSS stays under 4 GB."""
    code = MILLION.format(repo=str(REPO), bench=str(REPO / "bench"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rows"] == 1_000_000
    assert result["peak_rss_mb"] < 4096, result
