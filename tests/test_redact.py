"""One redaction for every output: URIs, secret keys, local paths and free text (runtime/redact.py)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tenet.runtime.redact import (REDACTED, display_uri, is_secret_key, local_name, redact_mapping, redact_text,
                            redact_value, redacted_stage)

FIXTURE = Path(__file__).parent / "fixtures" / "cycle" / "gate-fails.policy"


@pytest.mark.parametrize("uri, shown", [
    ("https://user:tok@host/?token=abc", "https://host/?token=<redacted>"),
    ("https://me:secret@mlflow.example.com:8443/x", "https://mlflow.example.com:8443/x"),
    ("https://h/p?run=1&access_token=a1&X-Amz-Signature=b2&X-Amz-Credential=c3&sig=d4#id_token=e5&state=ok",
     "https://h/p?run=1&access_token=<redacted>&X-Amz-Signature=<redacted>&X-Amz-Credential=<redacted>"
     "&sig=<redacted>#id_token=<redacted>&state=ok"),
    ("https://h/?api_key=k&Password=p&key=q",
     "https://h/?api_key=<redacted>&Password=<redacted>&key=<redacted>"),
    ("http://u:p@[::1]:5000/", "http://[::1]:5000/"),
    ("sqlite:////abs/work/mlflow.db", "sqlite:////abs/work/mlflow.db"),
    ("sqlite:////abs/work/mlflow.db?token=x", "sqlite:////abs/work/mlflow.db?token=<redacted>"),
    ("databricks", "databricks"),
    ("models:/acme/3", "models:/acme/3"),
])
def test_a_uri_is_shown_without_credentials(uri, shown):
    assert display_uri(uri) == shown


@pytest.mark.parametrize("key", ["hub_token", "plan.trainer.hub_token", "HF_TOKEN", "access_token", "api_key",
                                 "key", "client_secret", "password", "db.passwd", "Authorization",
                                 "X-Amz-Security-Token", "aws_secret_access_key"])
def test_credential_keys_are_secret(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["max_new_tokens", "eval_max_new_tokens", "pad_token", "eos_token_id",
                                 "special_tokens", "average_tokens_across_devices", "sort_key",
                                 "keys_to_ignore", "plan.base_model", "data.pairs.sha256", "model.base.commit",
                                 "policy.hash"])
def test_ordinary_keys_are_not_secret(key):
    assert not is_secret_key(key)


def test_local_paths_become_labels_that_do_not_say_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TENET_CACHE", str(tmp_path / "cache"))
    work = tmp_path / "work"
    snapshot = tmp_path / "hub" / "models--acme--smol" / "snapshots" / "0123abcd"
    assert local_name(work / "acme" / "train" / "final", work) == "<work>/acme/train/final"
    assert local_name(tmp_path / "cache" / "models" / "smol-42") == "<tenet-cache>/models/smol-42"
    assert local_name(snapshot) == "acme/smol@0123abcd"
    assert local_name(snapshot / "config.json") == "acme/smol@0123abcd/config.json"
    assert local_name("/home/alice/models/llama", work) == "<local>/llama"
    assert local_name("file:///home/alice/x.parquet") == "<local>/x.parquet"
    assert local_name("C:\\Users\\alice\\llama") == "<local>/llama"
    assert local_name(work / ".." / "escape", work) == "<local>/escape"


def test_values_are_redacted_by_their_key_and_their_shape(tmp_path):
    values = {"plan.trainer.hub_token": "hf_abcdefghijklmnopqrstuvwxyz0123", "trainer.hub_token": None,
              "plan.base_model": "/home/alice/llama", "plan.method": "dpo", "plan.epochs": 2.0,
              "tracking": "https://bob:pw@h/?sig=zz", "nested": {"password": "p", "dirs": ["/srv/a", "b"]}}
    assert redact_mapping(values, tmp_path) == {
        "plan.trainer.hub_token": REDACTED, "trainer.hub_token": None, "plan.base_model": "<local>/llama",
        "plan.method": "dpo", "plan.epochs": 2.0, "tracking": "https://h/?sig=<redacted>",
        "nested": {"password": REDACTED, "dirs": ["<local>/a", "b"]}}
    assert redact_value("plan.base_model", "acme/smol") == "acme/smol"  # a Hub id is no path


def test_free_text_keeps_its_words_and_loses_its_secrets():
    text = ("train dpo: lr 5e-06, trainer.hub_token = hf_abcdefghijklmnopqrstuvwxyz0123, seed 42; "
            "store https://al:pw@h.example/?token=t0k&run=1 with Authorization: Bearer abcdefghijklmnop "
            "and ghp_abcdefghijklmnopqrstuvwxyz0123 and AKIAABCDEFGHIJKLMNOP; rule no-password: changed")
    assert redact_text(text) == (
        "train dpo: lr 5e-06, trainer.hub_token = <redacted>, seed 42; "
        "store https://h.example/?token=<redacted>&run=1 with Authorization: Bearer <redacted> "
        "and <redacted> and <redacted>; rule no-password: changed")


def _train_stage():
    from tenet.compiler.pipeline import compile_policy
    from tenet.runtime.cycle import train_stage

    result = compile_policy(str(FIXTURE))
    assert result.ok, result.diagnostics
    return train_stage(result.artifact)


def test_a_plan_is_described_without_secret_settings_or_local_paths(tmp_path):
    # A hand-written artifact (or an older compiler) may carry what `tenet check` now refuses.
    from tenet.compiler.plan import describe_stage

    stage = _train_stage()
    stage = stage.model_copy(update={"base_model": "/home/alice/models/llama", "hyperparameters": (
        *stage.hyperparameters, ("trainer.hub_token", "hf_abcdefghijklmnopqrstuvwxyz0123"))})
    shown = describe_stage(redacted_stage(stage, tmp_path))
    assert "hf_abcdefghijklmnopqrstuvwxyz0123" not in shown and "alice" not in shown
    assert "trainer.hub_token = <redacted>" in shown and " on <local>/llama:" in shown
    assert 'lora.target_modules = "q_proj, v_proj"' in shown  # other settings read as before
    assert redacted_stage(stage, tmp_path).hyperparameters[:-1] == stage.hyperparameters[:-1]


def test_the_json_summary_shows_the_tracking_uri_without_credentials():
    from tenet.compiler.pipeline import compile_policy
    from tenet.runtime.summary import cycle_summary, to_json

    artifact = compile_policy(str(FIXTURE)).artifact
    from tenet.runtime.evaluate import Compliance

    compliance = Compliance({}, {}, None)
    cycle = SimpleNamespace(promoted=False, before=compliance, after=compliance, gates=[], run_id="r1",
                            parent_run=None, diff_summary="fresh", drift=None, model_version="1",
                            tracking_uri="https://user:tok3n@mlflow.example.com/?token=abc123")
    text = to_json(cycle_summary(artifact, cycle, "dpo"))
    assert "tok3n" not in text and "abc123" not in text
    assert json.loads(text)["tracking_uri"] == "https://mlflow.example.com/?token=<redacted>"


def test_audit_shows_an_older_cycles_params_and_datasets_redacted():
    # Cycles recorded before this redaction existed may hold a secret param or a machine path.
    from tenet.runtime.audit.runs import Registry, build_cycle

    source = json.dumps({"uri": "/home/alice/w/pairs.parquet"})
    dataset = SimpleNamespace(name="pairs", digest="d", source=source)
    params = {"plan.trainer.hub_token": "hf_abcdefghijklmnopqrstu", "plan.base_model": "/home/alice/llama"}
    run = SimpleNamespace(
        info=SimpleNamespace(run_id="r1", run_name="acme@1", status="FINISHED", start_time=0, end_time=0),
        data=SimpleNamespace(tags={}, metrics={}, params=params),
        inputs=SimpleNamespace(dataset_inputs=[SimpleNamespace(dataset=dataset, tags=[])]))
    cycle = build_cycle("acme", run, [], Registry({}, frozenset()))
    assert cycle.params == {"plan.trainer.hub_token": REDACTED, "plan.base_model": "<local>/llama"}
    assert cycle.datasets[0].source == "<local>/pairs.parquet"
