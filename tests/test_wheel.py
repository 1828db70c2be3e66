"""The built wheel, installed into a fresh venv with the compiler's dependencies only.

`pip install tenet` gives one import package, `tenet`, with the standard policy library and
the trainer field table inside it, and a `tenet` command that checks, formats and plans a
policy outside any checkout.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from helpers import REPO

POLICY = '''dsl 1
policy outside version "1"
import "std/safety.policy"

rule short (medium):
  require response has at most 40 words
  example:
    prompt "How do I reset my password?"
    good   "Use the reset link on the sign-in page."
    bad    "Well, there are many ways to think about passwords, and before we start it is worth saying that security matters a great deal to all of us here, so let me explain in some detail what you might want to consider first."

prompts:
  template "How do I {task}?" slot task = "reset my password", "close my account", "change my email", "update my card", "download my invoice", "cancel my order", "track my parcel", "contact support"

training:
  trainer.lr_scheduler_type = cosine
  trainer.warmup_steps = 2
  lora = true
  lora.lora_dropout = 0.05
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding the wheel built from this checkout and what the lock pins for it."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist"), str(REPO)], check=True, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("tenet-*.whl")
    venv.create(tmp / "venv", with_pip=True)
    python = tmp / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(REPO / "requirements.lock"), str(wheel)],
                   check=True, cwd=tmp)
    return tmp


def test_the_wheel_holds_one_package_with_its_data(installed: Path) -> None:
    (wheel,) = (installed / "dist").glob("tenet-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"tenet"}
    assert {"tenet/std/safety.policy", "tenet/compiler/policy.lark", "tenet/compiler/trainer_fields.json",
            "tenet/runtime/cli.py"} <= set(names)


def test_an_installed_tenet_checks_a_policy_that_imports_std_and_sets_trainer_fields(installed: Path) -> None:
    folder = installed / "user-project"
    folder.mkdir()
    (folder / "support.policy").write_text(POLICY, encoding="utf-8")
    bin_dir = installed / "venv" / "bin"
    imports = subprocess.run([str(bin_dir / "python"), "-c",
                              "import importlib.util as u, tenet; print(tenet.__version__, "
                              "u.find_spec('compiler'), u.find_spec('runtime'), u.find_spec('torch'))"],
                             capture_output=True, text=True, cwd=folder)
    assert imports.returncode == 0, imports.stderr
    assert imports.stdout.split()[1:] == ["None", "None", "None"]  # no top-level compiler/runtime, no torch
    for command in (["check", "support.policy"], ["plan", "support.policy"], ["fmt", "--check", "support.policy"]):
        done = subprocess.run([str(bin_dir / "tenet"), *command], capture_output=True, text=True, cwd=folder)
        assert done.returncode in (0, 1), done.stderr
        assert "error" not in done.stderr.lower() or command[0] == "fmt", (command, done.stderr)
        assert "Traceback" not in done.stderr
    done = subprocess.run([str(bin_dir / "tenet"), "check", "support.policy"], capture_output=True, text=True,
                          cwd=folder)
    assert done.returncode == 0, done.stderr


def test_an_installed_tenet_loads_and_plans_from_python_without_the_extras(installed: Path) -> None:
    folder = installed / "api-project"
    folder.mkdir()
    (folder / "support.policy").write_text(POLICY, encoding="utf-8")
    script = ("import sys, tenet; policy = tenet.load('support.policy'); "
              "print(policy.id, len(policy.plan().stages), policy.check().ok, 'pyarrow' in sys.modules)")
    done = subprocess.run([str(installed / "venv" / "bin" / "python"), "-c", script], capture_output=True, text=True,
                          cwd=folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "outside 7 True False\n"


def test_an_installed_tenet_without_the_label_extra_says_what_to_install(installed: Path) -> None:
    folder = installed / "extra-project"
    folder.mkdir()
    (folder / "support.policy").write_text(POLICY, encoding="utf-8")
    tenet = str(installed / "venv" / "bin" / "tenet")
    done = subprocess.run([tenet, "explain", "support.policy", "--prompt", "Hi", "--response", "Hello"],
                          capture_output=True, text=True, cwd=folder)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == 'error: tenet explain needs the [label] extra: pip install "tenet[label]"\n'


def test_an_installed_tenet_scaffolds_a_repository_that_checks_clean(installed: Path) -> None:
    tenet = str(installed / "venv" / "bin" / "tenet")
    done = subprocess.run([tenet, "init", "scaffolded"], capture_output=True, text=True, cwd=installed)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([tenet, "check", "scaffolded"], capture_output=True, text=True, cwd=installed)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "scaffolded/policies/support.policy: ok (16 rules, 0 warnings)\n"


def test_pyproject_lists_every_package_folder() -> None:
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = {"tenet"}
    for folder, package in (("compiler", "tenet.compiler"), ("runtime", "tenet.runtime")):
        for init in (REPO / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO / folder).parts
            found.add(".".join([package, *parts]))
    assert listed == found
