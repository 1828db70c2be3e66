"""Check prompt sources: template slots match placeholders; files stay inside the root;
Hub data sets (`hf://…`) are well formed."""

from __future__ import annotations

import re
from pathlib import Path

from tenet.compiler import ast
from tenet.compiler.datarefs import is_dataset_ref, parse_dataset_ref
from tenet.compiler.diagnostics import Diagnostic, error, warning
from tenet.compiler.link import LinkedPolicy

PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9_-]*)\}")
PROMPT_FILE_SUFFIXES = (".jsonl", ".csv", ".parquet")


def check_prompts(policy: LinkedPolicy) -> list[Diagnostic]:
    """Report unfilled or unused template slots and prompt files outside the policy root."""
    found: list[Diagnostic] = []
    root = Path(policy.root)
    for source in policy.prompts:
        if isinstance(source, ast.Template):
            found.extend(_check_template(source))
        elif isinstance(source, ast.PromptFile):
            found.extend(_check_file(source, root))
    return found


def _check_template(template: ast.Template) -> list[Diagnostic]:
    found = []
    used = set(PLACEHOLDER.findall(template.text))
    given = {slot.name.text for slot in template.slots}
    for missing in sorted(used - given):
        found.append(error("E170", f"template placeholder `{{{missing}}}` has no slot", template.span,
                           f'add: slot {missing} = "...", "..."'))
    for slot in template.slots:
        if slot.name.text not in used:
            found.append(error("E170", f"slot `{slot.name.text}` is not used in the template",
                               slot.name.span, f"write {{{slot.name.text}}} in the template text"))
    return found


def _check_file(source: ast.PromptFile, root: Path) -> list[Diagnostic]:
    if "\x00" in source.path:
        return [error("E171", "prompt file path contains a NUL character", source.span,
                      "retype the path: it holds an invisible NUL character")]
    if is_dataset_ref(source.path):
        # A Hub data set is read from the Hugging Face cache at run time, not from the root.
        try:
            parse_dataset_ref(source.path)
        except ValueError as exc:
            return [error("E171", f"prompt data set {exc}", source.span,
                          'name a Hub data set as "hf://datasets/ORG/NAME" (see docs/language.md#prompts)')]
        return []
    if not source.path.endswith(PROMPT_FILE_SUFFIXES):
        return [error("E171", f"prompt file {source.path!r} is not .jsonl, .csv or .parquet", source.span,
                      "save the prompts as JSON Lines, CSV or Parquet with a `prompt` column")]
    if Path(source.path).is_absolute():
        return [error("E171", "prompt file paths are relative to the policy root", source.span,
                      f"put the file inside {root} and write its path from there")]
    try:
        real = (root / source.path).resolve()
    except (OSError, RuntimeError):  # a symbolic-link loop
        return [error("E171", f"prompt file {source.path!r} cannot be resolved (a symbolic-link loop?)",
                      source.span, "replace the symbolic link on this path with the file itself")]
    if not real.is_relative_to(root.resolve()):
        return [error("E171", f"prompt file {source.path!r} is outside the policy root", source.span,
                      f"keep prompt files inside {root}")]
    if not real.is_file():
        return [warning("W172", f"prompt file {source.path!r} does not exist yet", source.span,
                        "synthesis will fail until it exists")]
    return []
