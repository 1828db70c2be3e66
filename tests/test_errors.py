"""Exact rendered diagnostics: one fixture per diagnostic code (and variant) in tests/fixtures/errors/.

Each `<CODE>-<slug>.policy` is compiled from the repository root with a relative path and the
full output of `render_all` is compared with `<CODE>-<slug>.expected`. Regenerate with
`pytest tests/test_errors.py --update-goldens` and review every changed message.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tenet.compiler.diagnostics import Severity, render_all
from tenet.compiler.load import MAX_POLICY_BYTES
from tenet.compiler.pipeline import compile_policy
from conftest import check_golden
from helpers import FIXTURES, REPO, compile_rel, rendered, write_policy

ERRORS = FIXTURES / "errors"
CASES = sorted(ERRORS.glob("*.policy"), key=lambda p: p.name)
CODE_IN_NAME = re.compile(r"^([PLEWN][0-9]{3})-")


def emitted_codes() -> set[str]:
    """Every diagnostic code the compiler source can emit."""
    codes: set[str] = set()
    for path in (REPO / "compiler").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r"\b(?:error|warning|note)\(\s*\"([A-Z][0-9]{3})\"", text))
    return codes


@pytest.mark.parametrize("policy", CASES, ids=lambda p: p.stem)
def test_rendered_diagnostics(policy: Path, in_repo: Path, update_goldens: bool) -> None:
    result = compile_rel(policy)
    text = rendered(result)
    check_golden(policy.with_suffix(".expected"), text + "\n", update_goldens)


@pytest.mark.parametrize("policy", CASES, ids=lambda p: p.stem)
def test_fixture_triggers_the_code_in_its_name(policy: Path, in_repo: Path) -> None:
    match = CODE_IN_NAME.match(policy.name)
    assert match, f"{policy.name}: name it <CODE>-<slug>.policy"
    code = match.group(1)
    result = compile_rel(policy)
    assert code in {d.code for d in result.diagnostics}
    errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    # Errors never produce an artifact; warnings and notes alone always do.
    assert result.ok == (not errors)
    expected_severity = {"W": Severity.WARNING, "N": Severity.NOTE}.get(code[0], Severity.ERROR)
    assert any(d.code == code and d.severity is expected_severity for d in result.diagnostics)


def test_every_emittable_code_has_a_fixture() -> None:
    covered = {CODE_IN_NAME.match(p.name).group(1) for p in CASES}
    covered |= {"L004"}  # a 2 MB file is generated at test time (test_policy_too_large)
    codes = emitted_codes()
    assert codes, "no diagnostic codes found in compiler/"
    assert codes - covered == set()


def test_expected_files_have_no_orphans() -> None:
    for expected in ERRORS.glob("*.expected"):
        assert expected.with_suffix(".policy").exists(), expected


def test_every_rendered_diagnostic_has_location_and_caret(in_repo: Path) -> None:
    """Authors always get file:line:col and a caret under the source line."""
    for policy in CASES:
        result = compile_rel(policy)
        for diag in result.diagnostics:
            assert diag.span is not None, (policy.name, diag.code)
            assert "^" in diag.render(result.sources) or diag.code == "P003", (policy.name, diag.code)


# --- several diagnostics in one run --------------------------------------------------------


def test_several_syntax_errors_in_one_file(in_repo: Path) -> None:
    result = compile_rel(ERRORS / "P001-several-syntax-errors.policy")
    assert [(d.code, d.span.line) for d in result.diagnostics] == [
        ("P001", 5), ("P001", 10), ("P001", 12)]


def test_diagnostics_from_different_checks_are_collected(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "many.policy", """dsl 1
policy many version "1"

let competitors = words("RivalCo")

rule first (high):
  forbid response mentions competitor
  tags S99

