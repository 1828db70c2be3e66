"""Malformed data through `tenet label`: every row comes out, labeled or with a bad-row reason.

The contract (runtime/data/): a row that cannot be labeled is kept in the output with its
reason in `bad`, so rows in == rows out and the report counts bad rows by reason. A file
that cannot be read at all is one clear error (exit 2) and leaves no output behind.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import run_cli, write_policy
from tenet.runtime.data import readers
from tenet.runtime.data import BAD_REASONS

POLICY = 'dsl 1\npolicy data version "1"\n\nrule no-secret (high):\n  forbid response contains "secret"\n'
TEN_MB = "x" * (10 << 20)
BOM = b"\xef\xbb\xbf"


def label(tmp_path: Path, source: Path) -> tuple[int, str, str]:
    """Run `tenet label` on `source`; return (exit code, stdout, stderr)."""
    policy = write_policy(tmp_path, "data.policy", POLICY)
    return run_cli(["label", str(policy), str(source), "--out", str(tmp_path / "out.parquet")])


def labeled(tmp_path: Path, source: Path, rows_in: int) -> list[str | None]:
    """Label `source`, check that every row came out and was counted; return the bad column."""
    code, out, err = label(tmp_path, source)
    assert code == 0, err
    assert "Traceback" not in out + err
    table = pq.read_table(tmp_path / "out.parquet")
    report = json.loads((tmp_path / "out.report.json").read_text())
    bad = table.column("bad").to_pylist()
    assert table.num_rows == report["rows"] == rows_in
    assert report["bad_rows"] == sum(b is not None for b in bad)
    assert report["bad_by_reason"] == dict(Counter(b for b in bad if b is not None))
    assert all(b is None or b in BAD_REASONS for b in bad)
    return bad


def fails_cleanly(tmp_path: Path, source: Path, *phrases: str) -> str:
    """Label `source`, expecting one clear error line, exit 2 and no output."""
    code, out, err = label(tmp_path, source)
    assert code == 2, (out, err)
    assert err.count("error: ") == 1, err
    assert "Traceback" not in err and "--debug" not in err
    for phrase in phrases:
        assert phrase in err
    assert not (tmp_path / "out.parquet").exists()
    assert not list(tmp_path.glob(".out.parquet.*"))  # no half-written temp file either
    return err


def jsonl(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def ok_line(response: str = "fine") -> bytes:
    return json.dumps({"prompt": "p", "response": response}).encode()


# --- wrong types --------------------------------------------------------------------------------


def test_wrong_types_in_jsonl_are_non_text_or_missing(tmp_path):
    values = [{"a": 1}, [1, 2], True, 3.5, None, float("nan")]
    lines = [ok_line()] + [json.dumps({"prompt": "p", "response": v}).encode() for v in values]
    lines += [json.dumps({"prompt": v, "response": "r"}).encode() for v in values[:4]]
    bad = labeled(tmp_path, jsonl(tmp_path / "types.jsonl", lines), len(lines))
    assert bad == [None, "non_text", "non_text", "non_text", "non_text", "missing_field", "non_text",
                   "non_text", "bad_messages", "non_text", "non_text"]


def test_wrong_types_in_parquet_are_non_text_or_missing(tmp_path):
    table = pa.table({"prompt": pa.array([1, 2, 3], pa.int64()),
                      "response": pa.array([b"bytes", None, b"\xff"], pa.binary())})
    pq.write_table(table, tmp_path / "types.parquet")
    assert labeled(tmp_path, tmp_path / "types.parquet", 3) == ["non_text", "missing_field", "non_text"]


# --- invalid UTF-8 ------------------------------------------------------------------------------


def test_invalid_utf8_in_jsonl_is_one_bad_row(tmp_path):
    lines = [ok_line(), b'{"prompt": "p", "response": "caf\xe9"}', ok_line("also fine")]
    assert labeled(tmp_path, jsonl(tmp_path / "latin1.jsonl", lines), 3) == [None, "invalid_text", None]


def test_jsonl_of_only_unparsable_lines_is_bad_rows_not_a_bad_file(tmp_path):
    """Regression: a file whose first batch held no object was refused as 'rows are not objects'."""
    lines = [b'{"prompt": "p", "response": "caf\xe9"}', b"not json", b"[" * 100_000, b'"a string"']
    bad = labeled(tmp_path, jsonl(tmp_path / "junk.jsonl", lines), 4)
    assert bad == ["invalid_text", "malformed_row", "malformed_row", "malformed_row"]


def test_invalid_utf8_in_csv_is_one_bad_row(tmp_path):
    (tmp_path / "latin1.csv").write_bytes(b"prompt,response\np,fine\np,caf\xe9\np,ok\n")
    assert labeled(tmp_path, tmp_path / "latin1.csv", 3) == [None, "invalid_text", None]


def test_csv_header_that_is_not_utf8_is_a_clear_error(tmp_path):
    """Regression: this raised UnicodeDecodeError from inside the CSV reader."""
    (tmp_path / "header.csv").write_bytes(b"prompt,resp\xffonse\np,r\n")
    fails_cleanly(tmp_path, tmp_path / "header.csv", "header line is not valid UTF-8")


def test_byte_order_marks_are_not_part_of_the_data(tmp_path):
    """Regression: a JSONL file saved with a BOM lost its first row as malformed."""
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + ok_line() + b"\n")
    assert labeled(tmp_path, tmp_path / "bom.jsonl", 1) == [None]
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfprompt,response\np,r\n")
    assert labeled(tmp_path, tmp_path / "bom.csv", 1) == [None]


# --- huge strings -------------------------------------------------------------------------------


def test_10_mb_string_in_jsonl_is_oversized(tmp_path):
    lines = [ok_line(), ok_line(TEN_MB).replace(b'"p"', b'"big"'), ok_line()]
    assert labeled(tmp_path, jsonl(tmp_path / "big.jsonl", lines), 3) == [None, "oversized", None]


def test_10_mb_string_in_csv_is_oversized(tmp_path):
    """Regression: a cell larger than the reader's 4 MB block failed the whole file."""
    (tmp_path / "big.csv").write_text(f"prompt,response\np,fine\np,{TEN_MB}\np,ok\n", encoding="utf-8")
    assert labeled(tmp_path, tmp_path / "big.csv", 3) == [None, "oversized", None]


