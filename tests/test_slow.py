"""Long campaigns, run by `make test-slow` (not by `make test`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_robustness import (CORPUS, CompileClock, assert_well_formed, copy_of, generated_or_mutated, mutants,
                             workdir)  # noqa: F401 - `workdir` is a fixture, used by name

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


CAMPAIGN_EXAMPLES = 10_000


@st.composite
def byte_edits(draw: st.DrawFn) -> tuple[Path, bytes]:
    """A corpus policy with up to 8 raw edits: random bytes inserted, slices deleted, bytes flipped."""
    source = draw(st.sampled_from(CORPUS))
    raw = bytearray(source.read_bytes())
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["insert", "delete", "flip"]))
        if op == "insert":
            raw[pos:pos] = draw(st.binary(min_size=1, max_size=12))
        elif op == "delete":
            del raw[pos:pos + draw(st.integers(1, 60))]
        elif pos < len(raw):
            raw[pos] = draw(st.integers(0, 255))
    return source, bytes(raw)


def test_10k_generated_and_mutated_policies_never_crash_or_stall(workdir: Path) -> None:
    """10,000 policies (generated from the grammar, mutated, or corpus files edited) each give an
    artifact or diagnostics, and none takes a second of CPU to compile."""
    clock, kinds = CompileClock(), Counter()
    (workdir / "generated").mkdir(exist_ok=True)

    @settings(max_examples=CAMPAIGN_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(generated_or_mutated().map(lambda data: ("generated", None, data)),
                          mutants().map(lambda m: ("token edits", *m)),
                          byte_edits().map(lambda m: ("byte edits", *m))))
    def one(case: tuple[str, Path | None, bytes]) -> None:
        kind, original, data = case
        # Mutants sit beside their original, so its imports still resolve.
        path = workdir / "generated" / "g.policy" if original is None else \
            copy_of(original, workdir).with_name("zz-campaign.policy")
        path.write_bytes(data)
        assert_well_formed(clock.compile(path))
        kinds[kind] += 1

    start = time.monotonic()
    one()
    print(f"\ncampaign: {clock.count} compiles ({dict(kinds)}) in {time.monotonic() - start:.0f}s wall, "
          f"{clock.total:.0f}s CPU compiling; slowest {clock.slowest:.3f}s CPU")
    assert clock.count >= CAMPAIGN_EXAMPLES
    assert clock.slowest < CompileClock.LIMIT_S


MILLION = """
import json, resource, sys, tempfile
sys.path.insert(0, {repo!r})
sys.path.insert(0, {bench!r})
import pyarrow as pa, pyarrow.parquet as pq
from label_throughput import POLICY, generate_rows
from tenet.compiler.pipeline import compile_policy
from tenet.runtime.label.run import label_dataset
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
