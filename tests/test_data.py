"""Reading (prompt, response) rows: formats, column mapping, conversations, bad rows, gold labels.

`tenet.runtime.data.read_batches` turns JSONL / CSV / Parquet / a saved HF dataset / an Arrow
table / a list of dicts into one normalized schema; rows that cannot be labeled are kept
with a reason, never dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tenet.runtime.data import BAD_REASONS, SCHEMA, ColumnMap, DataError, read_batches
from tenet.runtime.data.gold import gold_label

# --- helpers --------------------------------------------------------------------------------


def read_all(source, columns: ColumnMap = ColumnMap(), batch_rows: int = 65_536, max_chars: int = 200_000):
    """Every normalized row, as dicts."""
    batches = list(read_batches(source, columns, batch_rows=batch_rows, max_chars=max_chars))
    for batch in batches:
        assert batch.schema == SCHEMA
    return [row for batch in batches for row in batch.to_pylist()]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    table = pa.Table.from_pylist(rows)
    pacsv.write_csv(table, path)
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_hf(path: Path, rows: list[dict]) -> Path:
    import datasets

    datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet, "hf": write_hf}
SUFFIX = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet", "hf": ""}


def materialize(kind: str, tmp_path: Path, rows: list[dict], name: str = "data"):
    """The rows as a file of `kind`, or in memory (`list`, `arrow`)."""
    if kind == "list":
        return rows
    if kind == "arrow":
        return pa.Table.from_pylist(rows)
    return WRITERS[kind](tmp_path / f"{name}{SUFFIX[kind]}", rows)


PLAIN_ROWS = [
    {"prompt": "How do I reset my password?", "response": "Click “Forgot password”, then follow the email.",
     "rating": "up"},
    {"prompt": "Liste, bitte", "response": "- eins\n- zwei\n- drei", "rating": "down"},
    {"prompt": 'Quote "this", please', "response": 'He said: "hi, there"', "rating": "5"},
    {"prompt": "emoji", "response": "ok 😀 中文 café", "rating": "2"},
    {"prompt": "blank answer", "response": "  \n\t", "rating": "3"},
]
ALL_KINDS = ["jsonl", "csv", "parquet", "hf", "list", "arrow"]


# --- formats give the same rows --------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_format_gives_the_same_normalized_rows(kind, tmp_path):
    expected = read_all(PLAIN_ROWS, ColumnMap(gold="rating"))
    assert [r["row"] for r in expected] == [0, 1, 2, 3, 4]
    assert [r["gold"] for r in expected] == [1, 0, 1, 0, -1]
    assert [r["bad"] for r in expected] == [None, None, None, None, "empty"]
    assert expected[1]["response"] == "- eins\n- zwei\n- drei" and expected[0]["context"] == []
    source = materialize(kind, tmp_path, PLAIN_ROWS)
    assert read_all(source, ColumnMap(gold="rating")) == expected


CONVERSATIONS = [
    {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "List two colors"},
        {"role": "assistant", "content": "- red\n- blue"},
    ]},
    {"messages": [{"role": "user", "content": "Only one turn?"}, {"role": "assistant", "content": "Yes."}]},
]


@pytest.mark.parametrize("kind", ["jsonl", "parquet", "hf", "list", "arrow"])
def test_conversational_rows_read_the_same_from_every_format(kind, tmp_path):
    rows = read_all(materialize(kind, tmp_path, CONVERSATIONS))
    assert [(r["prompt"], r["response"], r["context"], r["bad"]) for r in rows] == [
        ("List two colors", "- red\n- blue",
         [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], None),
        ("Only one turn?", "Yes.", [], None),
    ]


def test_saved_dataset_dict_reads_the_train_split(tmp_path):
    import datasets

    datasets.DatasetDict({
        "test": datasets.Dataset.from_list([{"prompt": "t", "response": "test split"}]),
        "train": datasets.Dataset.from_list([{"prompt": "p", "response": "train split"}]),
    }).save_to_disk(str(tmp_path / "dd"))
    assert [r["response"] for r in read_all(tmp_path / "dd")] == ["train split"]


# --- column mapping ----------------------------------------------------------------------------


def test_column_map_parse():
    assert ColumnMap.parse(None) == ColumnMap()
    assert ColumnMap.parse("") == ColumnMap()
    assert ColumnMap.parse("prompt=question,response=answer") == \
        ColumnMap(prompt="question", response="answer")
    assert ColumnMap.parse(" gold = rating , messages=turns") == ColumnMap(gold="rating", messages="turns")
    for bad in ("question", "prompt=question,answer", "output=answer"):
        with pytest.raises(DataError, match="bad column mapping"):
            ColumnMap.parse(bad)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_column_mapping_renames_fields(kind, tmp_path):
    rows = [{"question": "Q1", "answer": "A1", "score": 4}, {"question": "Q2", "answer": "A2", "score": 1}]
    if kind == "csv":
        rows = [{k: str(v) for k, v in r.items()} for r in rows]
    source = materialize(kind, tmp_path, rows)
    got = read_all(source, ColumnMap.parse("prompt=question,response=answer,gold=score"))
    assert [(r["prompt"], r["response"], r["bad"]) for r in got] == [("Q1", "A1", None), ("Q2", "A2", None)]
    assert got[0]["gold"] == 1  # Likert 4 is good


def test_column_mapping_for_messages(tmp_path):
    rows = [{"turns": CONVERSATIONS[1]["messages"]}]
    got = read_all(write_jsonl(tmp_path / "t.jsonl", rows), ColumnMap.parse("messages=turns"))
    assert (got[0]["prompt"], got[0]["response"]) == ("Only one turn?", "Yes.")


# --- conversations ---------------------------------------------------------------------------------


def test_trl_list_prompt_with_response():
    rows = [{"prompt": [{"role": "system", "content": "sys"}, {"role": "user", "content": "u1"},
                        {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"}],
             "response": "final"}]
    got = read_all(rows)[0]
    assert (got["prompt"], got["response"], got["bad"]) == ("u2", "final", None)
    assert got["context"] == [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"}]


def test_messages_use_the_last_assistant_turn_and_the_user_turn_before_it():
    messages = [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
                {"role": "user", "content": "u2"}, {"role": "tool", "content": "t"},
                {"role": "assistant", "content": "a2"}, {"role": "user", "content": "trailing"}]
    got = read_all([{"messages": messages}])[0]
    assert (got["prompt"], got["response"]) == ("u2", "a2")
    assert got["context"] == [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"}]


@pytest.mark.parametrize("messages", [
    "not a list",
    [],
    [{"role": "user", "content": "no answer"}],
    [{"role": "assistant", "content": "no question"}],
    [{"role": "user", "content": "x"}, {"role": "assistant", "content": 5}],
    [{"role": "user", "content": "x"}, {"content": "no role"}],
    ["not a dict", {"role": "assistant", "content": "y"}],
])
def test_bad_messages(messages):
    got = read_all([{"messages": messages}, {"prompt": "ok", "response": "fine"}])
    assert [r["bad"] for r in got] == ["bad_messages", None]
    assert (got[0]["prompt"], got[0]["response"], got[0]["context"]) == ("", "", [])


def test_bad_trl_prompt_list():
    got = read_all([{"prompt": [{"role": "system", "content": "only a system turn"}], "response": "r"}])
    assert got[0]["bad"] == "bad_messages"


# --- bad rows -----------------------------------------------------------------------------------------


def test_every_bad_reason_is_counted_and_kept_in_order(tmp_path):
    lines = [
        json.dumps({"prompt": "fine", "response": "a good row"}).encode(),
        json.dumps({"prompt": "no response"}).encode(),                                # missing_field
        json.dumps({"prompt": "p", "response": None}).encode(),                        # missing_field
        json.dumps({"prompt": "p", "response": 42}).encode(),                          # non_text
        json.dumps({"prompt": ["not", "messages"], "response": "r"}).encode(),         # bad_messages
        json.dumps({"prompt": "p", "response": " \n\t "}).encode(),                   # empty
        json.dumps({"prompt": "p", "response": "x" * 101}).encode(),                   # oversized
        b'{"prompt": "broken json", ',                                                 # malformed_row
        b'["a", "list", "not", "an", "object"]',                                       # malformed_row
        b'"just a string"',                                                            # malformed_row
        json.dumps({"messages": [{"role": "user", "content": "q"}]}).encode(),         # bad_messages
        b'{"prompt": "bytes", "response": "caf\xe9 in latin-1"}',                      # invalid_text
        b'{"prompt": "surrogate", "response": "lone \\ud800 half"}',                   # invalid_text
        json.dumps({"prompt": "last", "response": "another good row"}).encode(),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n\n")  # a trailing blank line is not a row
    got = read_all(path, max_chars=100, batch_rows=4)
    assert len(got) == len(lines)
    assert [r["row"] for r in got] == list(range(len(lines)))
    assert [r["bad"] for r in got] == [
        None, "missing_field", "missing_field", "non_text", "bad_messages", "empty", "oversized",
        "malformed_row", "malformed_row", "malformed_row", "bad_messages", "invalid_text", "invalid_text",
        None,
    ]
    assert {r["bad"] for r in got} - {None} == set(BAD_REASONS)
    assert got[-1]["prompt"] == "last"


def test_bad_rows_from_a_list_of_dicts():
    got = read_all([{"prompt": "p", "response": "r"}, "not a row", {"prompt": 1, "response": "r"},
                    {"prompt": "p", "response": "lone \ud800"}, {"prompt": "p", "response": ""}])
    assert [r["bad"] for r in got] == [None, "malformed_row", "non_text", "invalid_text", "empty"]


def test_oversized_counts_prompt_response_and_context():
    messages = [{"role": "user", "content": "u" * 40}, {"role": "assistant", "content": "a" * 40},
                {"role": "user", "content": "q"}, {"role": "assistant", "content": "r"}]
    assert read_all([{"messages": messages}], max_chars=82)[0]["bad"] is None
    assert read_all([{"messages": messages}], max_chars=81)[0]["bad"] == "oversized"


@pytest.mark.parametrize("kind", ["parquet", "arrow", "csv"])
def test_bad_rows_in_columnar_files(kind, tmp_path):
    rows = [{"prompt": "p", "response": "ok"}, {"prompt": "p", "response": "   "},
            {"prompt": "p", "response": "y" * 50}]
    if kind != "csv":
        rows.append({"prompt": None, "response": "r"})
    got = read_all(materialize(kind, tmp_path, rows), max_chars=20)
    assert [r["bad"] for r in got] == [None, "empty", "oversized", "missing_field"][:len(rows)]


def test_bad_rows_normalize_the_same_in_every_format(tmp_path):
    rows = [{"prompt": "p", "response": None}, {"prompt": "p2", "response": "x" * 50}]
    from_jsonl = read_all(write_jsonl(tmp_path / "b.jsonl", rows), max_chars=20)
    from_parquet = read_all(write_parquet(tmp_path / "b.parquet", rows), max_chars=20)
    assert from_jsonl == from_parquet


def test_csv_row_with_wrong_field_count_is_kept_as_malformed(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("prompt,response\na,b\nc,d,EXTRA\ne,f\n", encoding="utf-8")
    got = read_all(path)
    # Kept and counted; the CSV reader reports ragged rows after the block they came in.
    assert sorted(str(r["bad"]) for r in got) == ["None", "None", "malformed_row"]


def test_csv_row_with_invalid_utf8_is_kept_as_invalid_text(tmp_path):
    path = tmp_path / "bytes.csv"
    path.write_bytes(b"prompt,response\na,b\nc,caf\xe9\ne,f\n")
    got = read_all(path)
    assert [r["bad"] for r in got] == [None, "invalid_text", None]


# --- empty inputs, errors -----------------------------------------------------------------------------


EMPTY = pa.table({"prompt": pa.array([], pa.string()), "response": pa.array([], pa.string())})


def _empty_source(name: str, tmp_path: Path):
    if name == "list":
        return []
    if name == "arrow":
        return EMPTY
    if name == "parquet":
        pq.write_table(EMPTY, tmp_path / "empty.parquet")
        return tmp_path / "empty.parquet"
    if name == "hf":
        import datasets

        datasets.Dataset(EMPTY).save_to_disk(str(tmp_path / "empty_hf"))
        return tmp_path / "empty_hf"
    content = {"empty.jsonl": b"", "blank.jsonl": b"\n  \n\n", "empty.csv": b"",
               "header.csv": b"prompt,response\n"}
    (tmp_path / name).write_bytes(content[name])
    return tmp_path / name


@pytest.mark.parametrize("name", ["empty.jsonl", "blank.jsonl", "empty.csv", "header.csv", "parquet", "list",
                                  "arrow"])
def test_empty_inputs_give_no_rows(name, tmp_path):
    assert read_all(_empty_source(name, tmp_path)) == []


def test_empty_saved_hf_dataset_gives_no_rows(tmp_path):
    assert read_all(_empty_source("hf", tmp_path)) == []


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_missing_columns_raise_data_error_naming_them(kind, tmp_path):
    rows = [{"question": "q", "answer": "a"}]
    source = materialize(kind, tmp_path, rows)
    with pytest.raises(DataError) as info:
        read_all(source)
    message = str(info.value)
    for name in ("prompt", "response", "messages", "question", "answer", "--columns"):
        assert name in message


def test_mapping_to_absent_columns_names_the_mapped_columns(tmp_path):
    source = write_parquet(tmp_path / "x.parquet", [{"prompt": "p", "response": "r"}])
    with pytest.raises(DataError, match="`question`/`answer`"):
        read_all(source, ColumnMap.parse("prompt=question,response=answer"))


def test_unreadable_sources_raise_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_all(tmp_path / "nope.jsonl")
    (tmp_path / "data.txt").write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match="unknown data format"):
        read_all(tmp_path / "data.txt")
    (tmp_path / "fake.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="Parquet"):
        read_all(tmp_path / "fake.parquet")
    (tmp_path / "notds").mkdir()
    with pytest.raises(DataError):
        read_all(tmp_path / "notds")
    with pytest.raises(DataError, match="not objects"):
        read_all(["a", "b"])


# --- batches ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["jsonl", "parquet", "hf", "list", "arrow"])
def test_batches_respect_batch_rows_and_number_rows_globally(kind, tmp_path):
    rows = [{"prompt": f"p{i}", "response": f"r{i}"} for i in range(25)]
    source = materialize(kind, tmp_path, rows)
    batches = list(read_batches(source, batch_rows=10))
    assert [b.num_rows for b in batches] == [10, 10, 5]
    assert [r["row"] for b in batches for r in b.to_pylist()] == list(range(25))


def test_csv_batches_respect_batch_rows(tmp_path):
    rows = [{"prompt": f"p{i}", "response": f"r{i}"} for i in range(25)]
    batches = list(read_batches(write_csv(tmp_path / "d.csv", rows), batch_rows=10))
    assert [b.num_rows for b in batches] == [10, 10, 5]


def test_results_do_not_depend_on_batch_rows(tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [{"prompt": "p", "response": "r"}, {"question": "q"}])
    assert [r["bad"] for r in read_all(path)] == [None, "missing_field"]
    assert [r["bad"] for r in read_all(path, batch_rows=1)] == [None, "missing_field"]


# --- gold labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, label", [
    ("up", 1), ("down", 0), ("👍", 1), ("👎", 0), ("thumbs_up", 1), ("thumbs_down", 0),
    (" Good ", 1), ("BAD", 0), ("yes", 1), ("no", 0), ("chosen", 1), ("rejected", 0),
    (True, 1), (False, 0), ("true", 1), ("false", 0), ("True", 1), ("FALSE", 0),
    (1, 1), (0, 0), ("1", 1), ("0", 0), (1.0, 1), (0.0, 0),
    (2, 0), (3, -1), (4, 1), (5, 1), ("2", 0), ("3", -1), ("4", 1), ("5", 1), (4.5, 1), (2.5, -1),
    (None, -1), ("", -1), ("maybe", -1), (6, -1), (-1, -1), (0.5, -1), ([1], -1), ({"x": 1}, -1),
])
def test_gold_label(value, label):
    assert gold_label(value) == label


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet", "list"])
def test_gold_column_types(kind, tmp_path):
    rows = [{"prompt": "p", "response": "r", "fb": v} for v in ("up", "down", "👍", "true", "false", "")]
    got = read_all(materialize(kind, tmp_path, rows), ColumnMap(gold="fb"))
    assert [r["gold"] for r in got] == [1, 0, 1, 1, 0, -1]
    assert read_all(materialize("list", tmp_path, rows))[0]["gold"] == -1  # no gold column mapped


def test_likert_column_rating_one_is_bad():
    rows = [{"prompt": "p", "response": "r", "rating": v} for v in (1, 2, 3, 4, 5)]
    got = read_all(rows, ColumnMap(gold="rating"))
    assert [r["gold"] for r in got] == [0, 0, -1, 1, 1]


def test_likert_detection_does_not_depend_on_batch_rows():
    rows = [{"prompt": "p", "response": "r", "rating": v} for v in (1, 2, 3, 4, 5)]
    got = read_all(rows, ColumnMap(gold="rating"), batch_rows=1)
    assert [r["gold"] for r in got] == [0, 0, -1, 1, 1]