def test_10_mb_string_in_parquet_is_oversized(tmp_path):
    pq.write_table(pa.table({"prompt": ["p", "p"], "response": [TEN_MB, "fine"]}), tmp_path / "big.parquet")
    assert labeled(tmp_path, tmp_path / "big.parquet", 2) == ["oversized", None]


def test_jsonl_line_over_the_record_limit_is_skipped_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_RECORD_BYTES", 1000)
    lines = [ok_line(), ok_line("y" * 5000), ok_line("after")]
    assert labeled(tmp_path, jsonl(tmp_path / "long.jsonl", lines), 3) == [None, "oversized", None]
    assert pq.read_table(tmp_path / "out.parquet").column("response").to_pylist()[2] == "after"


# --- missing columns and fields -----------------------------------------------------------------


def test_missing_fields_in_some_rows_are_bad_rows(tmp_path):
    lines = [ok_line(), b'{"prompt": "p"}', b'{"response": "r"}', b"{}"]
    bad = labeled(tmp_path, jsonl(tmp_path / "missing.jsonl", lines), 4)
    assert bad == [None, "missing_field", "missing_field", "missing_field"]


@pytest.mark.parametrize("name", ["qa.csv", "qa.parquet"])
def test_missing_columns_in_a_whole_file_are_a_clear_error(tmp_path, name):
    table = pa.table({"question": ["q"], "answer": ["a"]})
    if name.endswith(".csv"):
        (tmp_path / name).write_text("question,answer\nq,a\n", encoding="utf-8")
    else:
        pq.write_table(table, tmp_path / name)
    fails_cleanly(tmp_path, tmp_path / name, "found: question, answer", "--columns")


def test_csv_with_a_repeated_column_is_a_clear_error(tmp_path):
    """Regression: this raised KeyError from inside the CSV reader."""
    (tmp_path / "dup.csv").write_text("prompt,response,prompt\np,r,q\n", encoding="utf-8")
    fails_cleanly(tmp_path, tmp_path / "dup.csv", "repeats 'prompt'")


