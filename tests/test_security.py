"""Security: imports stay inside the policy root and cannot loop; a policy is data, never code.

Tests that already exist elsewhere are not repeated here (docs/security.md lists them all):
`..` and absolute imports, symlinked files and folders out of the root, prompt files out of the
root, self-import and the golden two-file cycle live in tests/test_errors.py.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tenet.compiler.artifact import ArtifactError, read_artifact, to_json, write_artifact
from tenet.compiler.pipeline import compile_policy
from helpers import REPO, run_cli, write_policy

pytest_plugins = ["tiny_models"]

HEADER = 'dsl 1\npolicy p version "1"\n'
PLAIN = HEADER + 'rule r (low):\n  forbid response contains "x"\n'


def codes(path: Path, root: Path | None = None) -> list[str]:
    return [d.code for d in compile_policy(path, root).diagnostics]


# --- imports stay inside the root ---------------------------------------------------------------


def test_import_that_descends_then_climbs_out_is_refused(tmp_path):
    write_policy(tmp_path, "outside.policy", PLAIN)
    write_policy(tmp_path, "root/sub/inner.policy", PLAIN)
    policy = write_policy(tmp_path, "root/main.policy", HEADER + 'import "sub/../../outside.policy"\n')
    assert codes(policy) == ["L002"]


def test_std_import_cannot_climb_out_of_the_standard_library(tmp_path):
    policy = write_policy(tmp_path, "main.policy", HEADER + 'import "std/../../pyproject.toml"\n')
    assert codes(policy) == ["L002"]


@pytest.mark.parametrize("written", ["/etc/passwd", "//server/share/x.policy", "C:/x.policy", "c:\\\\x.policy"])
def test_absolute_import_spellings_are_refused(tmp_path, written):
    policy = write_policy(tmp_path, "main.policy", HEADER + f'import "{written}"\n')
    assert codes(policy) == ["L002"]


def test_symlink_inside_the_root_is_followed(tmp_path):
    """The control for the symlink refusals: a link that stays inside the root is fine."""
    write_policy(tmp_path, "lib/real.policy", HEADER.replace("policy p", "policy lib"))
    (tmp_path / "alias.policy").symlink_to(tmp_path / "lib" / "real.policy")
    policy = write_policy(tmp_path, "main.policy", HEADER + 'import "alias.policy"\n')
    assert compile_policy(policy).ok


def test_symlink_chain_that_ends_outside_is_refused(tmp_path):
    write_policy(tmp_path, "outside/secret.policy", PLAIN)
    root = tmp_path / "root"
    root.mkdir()
    (root / "hop2.policy").symlink_to(tmp_path / "outside" / "secret.policy")
    (root / "hop1.policy").symlink_to(root / "hop2.policy")  # inside, but it leads out
    policy = write_policy(root, "main.policy", HEADER + 'import "hop1.policy"\n')
    assert codes(policy) == ["L002"]


def test_symlink_loop_is_a_diagnostic_not_a_crash(tmp_path):
    """Regression: Path.resolve raised RuntimeError('Symlink loop') out of compile_policy."""
    (tmp_path / "a.policy").symlink_to(tmp_path / "b.policy")
    (tmp_path / "b.policy").symlink_to(tmp_path / "a.policy")
    policy = write_policy(tmp_path, "main.policy", HEADER + 'import "a.policy"\n')
    result = compile_policy(policy)
    assert [(d.code, "symbolic links" in d.message) for d in result.diagnostics] == [("L006", True)]


def test_entry_policy_that_is_a_symlink_loop_is_a_diagnostic(tmp_path):
    (tmp_path / "self.policy").symlink_to(tmp_path / "self.policy")
    assert codes(tmp_path / "self.policy") == ["L006"]


def test_prompt_file_symlink_loop_is_a_diagnostic(tmp_path):
    (tmp_path / "a.jsonl").symlink_to(tmp_path / "b.jsonl")
    (tmp_path / "b.jsonl").symlink_to(tmp_path / "a.jsonl")
    policy = write_policy(tmp_path, "main.policy", PLAIN + 'prompts:\n  file "a.jsonl"\n')
    assert "E171" in codes(policy)


def test_import_of_a_fifo_does_not_block(tmp_path):
    """Regression: reading a named pipe blocked the compiler forever, waiting for a writer."""
    os.mkfifo(tmp_path / "pipe.policy")
    policy = write_policy(tmp_path, "main.policy", HEADER + 'import "pipe.policy"\n')
    code = ("import sys; from tenet.compiler.pipeline import compile_policy; "
            "print(*[d.code for d in compile_policy(sys.argv[1]).diagnostics])")
    done = subprocess.run([sys.executable, "-c", code, str(policy)], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.stdout.split() == ["L001"], done.stderr


def test_import_of_a_device_is_refused(tmp_path):
    (tmp_path / "zero.policy").symlink_to("/dev/zero")  # outside the root, and not a file
    policy = write_policy(tmp_path, "main.policy", HEADER + 'import "zero.policy"\n')
    assert codes(policy) == ["L002"]
    assert codes(policy, root="/") == ["L001"]  # even where the root allows it: not a regular file


# --- imports cannot loop ------------------------------------------------------------------------


def test_three_file_import_cycle_names_the_chain(tmp_path):
    write_policy(tmp_path, "a.policy", HEADER + 'import "b.policy"\n')
    write_policy(tmp_path, "b.policy", HEADER + 'import "c.policy"\n')
    write_policy(tmp_path, "c.policy", HEADER + 'import "a.policy"\n')
    result = compile_policy(tmp_path / "a.policy")
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("L003", "import cycle: a.policy -> b.policy -> c.policy -> a.policy")]


def test_extends_cycle_is_reported(tmp_path):
    write_policy(tmp_path, "base.policy", HEADER + 'extends "child.policy"\n')
    write_policy(tmp_path, "child.policy", HEADER + 'extends "base.policy"\n')
    assert codes(tmp_path / "child.policy") == ["L003"]


def test_cycle_through_a_symlink_alias_is_reported(tmp_path):
    """A link to the importing file is the same file: the cycle is found by real path."""
    (tmp_path / "alias.policy").symlink_to(tmp_path / "main.policy")
    policy = write_policy(tmp_path, "main.policy", HEADER + 'import "alias.policy"\n')
    assert codes(policy) == ["L003"]


def test_cycle_spelled_with_dot_segments_is_reported(tmp_path):
    write_policy(tmp_path, "sub/b.policy", HEADER + 'import "../sub/../a.policy"\n')
    policy = write_policy(tmp_path, "a.policy", HEADER + 'import "./sub/b.policy"\n')
    assert codes(policy) == ["L003"]


# --- a policy is data, never code ----------------------------------------------------------------

PAYLOAD = "__import__('pathlib').Path('PWNED').touch()"
PAYLOADS = [
    PAYLOAD,
    "{0.__class__.__mro__}",  # str.format attribute access
    "${{7*7}} {{config}}",  # template engines
    "!!python/object/apply:os.system ['touch PWNED']",  # an unsafe-YAML tag
    "cos\\nsystem\\n(S'touch PWNED'\\ntR.",  # a protocol-0 pickle
    "%import common.WS",  # a lark grammar directive
]


def payload_policy(tmp_path: Path) -> Path:
    """A policy whose every string slot (description, words, examples, template, slots) holds a payload."""
    words = ", ".join(json.dumps(p) for p in PAYLOADS)
    body = HEADER.replace('"1"\n', f'"1"\n  {json.dumps(PAYLOAD)}\n')
    body += f"let payloads = words({words})\n\n"
    for i, payload in enumerate(PAYLOADS):
        body += (f"rule r{i} (low):\n  {json.dumps(payload)}\n  forbid response mentions payloads\n"
                 f"  because {json.dumps(payload)}\n  example:\n    prompt {json.dumps(payload)}\n"
                 f"    good \"fine\"\n    bad {json.dumps('say ' + payload)}\n\n")
    body += ('prompts:\n  template "Explain {topic} {0.__class__}"\n'
             f'    slot topic = {json.dumps("{topic}")}, {json.dumps(PAYLOAD)}\n\n'
             'training:\n  base_model = "__import__(\'os\')"\n')
    return write_policy(tmp_path, "payload.policy", body)


def test_strings_that_look_like_code_are_data_through_every_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    policy = payload_policy(tmp_path)
    result = compile_policy(policy)
    assert result.ok, [d.message for d in result.diagnostics if d.severity.value == "error"]
    text = to_json(result.artifact)
    for payload in PAYLOADS:
        assert json.dumps(payload)[1:-1] in text  # kept verbatim
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "response": p}) + "\n" for p in PAYLOADS), encoding="utf-8")
    assert run_cli(["label", str(policy), str(data), "--out", str(tmp_path / "labels.parquet")])[0] == 0
    assert run_cli(["explain", str(policy), "--prompt", PAYLOAD, "--response", PAYLOAD])[0] in (0, 1)  # 1: BAD
    code, _, err = run_cli(["pairs", str(policy), "--out", str(tmp_path / "pairs"),
                            "--strategies", "examples,perturb"])
    assert code == 0, err
    assert not (tmp_path / "PWNED").exists()


def test_template_placeholders_expand_once_and_only_by_name(tmp_path):
    """`{0.__class__}` is not a placeholder, and a slot value is never expanded again."""
    from tenet.runtime.synthesize.prompts import build_pool

    policy = payload_policy(tmp_path)
    pool = build_pool(compile_policy(policy).artifact.ir, tmp_path, eval_split=0.0, seed=1)
    templated = {p.text for p in pool.train if p.text.startswith("Explain ")}
    assert templated == {"Explain {topic} {0.__class__}", f"Explain {PAYLOAD} {{0.__class__}}"}


@pytest.mark.parametrize("text", [
    "%import common.WS\n%ignore /rule/\n",
    "start: header\n",
    "rule __class__ (high):\n  forbid response contains \"x\"\n",
    "let __import__ = words(\"x\")\n",
])
def test_grammar_directives_and_dunder_names_are_syntax_errors(tmp_path, text):
    policy = write_policy(tmp_path, "g.policy", HEADER + text)
    result = compile_policy(policy)
    assert not result.ok and {d.code for d in result.diagnostics} <= {"P001", "P002"}


def test_training_settings_cannot_reach_internal_fields(tmp_path):
    policy = write_policy(tmp_path, "t.policy", PLAIN + "training:\n  model_config = \"x\"\n  schema_version = 9\n")
    result = compile_policy(policy)
    assert [d.code for d in result.diagnostics if d.severity.value == "error"] == ["E160", "E160"]


def test_artifact_is_json_only(tmp_path):
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "PWNED"), "w"))

    (tmp_path / "pickled.json").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ArtifactError):
        read_artifact(tmp_path / "pickled.json")
    assert not (tmp_path / "PWNED").exists()


def test_artifact_with_extra_fields_is_refused(tmp_path):
    artifact = compile_policy(write_policy(tmp_path, "p.policy", PLAIN)).artifact
    write_artifact(artifact, tmp_path / "a.json")
    data = json.loads((tmp_path / "a.json").read_text())
    data["ir"]["rules"][0]["__class__"] = "os.system"
    (tmp_path / "b.json").write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="not a valid tenet artifact"):
        read_artifact(tmp_path / "b.json")


def test_pickle_named_like_data_is_not_unpickled(tmp_path):
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "PWNED"), "w"))

    policy = write_policy(tmp_path, "p.policy", PLAIN)
    for name in ("rows.parquet", "rows.jsonl", "rows.csv"):
        (tmp_path / name).write_bytes(pickle.dumps(Payload()))
        run_cli(["label", str(policy), str(tmp_path / name), "--out", str(tmp_path / "o.parquet")])
    assert not (tmp_path / "PWNED").exists()


def test_no_code_execution_primitives_in_tenet():
    """A guard: nothing in compiler/ or runtime/ evaluates, unpickles or trusts remote code."""
    forbidden = re.compile(r"(?<![.\w])(?:eval|exec)\(|pickle\.loads?\(|yaml\.(?:unsafe_)?load\(|"
                           r"trust_remote_code\s*=\s*True|weights_only\s*=\s*False|allow_pickle\s*=\s*True")
    hits = [f"{path.relative_to(REPO)}:{n}" for folder in ("compiler", "runtime")
            for path in sorted((REPO / folder).rglob("*.py"))
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if forbidden.search(line)]
    assert hits == []


# --- model files ---------------------------------------------------------------------------------


def classifier_policy_with(tmp_path: Path, model: Path) -> Path:
    (tmp_path / "models").mkdir(exist_ok=True)
    shutil.copytree(model, tmp_path / "models" / "tox")
    body = (REPO / "tests" / "fixtures" / "label" / "classifier.policy").read_text(encoding="utf-8")
    return write_policy(tmp_path, "c.policy", body)


def label_once(tmp_path: Path, policy: Path) -> tuple[int, str, str]:
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "p", "response": "thanks"}) + "\n", encoding="utf-8")
    return run_cli(["label", str(policy), str(data), "--out", str(tmp_path / "o.parquet")])


def test_pickled_weights_are_loaded_without_running_code(tmp_path, tiny_classifier):
    """A `pytorch_model.bin` whose pickle would create a file is refused by torch's weights-only loader."""
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "PWNED"), "w"))

    policy = classifier_policy_with(tmp_path, tiny_classifier)
    model = tmp_path / "models" / "tox"
    (model / "model.safetensors").unlink()
    with (model / "pytorch_model.bin").open("wb") as handle:
        pickle.dump({"bert.embeddings.word_embeddings.weight": Payload()}, handle)
    code, _, err = label_once(tmp_path, policy)
    assert code == 2 and "cannot load the model" in err, err
    assert not (tmp_path / "PWNED").exists()


