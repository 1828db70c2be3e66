"""Data sets named by Hub id (`hf://org/name?split=S&column=C`), read offline from a real
Hugging Face cache folder: `tenet label`, prompt `file` sources and `--feedback` rows.

Each data set is made with `datasets`, written as Parquet shards named like the Hub's
(`data/<split>-00000-of-00001.parquet`) and put into a temporary Hub cache in
huggingface_hub's layout (tests/hub_cache.py), with `HF_HUB_OFFLINE=1`.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tenet.compiler.datarefs import DatasetRef, parse_dataset_ref
from tenet.compiler.pipeline import compile_policy
from helpers import run_cli, write_policy
from hub_cache import add_to_hub_cache
from tenet.runtime.data import DataError, read_batches

FIXTURE = Path(__file__).parent / "fixtures" / "cycle" / "tiny.policy"
CHATS = {
    "train": {"prompt": ["hello", "thanks"], "response": ["good answer", "bad answer"], "rating": [1, 0]},
    "test": {"prompt": ["hello", "please", "sorry"], "response": ["hello world", "bad", "fine"],
             "rating": [1, 0, 1]},
}
QUESTIONS = {"train": {"question": ["How do I reset my password?", "What is the weather today?"]}}


def publish(cache: Path, staging: Path, repo_id: str, splits: dict[str, dict[str, list]]) -> str:
    """Write each split as a Hub-style Parquet shard and add them to the cache; returns the commit."""
    import datasets

    folder = staging / repo_id.replace("/", "--")
    for split, columns in splits.items():
        (folder / "data").mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_dict(columns).to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    return add_to_hub_cache(cache, repo_id, folder, repo_type="dataset")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hub cache with the data sets `acme/chats` (train, test) and `acme/questions` (train)."""
    cache = tmp_path / "hub"
    publish(cache, tmp_path / "staging", "acme/chats", CHATS)
    publish(cache, tmp_path / "staging", "acme/questions", QUESTIONS)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # datasets' prepared files go here
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv("TENET_ALLOW_DOWNLOADS", raising=False)
    return cache


@pytest.mark.parametrize(("text", "expected"), [
    ("hf://acme/chats", DatasetRef("acme/chats")),
    ("hf://acme/chats?split=test", DatasetRef("acme/chats", split="test")),
    ("hf://datasets/acme/chats@v1.0?split=train&column=text", DatasetRef("acme/chats", "v1.0", "train", "text")),
])
def test_references_parse(text, expected):
    assert parse_dataset_ref(text) == expected
    assert parse_dataset_ref(str(expected)) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("hf://chats", "does not name a Hub data set"),
    ("hf://acme/chats@", "does not name a Hub data set"),
    ("hf://acme/chats?splt=train", "unknown option 'splt'"),
    ("hf://acme/chats?split=", "split is empty"),
    ("hf://acme/chats?split=a/b", "is not a split name"),
])
def test_bad_references_say_what_is_expected(text, message):
    with pytest.raises(ValueError, match=message):
        parse_dataset_ref(text)


def test_label_reads_a_split_from_the_hub_cache(hub, tmp_path):
    out = tmp_path / "labels.parquet"
    code, stdout, err = run_cli(["label", str(FIXTURE), "hf://acme/chats?split=test", "--out", str(out)])
    assert code == 0, err
    table = pq.read_table(out)
    assert table.column("response").to_pylist() == CHATS["test"]["response"]
    assert "labeled 3 rows" in stdout
    verdicts = dict(zip(table.column("response").to_pylist(), table.column("verdict").to_pylist()))
    assert verdicts["bad"] == 0 and verdicts["hello world"] == 1  # `no-bad` forbids "bad"


def test_the_default_split_is_train_and_an_unknown_split_is_named(hub):
    rows = [r for batch in read_batches("hf://acme/chats") for r in batch.to_pylist()]
    assert [r["prompt"] for r in rows] == CHATS["train"]["prompt"]
    with pytest.raises(DataError, match="validation"):
        list(read_batches("hf://acme/chats?split=validation"))


def test_an_uncached_data_set_says_how_to_get_it(hub):
    code, _, err = run_cli(["label", str(FIXTURE), "hf://acme/missing", "--out", "unused.parquet"])
    assert code == 2
    assert "'acme/missing'" in err and "not in the Hugging Face cache" in err
    assert "hf download acme/missing --repo-type dataset" in err and "TENET_ALLOW_DOWNLOADS=1" in err


def test_label_data_maps_columns_with_columns_not_column(hub):
    with pytest.raises(DataError, match="--columns"):
        list(read_batches("hf://acme/chats?column=prompt"))


def test_a_prompt_source_reads_a_hub_column(hub, tmp_path):
    from tenet.runtime.synthesize.prompts import build_pool

    policy = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\n\n'
                          'rule r (low):\n  forbid response contains "x"\n\n'
                          'prompts:\n  file "hf://acme/questions?split=train&column=question"\n')
    result = compile_policy(str(policy))
    assert result.ok and not [d for d in result.diagnostics if d.code != "W150"]  # W150: no examples
    pool = build_pool(result.artifact.ir, tmp_path, eval_split=0.0, seed=0)
    assert [p.text for p in pool.train] == QUESTIONS["train"]["question"]


def test_a_malformed_prompt_reference_is_a_compile_error(tmp_path):
    policy = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\n\n'
                          'rule r (low):\n  forbid response contains "x"\n\n'
                          'prompts:\n  file "hf://acme/questions?splits=train"\n')
    result = compile_policy(str(policy))
    (found,) = [d for d in result.diagnostics if d.code == "E171"]
    assert "unknown option 'splits'" in found.message and not result.ok


def test_feedback_rows_come_from_a_hub_data_set(hub):
    from tenet.runtime.policy import read_feedback as _read_feedback

    rows = _read_feedback("hf://acme/chats?split=train")
    assert [(r["prompt"], r["response"], r["rating"]) for r in rows] == [
        ("hello", "good answer", 1), ("thanks", "bad answer", 0)]