def test_csv_rows_with_the_wrong_field_count_are_kept_even_when_all_are(tmp_path):
    """Regression: with no well-formed row at all, the ragged rows were silently dropped."""
    (tmp_path / "ragged.csv").write_text("prompt,response\na,b,c\nd\n", encoding="utf-8")
    assert labeled(tmp_path, tmp_path / "ragged.csv", 2) == ["malformed_row", "malformed_row"]


def test_csv_with_blank_lines_before_the_header_keeps_its_rows(tmp_path):
    """Regression: a blank first line made the whole file read as empty."""
    (tmp_path / "blank.csv").write_text("\n\nprompt,response\np,r\n", encoding="utf-8")
    assert labeled(tmp_path, tmp_path / "blank.csv", 1) == [None]


def test_csv_unterminated_quote_is_one_malformed_row(tmp_path):
    (tmp_path / "quote.csv").write_text('prompt,response\np,fine\n"p,r\nq,s\n', encoding="utf-8")
    assert labeled(tmp_path, tmp_path / "quote.csv", 2) == [None, "malformed_row"]


# --- empty, truncated and unreadable files ------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.csv"])
def test_empty_text_files_give_an_empty_typed_output(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    assert labeled(tmp_path, tmp_path / name, 0) == []


def test_empty_parquet_file_is_a_clear_error(tmp_path):
    (tmp_path / "empty.parquet").write_bytes(b"")
    fails_cleanly(tmp_path, tmp_path / "empty.parquet", "cannot read Parquet file", "0 bytes")


def ten_row_groups(path: Path) -> bytes:
    table = pa.table({"prompt": ["p"] * 1000, "response": [f"r{i}" for i in range(1000)]})
    pq.write_table(table, path, row_group_size=100)
    return path.read_bytes()


def test_truncated_parquet_is_a_clear_error(tmp_path):
    raw = ten_row_groups(tmp_path / "whole.parquet")
    (tmp_path / "cut.parquet").write_bytes(raw[: len(raw) // 2])
    fails_cleanly(tmp_path, tmp_path / "cut.parquet", "cannot read Parquet file", "magic bytes")


def test_parquet_with_a_corrupt_page_is_a_clear_error(tmp_path):
    """Regression: an unreadable page raised OSError, reported as 'cannot write OUT'."""
    raw = bytearray(ten_row_groups(tmp_path / "whole.parquet"))
    raw[200:2000] = b"\xab" * 1800  # the footer survives; the first row group's pages do not
    (tmp_path / "corrupt.parquet").write_bytes(bytes(raw))
    err = fails_cleanly(tmp_path, tmp_path / "corrupt.parquet", "cannot read Parquet file", "corrupt data")
    assert "cannot write" not in err


def test_unreadable_jsonl_says_read_not_write(tmp_path, monkeypatch):
    """Regression: an OSError while reading the data was reported as 'cannot write OUT'."""
    source = jsonl(tmp_path / "locked.jsonl", [ok_line()])
    real_open = Path.open

    def locked(self, *args, **kwargs):
        if self.name == "locked.jsonl":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", locked)
    err = fails_cleanly(tmp_path, source, "cannot read", "Permission denied")
    assert "cannot write" not in err


# --- the contract, on random lines --------------------------------------------------------------

LINES = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda p, r: json.dumps({"prompt": p, "response": r}).encode(),
              st.one_of(st.text(max_size=10), st.none(), st.integers()),
              st.one_of(st.text(max_size=10), st.none(), st.booleans(), st.lists(st.integers(), max_size=2))),
    st.just(b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}'),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINES.filter(lambda b: b"\n" not in b and b.removeprefix(BOM).strip()), max_size=12))
def test_every_nonblank_jsonl_line_is_one_output_row(tmp_path_factory, lines):
    tmp_path = tmp_path_factory.mktemp("lines")
    source = jsonl(tmp_path / "random.jsonl", lines) if lines else tmp_path / "random.jsonl"
    if not lines:
        source.write_bytes(b"")
    labeled(tmp_path, source, len(lines))