def test_remote_code_in_a_model_folder_is_not_imported(tmp_path, tiny_classifier):
    policy = classifier_policy_with(tmp_path, tiny_classifier)
    model = tmp_path / "models" / "tox"
    marker = tmp_path / "PWNED"
    (model / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\nfrom transformers import "
                                   "BertForSequenceClassification as EvilModel\n", encoding="utf-8")
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilModel", "AutoModelForSequenceClassification": "evil.EvilModel"}
    (model / "config.json").write_text(json.dumps(config))
    label_once(tmp_path, policy)  # loads the local class, or refuses; either way evil.py never runs
    assert not marker.exists()


# --- known gaps, recorded as failing tests -------------------------------------------------------


def _alarm(seconds: int):
    def stop(*_):
        raise TimeoutError(f"still compiling after {seconds}s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    return previous


def test_catastrophic_regex_with_a_hostile_example_compiles_quickly(tmp_path):
    """The example check runs each example under a time bound: E142, not a hung compiler."""
    policy = write_policy(tmp_path, "h.policy", HEADER + "rule r (high):\n  forbid response matches /(a+)+$/\n"
                          '  example:\n    prompt "p"\n    good "' + "a" * 40 + '!"\n')
    previous = _alarm(3)
    try:
        start = time.monotonic()
        result = compile_policy(policy)
        assert time.monotonic() - start < 1.0
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert [d.code for d in result.diagnostics] == ["E142"]
