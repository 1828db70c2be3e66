"""Bad input never crashes the compiler: mutated policies give an artifact or diagnostics.

The corpus is every shipped policy (`policies/**/*.policy`, globbed at test time) plus the
pass fixtures. Each example applies a few random edits (grammar tokens and characters
inserted, slices deleted or duplicated, bytes replaced — invalid UTF-8 included), writes the
raw bytes next to the original in a temporary copy of its folder (so imports still resolve),
and compiles the file by path. A 10k-example campaign belongs under `@pytest.mark.slow`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.artifact import to_json
from compiler.diagnostics import render_all
from compiler.pipeline import Compilation, compile_policy
from helpers import FIXTURES, REPO, run_cli, write_policy

TOKENS = [
    "dsl", "policy", "version", "import", "extends", "taxonomy", "let", "rule", "override",
    "critical", "high", "medium", "low", "when", "unless", "require", "forbid", "prefer", "avoid",
    "because", "tags", "example", "prompt", "good", "bad", "user", "assistant", "matches",
    "mentions", "contains", "starts", "ends", "with", "has", "at", "most", "least", "exactly",
    "more", "than", "fewer", "between", "and", "or", "not", "is", "json", "a", "refusal", "email",
    "link", "phone", "number", "words", "exact", "exemplars", "sentiment", "similarity",
    "classifier", "judge", "model", "label", "rubric", "any", "response", "conversation",
    "prompts", "template", "slot", "file", "column", "training", "gate", "overall", "regression",
    "drift", "words(", "exemplars(", "(", ")", ",", ":", "=", ">=", "<=", ">", "<", '"', "'", "/",
    "\\", "#", "\n", "\n\n", "  ", "\t", "\r\n", "0", "1", "-1", "1.5", "0.99", "/a*/", "/(/",
    "/(?=x)/", "/\\1/", '""', '"x"', "S1", "S15", "nosuchname", "{slot}", "../", "/etc/passwd",
    "std/", "std/safety.policy", "\u2028", "\x0c", "é", "🙂", "\ufeff",
]


def corpus() -> list[Path]:
    shipped = sorted((REPO / "policies").glob("**/*.policy"))
    fixtures = sorted((FIXTURES / "passes").glob("*.policy"))
    return shipped + fixtures


CORPUS = corpus()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable copy of the corpus folders, so a mutant sits beside the files it imports."""
    base = tmp_path_factory.mktemp("mutants")
    if (REPO / "policies").is_dir():
        shutil.copytree(REPO / "policies", base / "policies")
    shutil.copytree(FIXTURES / "passes", base / "passes")
    return base


def copy_of(original: Path, workdir: Path) -> Path:
    if original.is_relative_to(REPO / "policies"):
        return workdir / "policies" / original.relative_to(REPO / "policies")
    return workdir / "passes" / original.name


@st.composite
def mutants(draw: st.DrawFn) -> tuple[Path, bytes]:
    original = draw(st.sampled_from(CORPUS))
    data = bytearray(original.read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["token", "char", "delete", "byte", "duplicate"]))
        if op == "token":
            data[pos:pos] = draw(st.sampled_from(TOKENS)).encode()
        elif op == "char":
            data[pos:pos] = draw(st.characters(blacklist_categories=("Cs",))).encode()
        elif op == "delete":
            data[pos:pos + draw(st.integers(1, 40))] = b""
        elif op == "duplicate":
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 80))]
        elif pos < len(data):
            data[pos] = draw(st.integers(0, 255))
    return original, bytes(data)


def assert_well_formed(result: Compilation) -> None:
    assert isinstance(result, Compilation)
    if result.ok:
        assert to_json(result.artifact)
    else:
        assert result.diagnostics, "a failed compilation must say why"
    render_all(list(result.diagnostics), result.sources)


pytestmark = pytest.mark.skipif(not CORPUS, reason="no policies to mutate")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(mutant=mutants())
def test_mutated_policy_compiles_or_reports(workdir: Path, mutant: tuple[Path, bytes]) -> None:
    original, data = mutant
    path = copy_of(original, workdir).with_name("zz-mutant.policy")
    path.write_bytes(data)
    assert_well_formed(compile_policy(path))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(mutant=mutants())
def test_cli_check_on_mutated_policy_exits_0_or_1(workdir: Path, mutant: tuple[Path, bytes]) -> None:
    original, data = mutant
    path = copy_of(original, workdir).with_name("zz-cli-mutant.policy")
    path.write_bytes(data)
    for argv in (["check", str(path)], ["check", str(path), "--format", "json"]):
        code, out, err = run_cli(argv)
        assert code in (0, 1), err
        assert "Traceback" not in out + err
        assert "rerun with --debug" not in err


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(st.sampled_from(TOKENS + ["x", "-", "9", "r1"]), max_size=60).map(" ".join))
def test_token_soup_after_a_valid_header(tmp_path: Path, text: str) -> None:
    path = tmp_path / "soup.policy"
    path.write_text('dsl 1\npolicy soup version "1"\n' + text, encoding="utf-8")
    assert_well_formed(compile_policy(path))


# --- regressions: crashes found and fixed ---------------------


def compiles_without_raising(path: Path) -> Compilation:
    result = compile_policy(path)
    assert_well_formed(result)
    return result


def test_infinite_count_is_a_diagnostic(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\nrule r (high):\n'
                        "  require response has at most 1e999 words\n")
    assert not compiles_without_raising(path).ok


def test_infinite_integer_setting_is_a_diagnostic(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\ntraining:\n  batch_size = 1e999\n')
    result = compiles_without_raising(path)
    assert [d.code for d in result.diagnostics] == ["E161"]


def test_cli_check_infinite_count_exits_1(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\nrule r (high):\n'
                        "  require response has at most 1e999 words\n")
    assert run_cli(["check", str(path)])[0] == 1


@pytest.mark.parametrize("item", ['import "a\x00.policy"', 'prompts:\n  file "a\x00.jsonl"'])
def test_nul_byte_in_path_is_a_diagnostic(tmp_path: Path, item: str) -> None:
    path = write_policy(tmp_path, "p.policy", f'dsl 1\npolicy p version "1"\n{item}\n')
    assert not compiles_without_raising(path).ok


@pytest.mark.parametrize("pred", [
    " or ".join(['response contains "x"'] * 3000),
    "not " * 3000 + 'response contains "x"',
])
def test_deeply_nested_predicate_does_not_crash(tmp_path: Path, pred: str) -> None:
    path = write_policy(tmp_path, "p.policy", f'dsl 1\npolicy p version "1"\nrule r (high):\n  forbid {pred}\n')
    compiles_without_raising(path)


def test_deep_parentheses_do_not_crash(tmp_path: Path) -> None:
    pred = "(" * 3000 + 'response contains "x"' + ")" * 3000
    path = write_policy(tmp_path, "p.policy", f'dsl 1\npolicy p version "1"\nrule r (high):\n  forbid {pred}\n')
    compiles_without_raising(path)


def test_pathological_regex_is_handled(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\nrule r (high):\n'
                        "  forbid response matches /" + "(" * 500 + "a" + ")" * 500 + "/\n")
    compiles_without_raising(path)


@pytest.mark.parametrize("data", [
    b"", b"\xef\xbb\xbf", b"\xff\xfe\x00d\x00s\x00l", b"dsl", b"dsl 1\n", b"dsl 1\npolicy",
    b'dsl 1\npolicy p version "1"\n' + b"\x80" * 10, b"\r\n" * 10, b"#" * 100,
])
def test_degenerate_files(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "p.policy"
    path.write_bytes(data)
    result = compiles_without_raising(path)
    assert not result.ok
