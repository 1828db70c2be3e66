"""What the command groups share: argument helpers, loading a policy as a command does, output helpers."""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tenet.compiler.settings import GENERATION_ENGINES
from tenet.runtime import api
from tenet.runtime.errors import UsageError
from tenet.runtime.policy import CompiledPolicy
from tenet.runtime.results import Check
from tenet.runtime.console import Console



FORMATS = ("text", "json")


# Folders `check` and `fmt` do not search for policies: tools' and environments' own.
SKIPPED_FOLDERS = frozenset({"node_modules", "site-packages", "venv", "__pycache__"})


TRACKING_HELP = "MLflow tracking URI (default: MLFLOW_TRACKING_URI, else --work-dir's mlflow.db)"


def format_arg(sub: argparse.ArgumentParser, what: str) -> None:
    """`--format text|json`: json prints one object on stdout (fields in docs/ci.md)."""
    sub.add_argument("--format", choices=FORMATS, default="text",
                     help=f"json: one JSON object on stdout ({what}; docs/ci.md)")


def policy_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("policy", help="path to a .policy file")
    root_arg(sub)


def root_arg(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--root", help="directory imports must stay inside (default: the policy's)")


def store_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("policy", help="policy id (its experiment is tenet/<id>), or its .policy / .json file")
    sub.add_argument("--work-dir", default="work", help="work folder whose mlflow.db to read")
    sub.add_argument("--tracking-uri", help=TRACKING_HELP)


def engine_args(sub: argparse.ArgumentParser) -> None:
    """`--engine local|ray` and `--ray-address`: where the model generates (the Ray back-end needs [scale])."""
    sub.add_argument("--engine", choices=GENERATION_ENGINES,
                     help="where the model generates pairs and evaluation answers: local (this process) or ray "
                          "(an actor pool on a Ray cluster, one actor per GPU; needs the [scale] extra). "
                          "Default: the policy's `generation` setting")
    sub.add_argument("--ray-address", help="the Ray cluster for the ray engine (default: RAY_ADDRESS, else a "
                                           "local cluster)")


def check_path(path: str, args: argparse.Namespace, for_training: bool = False) -> Check:
    """Check the command's policy (`api.check`) with its `--root`, `--base-model` and `--method`.

    `for_training` (plan, compile-and-train): a policy with no held-out prompts is an error (E173).
    """
    # `--base-model` and `--method` are compiled in, so the plan (and the check of the policy's
    # `trainer.*` settings against the method's TRL config) describes what will run.
    return api.check(path, getattr(args, "root", None), getattr(args, "base_model", None),
                     getattr(args, "method", None), for_training=for_training)


def load_policy(args: argparse.Namespace, console: Console, for_training: bool = False) -> CompiledPolicy | None:
    """The command's policy, or None after printing its errors (as the command's `--format` asks)."""
    found = check_path(args.policy, args, for_training)
    report_diagnostics(found, console, getattr(args, "format", "text"))
    return found.policy


def report_diagnostics(found: Check, console: Console, fmt: str) -> None:
    """A policy's diagnostics: on stderr with a count of errors (text); the check object, on errors (json)."""
    if fmt == "json":
        if not found.ok:
            console.print_json(dumps(found.to_dict()))
        return
    if found.diagnostics:
        console.error(found.render())
        if found.errors:
            console.error(f"\n{len(found.errors)} error(s), {len(found.warnings)} warning(s)")


def load_any(path: str, console: Console, fmt: str = "text") -> CompiledPolicy | None:
    """A `.policy` or compiled `.json` file, or None after printing its errors (`check` shows warnings)."""
    found = api.check(path)
    if not found.ok:
        report_diagnostics(found, console, fmt)
    return found.policy


def dumps(data: object) -> str:
    """JSON as every command prints it: indented, keys sorted, so diffs between runs read well."""
    return json.dumps(data, indent=2, sort_keys=True)


@contextmanager
def writing(path: str) -> Iterator[None]:
    """Report an OS error inside the block as `cannot write PATH: why` (exit 2)."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def policy_files(paths: list[str]) -> list[str]:
    """The files named, and the `*.policy` files under the folders named (recursively, sorted).

    Hidden folders and those of environments and tools (`SKIPPED_FOLDERS`) are not searched.

    Raises:
        UsageError: For a path that does not exist or a folder with no policy in it.
    """
    found: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*.policy")
                            if p.is_file() and not _skipped(p.relative_to(path)))
            if not inside:
                raise UsageError(f"no .policy files in {given}")
            found.extend(str(p) for p in inside)
        elif path.exists():
            found.append(given)
        else:
            raise UsageError(f"policy file not found: {given}")
    return list(dict.fromkeys(found))


def _skipped(relative: Path) -> bool:
    return any(part.startswith(".") or part in SKIPPED_FOLDERS for part in relative.parts[:-1])
