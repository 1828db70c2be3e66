"""Read a policy and everything it imports or extends, inside the policy root.

Imports resolve relative to the importing file; `std/…` resolves to the shipped standard
library. Nothing may resolve outside the root (no `..`, absolute paths or symlinks out),
and import cycles are reported with the chain that forms them.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tenet import STD_DIR
from tenet.compiler import ast
from tenet.compiler.diagnostics import CompileError, Diagnostic, Span, error
from tenet.compiler.parse import parse

MAX_POLICY_BYTES = 2_000_000


class Module(BaseModel):
    """One parsed policy file and how it was reached."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    text: str
    sha256: str
    ast: ast.PolicyAst
    is_entry: bool
    via: str | None = None  # "import" or "extends" for dependencies


class Program(BaseModel):
    """The entry policy with its dependencies, dependencies first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: str
    modules: tuple[Module, ...]

    @property
    def entry(self) -> Module:
        """The policy the user asked to compile."""
        return self.modules[-1]

    def sources(self) -> dict[str, str]:
        """Map every module path to its text, for rendering diagnostics."""
        return {m.path: m.text for m in self.modules}


def read_policy_text(path: Path, span: Span | None = None) -> tuple[str | None, Diagnostic | None]:
    """Read a policy file as UTF-8, returning a diagnostic instead of raising."""
    shown = str(path)
    try:
        # Non-blocking, so a FIFO named like a policy cannot stall the compiler on open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                return None, error("L001", f"expected a policy file, found a directory: {shown}", span)
            if not stat.S_ISREG(mode):
                return None, error("L001", f"expected a policy file, found a device, pipe or socket: {shown}",
                                   span)
            # Read one byte past the limit rather than trust the size the file system reports.
            data = handle.read(MAX_POLICY_BYTES + 1)
        if len(data) > MAX_POLICY_BYTES:
            size = max(os.stat(path).st_size, len(data))
            return None, error("L004", f"policy file is too large ({size} bytes)", span,
                               f"policies are limited to {MAX_POLICY_BYTES} bytes")
        # utf-8-sig: a byte-order mark from some editors is not part of the policy.
        return data.decode("utf-8-sig"), None
    except FileNotFoundError:
        hint = "paths are relative to the importing file" if span is not None else "check the path"
        return None, error("L001", f"policy file not found: {shown}", span, hint)
    except IsADirectoryError:
        return None, error("L001", f"expected a policy file, found a directory: {shown}", span)
    except UnicodeDecodeError as exc:
        return None, error("L005", f"policy file is not valid UTF-8 ({exc.reason} at byte {exc.start})",
                           span)
    except (OSError, ValueError) as exc:  # ValueError: a path the OS cannot even name
        return None, error("L006", f"cannot read {shown}: {getattr(exc, 'strerror', None) or exc}", span)


def real_path(path: Path) -> Path | None:
    """The path with every symlink resolved, or None when that loops or the OS refuses."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # RuntimeError: Python 3.11's "Symlink loop"
        return None


def load_program(entry: str | Path, root: str | Path | None = None, text: str | None = None) -> Program:
    """Parse the entry policy and, transitively, everything it imports or extends.

    Args:
        entry: Path of the policy to compile.
        root: Directory imports must stay inside; defaults to the entry's directory.
        text: The entry's source, to use instead of reading `entry` (an editor's unsaved
            buffer); its imports are still read from disk, relative to `entry`.

    Returns:
        The program, dependencies before dependants.

    Raises:
        CompileError: With every load and syntax diagnostic found.
    """
    entry_path = Path(entry)
    # A symlink loop is reported by `visit`; here it must only not stop us choosing a root.
    base = Path(root) if root else (real_path(entry_path) or entry_path.absolute()).parent
    root_path = real_path(base) or base.absolute()
    loader = _Loader(root_path, text)
    loader.visit(entry_path, span=None, chain=(), via=None)
    if loader.diagnostics:
        raise CompileError(loader.diagnostics)
    return Program(root=str(root_path), modules=tuple(loader.modules))


class _Loader:
    def __init__(self, root: Path, entry_text: str | None = None):
        self.root = root
        self.entry_text = entry_text
        self.modules: list[Module] = []
        self.seen: set[Path] = set()
        self.diagnostics: list[Diagnostic] = []

    def visit(self, path: Path, span: Span | None, chain: tuple[Path, ...], via: str | None) -> None:
        real = real_path(path)
        if real is None:
            self.diagnostics.append(_symlink_loop(path, span))
            return
        if real in chain:
            cycle = " -> ".join(p.name for p in (*chain[chain.index(real):], real))
            self.diagnostics.append(error("L003", f"import cycle: {cycle}", span,
                                          "remove one of the imports in the cycle"))
            return
        if real in self.seen:
            return
        self.seen.add(real)
        if not chain and self.entry_text is not None:
            text, problem = _given_text(self.entry_text, path)
        else:
            text, problem = read_policy_text(path, span)
        if problem:
            self.diagnostics.append(problem)
            return
        shown = str(path)
        try:
            tree = parse(text, shown)
        except CompileError as exc:
            self.diagnostics.extend(exc.diagnostics)
            return
        for item in tree.items:
            if isinstance(item, (ast.Import, ast.Extends)):
                target = self.resolve(item.path, path.parent, item.span)
                if target is not None:
                    self.visit(target, item.span, (*chain, real), item.kind)
        self.modules.append(Module(
            path=shown, text=text, sha256=hashlib.sha256(text.encode()).hexdigest(), ast=tree,
            is_entry=not chain, via=via,
        ))

    def resolve(self, written: str, base: Path, span: Span) -> Path | None:
        if "\x00" in written:
            self.diagnostics.append(error("L002", "import path contains a NUL character", span))
            return None
        if written.startswith("/") or (len(written) > 1 and written[1] == ":"):
            self.diagnostics.append(error("L002", f"absolute import path {written!r} is not allowed",
                                          span, "write the path relative to the importing policy"))
            return None
        if written.startswith("std/"):
            # Shown relative to the working directory, so artifacts do not embed a machine path.
            candidate = Path(os.path.relpath(STD_DIR / written[len("std/"):]))
            allowed = STD_DIR.resolve()
        else:
            candidate, allowed = base / written, self.root
        real = real_path(candidate)
        if real is None:
            self.diagnostics.append(_symlink_loop(candidate, span))
            return None
        if not real.is_relative_to(allowed):
            self.diagnostics.append(error(
                "L002", f"import {written!r} resolves outside the policy root", span,
                f"imports must stay inside {allowed} (no `..` or symlinks out)"))
            return None
        return candidate


def _given_text(text: str, path: Path) -> tuple[str | None, Diagnostic | None]:
    """The entry's source as given, held to the same size limit as a file read from disk."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_POLICY_BYTES:
        return None, error("L004", f"policy file is too large ({size} bytes)", None,
                           f"policies are limited to {MAX_POLICY_BYTES} bytes")
    return text.removeprefix("\ufeff"), None


def _symlink_loop(path: Path, span: Span | None) -> Diagnostic:
    return error("L006", f"cannot read {path}: too many levels of symbolic links", span,
                 "a symbolic link on this path points back at itself")
