"""Exact rendered diagnostics: one fixture per diagnostic code (and variant) in tests/fixtures/errors/.

Each `<CODE>-<slug>.policy` is compiled from the repository root with a relative path and the
full output of `render_all` is compared with `<CODE>-<slug>.expected`. Regenerate with
`pytest tests/test_errors.py --update-goldens` and review every changed message.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tenet.compiler.codes import PAGES, code_page
from tenet.compiler.diagnostics import Severity, render_all
from tenet.compiler.load import MAX_POLICY_BYTES
from tenet.compiler.pipeline import compile_policy
from tenet.compiler.setting_names import SETTING_SYNONYMS, setting_hint, setting_key, suggest_setting
from tenet.compiler.settings import SETTINGS
from tenet.compiler.trainer_allow import LORA_FIELDS, TRAINER_FIELDS
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


# Failures to read a file report the operating system's reason and carry no hint.
WITHOUT_HINT = {"L005", "L006"}


def test_every_diagnostic_names_a_fix(in_repo: Path) -> None:
    for policy in CASES:
        for diag in compile_rel(policy).diagnostics:
            assert diag.hint or diag.code in WITHOUT_HINT, (policy.name, diag.code, diag.message)


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


# --- hints for the mistakes plain-English authors make --------------------------------------


@pytest.mark.parametrize(("name", "meant"), [
    ("lr", "learning_rate"), ("steps", "max_steps"), ("bs", "batch_size"), ("batch", "batch_size"),
    ("model", "base_model"), ("epoch", "epochs"), ("Learning-Rate", "learning_rate"),
    ("num_train_epochs", "epochs"), ("gradient_accumulation_steps", "grad_accum"), ("r", "lora_r"),
    ("warmup_steps", "trainer.warmup_steps"), ("lora_dropout", "lora.lora_dropout"),
    ("learning_rat", "learning_rate"), ("methd", "method"),
])
def test_suggest_setting_knows_abbreviations_synonyms_and_typos(name: str, meant: str) -> None:
    assert suggest_setting(name) == meant


@pytest.mark.parametrize("name", ["tone", "colour", "verbosity", "mood"])
def test_suggest_setting_stays_quiet_without_a_good_guess(name: str) -> None:
    assert suggest_setting(name) is None


def test_every_synonym_names_a_setting_or_an_allowed_field() -> None:
    for word, meant in SETTING_SYNONYMS.items():
        section, _, field = meant.partition(".")
        known = field in {"trainer": TRAINER_FIELDS, "lora": LORA_FIELDS}[section] if field else meant in SETTINGS
        assert known, (word, meant)


def test_synonyms_are_keyed_as_looked_up_and_never_shadow_a_setting() -> None:
    for word in SETTING_SYNONYMS:
        assert setting_key(word) == word, word
        assert word not in SETTINGS, word


def test_setting_hint_says_what_the_setting_sets() -> None:
    assert setting_hint("lr") == "did you mean `learning_rate`? `learning_rate`: optimizer learning rate"
    assert setting_hint("tone") is None


@pytest.mark.parametrize(("line", "hint"), [
    ('  require response does not mention "X"',
     'say it with the opposite verdict: `forbid response mentions "X"`'),
    ('  prefer response never contains "!"', 'say it with the opposite verdict: `avoid response contains "!"`'),
    ("  avoid response is not json", "say it with the opposite verdict: `prefer response is json`"),
    ("  forbid response isn't a refusal",
     "say it with the opposite verdict: `require response is a refusal`"),
    ('  forbid response does not mention "X" and prompt contains "y"',
     'put `not` before the condition: `not response mentions "X"`'),
    ('  when any prompt does not start with "Hi"\n  forbid response contains "x"',
     'put `not` before the condition: `not any prompt starts with "Hi"`'),
    ("  require response has less than 5 lines",
     "write `has fewer than 5 lines` (the same as `has at most 4 lines`)"),
    ("  require response has no more than 3 bullets", "write `has at most 3 bullets`"),
    ("  require response has over 10 words", "write `has more than 10 words`"),
    ("  require response has <= 5 lines", "write `has at most 5 lines`"),
    ("  require response has 5 lines",
     "say how to compare the count: `has at least 5 lines`, `has at most 5 lines` or `has exactly 5 lines`"),
    ('  forbid response mentions "x" or "y"', 'list the words in one set: `response mentions words("x", "y")`'),
    ('  forbid response mentions "x", "y"', 'list the words in one set: `response mentions words("x", "y")`'),
    ('  forbid response contains "x" and "y"',
     '`and` joins whole conditions: write `response contains "x" and response contains "y"`'),
    ("  forbid response matches /a/ or /b/",
     "`or` joins whole conditions: write `response matches /a/ or response matches /b/`"),
    ("  require response is JSON", "write `json`: the words of the policy language are lower case"),
    ('  Forbid response contains "x"', "write `forbid`: the words of the policy language are lower case"),
])
def test_syntax_hints_write_the_fix(tmp_path: Path, line: str, hint: str) -> None:
    policy = write_policy(tmp_path, "p.policy", f'dsl 1\npolicy p version "1"\n\nrule r (high):\n{line}\n')
    (diag,) = compile_policy(policy).diagnostics
    assert (diag.code, diag.hint) == ("P001", hint)


@pytest.mark.parametrize(("text", "hint"), [
    ('dsl 1\npolicy p version 2026.11.0\n', 'the version is text in double quotes: `version "2026.11.0"`'),
    ('dsl 1\npolicy p version v2\n', 'the version is text in double quotes: `version "v2"`'),
    ('dsl "1"\npolicy p version "1"\n', "the language version is a bare number: `dsl 1`"),
    ('# brand rules\npolicy p version "1"\n',
     "a policy file starts with the line `dsl 1` (the language version): add it above this line"),
    ('rule r (high):\n  forbid response contains "x"\n',
     'a policy file starts with two lines: `dsl 1`, then `policy my-policy version "1"`'),
    ('dsl 1\npolicy p version "1"\ntraining:\n  model = "org/m"\n',
     "`model` is a word of the policy language, not a setting; did you mean `base_model`? "
     "`base_model`: Hugging Face id, a folder inside the policy root, or embedded:…"),
])
def test_header_and_training_syntax_hints(tmp_path: Path, text: str, hint: str) -> None:
    (diag,) = compile_policy(write_policy(tmp_path, "p.policy", text)).diagnostics
    assert (diag.code, diag.hint) == ("P001", hint)


def test_expected_tokens_are_the_ones_that_fit_here(tmp_path: Path) -> None:
    """After `response` only a verb fits: no `)` or `,` from `sentiment(response, ...)`."""
    policy = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\nrule r (high):\n  forbid response x\n')
    (diag,) = compile_policy(policy).diagnostics
    assert diag.message == ("unexpected name `x`; expected one of `contains`, `ends`, `has`, `is`, `matches`, "
                            "`mentions`, `starts`")


@pytest.mark.parametrize("fixture", ["E130-contradictory-when", "E130-impossible-count", "E130-unless-covers-when"])
def test_a_rule_that_never_fires_is_reported_once_at_its_condition(in_repo: Path, fixture: str) -> None:
    result = compile_rel(ERRORS / f"{fixture}.policy")
    (diag,) = result.diagnostics  # no E141 for each example of a rule with no scope
    line = result.sources[diag.span.file].splitlines()[diag.span.line - 1]
    assert diag.code == "E130"
    assert line.lstrip().startswith(("when ", "unless ")) and line[diag.span.col - 1:].startswith("prompt")


# --- code pages (`tenet check --explain CODE`) -----------------------------------------------

# Pages whose example needs files beside it: each is written here before compiling.
SETUP = {
    "L003": lambda folder: write_policy(folder, "b.policy", 'dsl 1\npolicy b version "1"\nimport "example.policy"\n'),
    "L004": lambda folder: write_policy(folder, "huge.policy", 'dsl 1\npolicy h version "1"\n'
                                        + "#" * MAX_POLICY_BYTES + "\n"),
    "L005": lambda folder: (folder / "latin1.policy").write_bytes(b'dsl 1\npolicy l version "1"\n# caf\xe9\n'),
}
# Pages whose example is too large to print (~2,000 `or`s, 21 templates) or needs a file this user
# cannot read; their fixture shows the code instead.
SHOWN_BY_FIXTURE = {"L006": "L006-unreadable-import", "P004": "P004-deep-nesting",
                    "W176": "W176-too-many-written-prompts"}


def test_every_emittable_code_has_a_page_and_every_page_an_emittable_code() -> None:
    assert set(PAGES) == emitted_codes()


def test_only_the_pages_set_up_here_need_more_than_their_example() -> None:
    assert {code for code, page in PAGES.items() if page.needs} == set(SETUP) | set(SHOWN_BY_FIXTURE)
    for fixture in SHOWN_BY_FIXTURE.values():
        assert (ERRORS / f"{fixture}.policy").exists(), fixture


@pytest.mark.parametrize("code", sorted(set(PAGES) - set(SHOWN_BY_FIXTURE)))
def test_page_example_triggers_its_code_and_nothing_else(tmp_path: Path, code: str) -> None:
    SETUP.get(code, lambda folder: None)(tmp_path)
    result = compile_policy(write_policy(tmp_path, "example.policy", PAGES[code].example))
    shown = [d.render(result.sources) for d in result.diagnostics]
    assert {d.code for d in result.diagnostics} == {code}, shown


def test_code_page_reads_like_a_manual_page() -> None:
    page = code_page("e160")
    assert page is not None
    assert page.startswith("E160 (error): unknown training setting\n")
    assert "\nExample:\n    dsl 1\n    policy demo version" in page
    assert "    training:\n      lr = 1e-5\n" in page
    assert "\nFix: Write the setting's full name: `learning_rate = 1e-5`." in page
    assert "it also needs a b.policy" in code_page("L003")
    assert code_page("W150").startswith("W150 (warning)") and code_page("N132").startswith("N132 (note)")


@pytest.mark.parametrize("code", ["E999", "X100", "", "E16"])
def test_code_page_of_an_unknown_code_is_none(code: str) -> None:
    assert code_page(code) is None


def test_the_docs_table_lists_every_code_once() -> None:
    text = (REPO / "docs" / "language.md").read_text(encoding="utf-8")
    table = text[text.index("## Diagnostics"):text.index("## CLI")]
    rows = re.findall(r"^\| `([A-Z][0-9]{3})` \|", table, flags=re.M)
    assert sorted(rows) == sorted(emitted_codes())