rule second (high):
  require response matches /(unclosed/

rule third (medium):
  require sentiment(response)

training:
  methd = dpo
  gate critical >= 2
""")
    result = compile_policy(policy)
    assert not result.ok
    codes = [d.code for d in result.diagnostics]
    for code in ("E104", "E106", "E120", "E110", "E160", "E165", "W150"):
        assert code in codes, (code, codes)
    lines = [d.span.line for d in result.diagnostics]
    assert lines == sorted(lines), "diagnostics are sorted by position"


def test_load_errors_from_several_imports_are_collected(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "main.policy", 'dsl 1\npolicy m version "1"\n'
                          'import "missing-a.policy"\nimport "../outside.policy"\nimport "/abs.policy"\n')
    result = compile_policy(policy)
    assert [d.code for d in result.diagnostics] == ["L001", "L002", "L002"]


def test_syntax_errors_in_two_modules_are_both_reported(tmp_path: Path) -> None:
    write_policy(tmp_path, "one.policy", 'dsl 1\npolicy one version "1"\nrule x (hgh):\n  forbid response contains "a"\n')
    write_policy(tmp_path, "two.policy", 'dsl 1\npolicy two version "1"\nrule y (high)\n  forbid response contains "b"\n')
    policy = write_policy(tmp_path, "main.policy", 'dsl 1\npolicy m version "1"\n'
                          'import "one.policy"\nimport "two.policy"\n')
    result = compile_policy(policy)
    assert sorted((Path(d.span.file).name, d.code) for d in result.diagnostics) == [
        ("one.policy", "P001"), ("two.policy", "P001")]


def test_render_all_truncates_long_lists(in_repo: Path) -> None:
    result = compile_rel(ERRORS / "P001-several-syntax-errors.policy")
    text = render_all(list(result.diagnostics), result.sources, max_errors=1)
    assert text.count("error[P001]") == 1
    assert text.endswith("... and 2 more")


# --- diagnostics that need files made at test time ---------------------------------------


def test_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    outside = write_policy(tmp_path, "outside/secret.policy", 'dsl 1\npolicy secret version "1"\n')
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked.policy").symlink_to(outside)
    policy = write_policy(root, "main.policy", 'dsl 1\npolicy m version "1"\n\nimport "linked.policy"\n')
    result = compile_policy(policy)
    assert not result.ok
    assert render_all(list(result.diagnostics), result.sources).replace(str(tmp_path), "<tmp>") == (
        "<tmp>/root/main.policy:4:1: error[L002]: import 'linked.policy' resolves outside the policy root\n"
        '   4 | import "linked.policy"\n'
        "       ^^^^^^^^^^^^^^^^^^^^^^\n"
        "  = hint: imports must stay inside <tmp>/root (no `..` or symlinks out)")


def test_symlinked_directory_out_of_root_is_refused(tmp_path: Path) -> None:
    write_policy(tmp_path, "outside/secret.policy", 'dsl 1\npolicy secret version "1"\n')
    root = tmp_path / "root"
    root.mkdir()
    (root / "shared").symlink_to(tmp_path / "outside", target_is_directory=True)
    policy = write_policy(root, "main.policy", 'dsl 1\npolicy m version "1"\nimport "shared/secret.policy"\n')
    assert [d.code for d in compile_policy(policy).diagnostics] == ["L002"]


def test_prompt_file_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "traffic.jsonl").write_text('{"prompt": "hi"}\n')
    root = tmp_path / "root"
    root.mkdir()
    (root / "traffic.jsonl").symlink_to(tmp_path / "traffic.jsonl")
    policy = write_policy(root, "main.policy", 'dsl 1\npolicy m version "1"\n'
                          'rule r (high):\n  forbid response contains "x"\n'
                          '  example:\n    prompt "p"\n    good "y"\n    bad "x"\n'
                          'prompts:\n  file "traffic.jsonl"\n')
    assert [d.code for d in compile_policy(policy).diagnostics] == ["E171"]


def test_policy_too_large(tmp_path: Path) -> None:
    big = tmp_path / "big.policy"
    big.write_text('dsl 1\npolicy big version "1"\n' + "#" * MAX_POLICY_BYTES + "\n")
    policy = write_policy(tmp_path, "main.policy", 'dsl 1\npolicy m version "1"\nimport "big.policy"\n')
    result = compile_policy(policy)
    size = big.stat().st_size
    assert render_all(list(result.diagnostics), result.sources).replace(str(tmp_path), "<tmp>") == (
        f"<tmp>/main.policy:3:1: error[L004]: policy file is too large ({size} bytes)\n"
        '   3 | import "big.policy"\n'
        "       ^^^^^^^^^^^^^^^^^^^\n"
        f"  = hint: policies are limited to {MAX_POLICY_BYTES} bytes")


def test_entry_file_invalid_utf8_is_a_diagnostic(tmp_path: Path) -> None:
    path = tmp_path / "bad.policy"
    path.write_bytes(b'dsl 1\npolicy bad version "1"\n# \xff\xfe\n')
    result = compile_policy(path)
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("L005", "policy file is not valid UTF-8 (invalid start byte at byte 31)")]


def test_entry_file_missing_is_a_diagnostic(tmp_path: Path) -> None:
    result = compile_policy(tmp_path / "nope.policy")
    assert [d.code for d in result.diagnostics] == ["L001"]
    assert result.diagnostics[0].message == f"policy file not found: {tmp_path / 'nope.policy'}"


def test_entry_file_missing_hint_does_not_mention_an_importing_file(tmp_path: Path) -> None:
    result = compile_policy(tmp_path / "nope.policy")
    assert "importing file" not in (result.diagnostics[0].hint or "")


def test_entry_directory_is_a_diagnostic(tmp_path: Path) -> None:
    result = compile_policy(tmp_path)
    assert [d.code for d in result.diagnostics] == ["L001"]
    assert "found a directory" in result.diagnostics[0].message


def test_import_of_itself_is_a_cycle(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "self.policy", 'dsl 1\npolicy s version "1"\nimport "self.policy"\n')
    result = compile_policy(policy)
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("L003", "import cycle: self.policy -> self.policy")]


def test_diamond_import_is_not_a_cycle(tmp_path: Path) -> None:
    write_policy(tmp_path, "shared.policy", 'dsl 1\npolicy shared version "1"\nlet w = words("x")\n')
    write_policy(tmp_path, "left.policy", 'dsl 1\npolicy left version "1"\nimport "shared.policy"\n')
    write_policy(tmp_path, "right.policy", 'dsl 1\npolicy right version "1"\nimport "shared.policy"\n')
    policy = write_policy(tmp_path, "top.policy", 'dsl 1\npolicy top version "1"\n'
                          'import "left.policy"\nimport "right.policy"\n')
    result = compile_policy(policy)
    assert result.ok, [d.code for d in result.diagnostics]
    assert [Path(s.path).name for s in result.artifact.sources] == [
        "shared.policy", "left.policy", "right.policy", "top.policy"]


def test_explicit_root_allows_sibling_directories(tmp_path: Path) -> None:
    write_policy(tmp_path, "lib/words.policy", 'dsl 1\npolicy lib version "1"\nlet w = words("x")\n')
    policy = write_policy(tmp_path, "org/main.policy", 'dsl 1\npolicy m version "1"\nimport "../lib/words.policy"\n')
    assert [d.code for d in compile_policy(policy).diagnostics] == ["L002"]
    assert compile_policy(policy, root=tmp_path).ok


def test_caret_points_at_the_regex_error_position(in_repo: Path) -> None:
    result = compile_rel(ERRORS / "E120-invalid-regex.policy")
    (diag,) = result.diagnostics
    line = result.sources[diag.span.file].splitlines()[diag.span.line - 1]
    # `missing ), unterminated subpattern at position 3`: the `(` after `ID-`.
    assert line[diag.span.col - 1] == "("
    assert line[diag.span.col - 2] == "-"


# --- regressions: bugs found and fixed --------------------------------------------


@pytest.mark.parametrize("sep", ["\x0c", "\u2028", "\x85"])
def test_render_shows_the_right_line_after_unusual_line_separators(tmp_path: Path, sep: str) -> None:
    policy = write_policy(tmp_path, "p.policy", f'dsl 1\n# a comment with {sep} inside\npolicy p version "1"\n'
                          'rule r (high):\n  forbid response mentions nope\n'
                          '  example:\n    prompt "x"\n    good "y"\n')
    result = compile_policy(policy)
    (diag,) = result.diagnostics
    assert diag.span.line == 5
    assert diag.render(result.sources).splitlines()[1] == "   5 |   forbid response mentions nope"


def test_regex_caret_accounts_for_escaped_slashes(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\nrule r (high):\n'
                          "  forbid response matches /a\\/\\/(b/\n")
    result = compile_policy(policy)
    diag = next(d for d in result.diagnostics if d.code == "E120")
    line = result.sources[str(policy)].splitlines()[diag.span.line - 1]
    assert line[diag.span.col - 1] == "("


def test_empty_keyword_in_let_is_reported(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\nlet blank = words("ok", " ")\n'
                          'rule r (high):\n  forbid response mentions blank\n'
                          '  example:\n    prompt "p"\n    good "fine"\n    bad "ok"\n')
    assert "E113" in [d.code for d in compile_policy(policy).diagnostics]


@pytest.mark.parametrize(("setting", "bad_phrase"), [
    ("lora = yes", "is the train"),
    ("device = gpu", "is the where"),
    ("max_steps = 1.5", "is the stop"),
    ("precision = fp16", "is the fp32"),
])
def test_setting_hints_read_as_sentences(tmp_path: Path, setting: str, bad_phrase: str) -> None:
    policy = write_policy(tmp_path, "p.policy", f'dsl 1\npolicy p version "1"\ntraining:\n  {setting}\n')
    (diag,) = [d for d in compile_policy(policy).diagnostics if d.code == "E161"]
    assert bad_phrase not in (diag.hint or "")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.policy"
    path.write_bytes(b"\xef\xbb\xbf" + b'dsl 1\npolicy p version "1"\n')
    result = compile_policy(path)
    assert result.ok, [d.message for d in result.diagnostics]
