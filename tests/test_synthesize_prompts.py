"""The prompt pool: rule examples, templates with slots, prompt files (JSONL, CSV), literal
prompts, and the seeded train/eval split (`tests/fixtures/synthesize/prompts.policy`)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import functools  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tenet.compiler import ir  # noqa: E402
from tenet.compiler.heldout import heldout_prompts  # noqa: E402
from tenet.compiler.pipeline import compile_policy  # noqa: E402
from tenet.runtime.synthesize.prompts import PromptPool, build_pool, fill_template, normalize  # noqa: E402
from tenet.runtime.synthesize.run import synthesize  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "synthesize"
TEMPLATE_TAIL = ' Answer as {"price": 0} and keep {braces like this}.'
EXAMPLE_PROMPTS = {"List the steps to return an item.", "List the ways to descale it.", "How do I reach support?"}
FILE_PROMPTS = {
    "file:prompts/questions.jsonl": {"Where is my order?", "Can I change my delivery address?",
                                     "Do you ship to Canada?", "How long does a refund take?",
                                     "What is the warranty on blenders?"},
    "file:prompts/tickets.csv": {"My toaster, the red one, stopped working", 'Is the "Pro" model dishwasher safe?',
                                 "Can I pay in installments?", "How do I reset my password?"},
}
LITERALS = {"Do you have a store near me?", "What are your opening hours?", "Can I return an opened item?"}


@functools.cache
def artifact():
    result = compile_policy(str(FIXTURES / "prompts.policy"))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact


def policy() -> ir.PolicyIR:
    return artifact().ir


def pool(p: ir.PolicyIR | None = None, split: float | None = None, seed: int | None = None) -> PromptPool:
    p = p or policy()
    return build_pool(p, FIXTURES, p.training.eval_split if split is None else split,
                      p.training.seed if seed is None else seed)


def texts(prompts) -> set[str]:
    return {x.text for x in prompts}


def everything(pp: PromptPool) -> list:
    return pp.train + pp.eval


# --- sources ---------------------------------------------------------------------------------


def test_rule_examples_are_prompts_with_their_context_and_rule():
    pp = pool()
    examples = [x for x in everything(pp) if x.rule is not None]
    assert texts(examples) == EXAMPLE_PROMPTS
    descale = next(x for x in examples if x.text == "List the ways to descale it.")
    assert descale.context == (("user", "I bought a kettle."), ("assistant", "Great choice!"))
    assert descale.source == "example:bullets-for-lists" and descale.rule == "bullets-for-lists"


def test_template_expands_every_slot_combination_and_leaves_other_braces_alone():
    expanded = [x for x in everything(pool()) if x.source.startswith("template:")]
    assert texts(expanded) == {f"What does the {product} cost in {city}?{TEMPLATE_TAIL}"
                               for product in ("blender", "toaster") for city in ("Oslo", "Lima", "Pune")}
    assert fill_template("{a} and {b} and {c} {{a}} { a }", {"a": "1", "b": "2"}) == "1 and 2 and {c} {1} { a }"


@pytest.mark.parametrize("source", sorted(FILE_PROMPTS))
def test_prompt_file_reads_the_named_column(source):
    from_file = [x for x in everything(pool()) if x.source == source]
    # Duplicates (case/space-insensitive), non-text values and rows without the column are skipped.
    assert texts(from_file) == FILE_PROMPTS[source]
    assert all(x.context == () and x.rule is None for x in from_file)


def test_literal_prompts_and_duplicates_across_sources():
    pp = pool()
    literals = [x for x in everything(pp) if x.source == "prompt"]
    assert texts(literals) == LITERALS
    # "  how do I reach SUPPORT?  " duplicates a rule example: it stays once, as the example.
    same = [x for x in everything(pp) if normalize(x.text) == "how do i reach support?"]
    assert len(same) == 1 and same[0].rule == "no-email"
    keys = [normalize(x.text) for x in everything(pp)]
    assert len(keys) == len(set(keys)) == 3 + 6 + 5 + 4 + 3


def test_a_missing_prompt_file_is_a_data_error(tmp_path):
    from tenet.runtime.data import DataError

    p = policy().model_copy(update={"prompts": (ir.PromptFileIR(span=policy().rules[0].span,
                                                                path="missing.jsonl"),)})
    with pytest.raises(DataError, match="not found"):
        build_pool(p, tmp_path, 0.2, 1)


# --- the train/eval split ---------------------------------------------------------------------


def test_split_is_deterministic_and_keeps_examples_in_train():
    first, second = pool(), pool()
    assert first == second
    assert EXAMPLE_PROMPTS <= texts(first.train)
    assert not EXAMPLE_PROMPTS & texts(first.eval)
    assert first.eval and len(first.train) > len(EXAMPLE_PROMPTS)
    assert first.eval_texts == {normalize(x.text) for x in first.eval}


def test_split_does_not_depend_on_source_order():
    p = policy()
    reordered = p.model_copy(update={"prompts": tuple(reversed(p.prompts)), "rules": tuple(reversed(p.rules))})
    a, b = pool(p), pool(reordered)
    assert texts(a.train) == texts(b.train) and texts(a.eval) == texts(b.eval)
    # Adding or removing a source moves no other prompt between train and eval.
    fewer = pool(p.model_copy(update={"prompts": p.prompts[1:]}))
    assert texts(fewer.eval) == texts(a.eval) - {x.text for x in everything(a) if x.source.startswith("template:")}


def test_split_depends_on_the_seed_and_the_share():
    base = pool()
    assert any(texts(pool(seed=s).eval) != texts(base.eval) for s in range(1, 6))
    assert pool(split=0.0).eval == []
    most = pool(split=0.9)
    assert EXAMPLE_PROMPTS <= texts(most.train) and len(most.eval) > len(base.eval)


@settings(max_examples=60, deadline=None)
@given(split=st.sampled_from([0.0, 0.05, 0.25, 0.5, 1.0]), seed=st.integers(0, 10_000),
       literals=st.lists(st.sampled_from(sorted(LITERALS | EXAMPLE_PROMPTS | {"  what are your OPENING hours? "})),
                         max_size=6))
def test_the_compiler_holds_out_the_prompts_the_pool_holds_out(split, seed, literals):
    """`tenet.compiler.heldout` (what `tenet plan` counts and E173 checks) and `build_pool` (what the cycle
    evaluates on) split templates and literal prompts identically, rule examples included."""
    p = policy()
    written = tuple(s for s in p.prompts if not isinstance(s, ir.PromptFileIR))
    extra = tuple(ir.LiteralPromptIR(span=written[0].span, text=t) for t in literals)
    p = p.model_copy(update={"prompts": written + extra,
                             "training": p.training.model_copy(update={"eval_split": split, "seed": seed})})
    held = heldout_prompts(p)
    assert held.known
    assert list(held.prompts) == [x.text for x in pool(p).eval]


def test_the_compiler_does_not_claim_to_know_the_rows_of_prompt_files():
    held = heldout_prompts(policy())
    assert not held.known and {f.path for f in held.files} == {"prompts/questions.jsonl", "prompts/tickets.csv"}


def test_pairs_on_eval_prompts_are_dropped():
    pp = pool()
    held_out = pp.eval[0].text
    trained = next(x.text for x in pp.train if x.rule is None)
    rows = [{"prompt": held_out.upper(), "response": "Here is the answer.", "rating": "up"},
            {"prompt": held_out, "response": "No idea.", "rating": "down"},
            {"prompt": trained, "response": "Here is the answer.", "rating": "up"},
            {"prompt": trained, "response": "No idea at all.", "rating": "down"}]
    result = synthesize(artifact(), None, root=FIXTURES, strategies=["feedback"], feedback=rows)
    assert [p.prompt for p in result.pairs] == [trained]
    assert result.report.dropped["eval_overlap"] == 1
    assert texts(result.eval_prompts) == texts(pp.eval)


def test_unpaired_rows_on_eval_prompts_are_not_kept(tmp_path):
    held_out = pool().eval[0].text
    rows = [{"prompt": held_out, "response": "Here is the answer.", "rating": "up"},
            {"prompt": held_out, "response": "No idea.", "rating": "down"}]
    result = synthesize(artifact(), None, root=FIXTURES, strategies=["feedback"], feedback=rows)
    eval_keys = {normalize(x.text) for x in result.eval_prompts}
    assert not [c for c in result.completions if normalize(c.prompt) in eval_keys]


def test_a_policy_that_asks_for_millions_of_prompts_is_held_to_the_limit(tmp_path):
    import time

    from tenet.compiler.heldout import MAX_WRITTEN_PROMPTS

    values = ", ".join(f'"w{i}"' for i in range(71))  # 71 x 71 = 5,041: one template's limit
    templates = "".join(f'  template "t{t} {{x}} {{y}}" slot x = {values} slot y = {values}\n' for t in range(400))
    policy = tmp_path / "many.policy"
    policy.write_text('dsl 1\npolicy many version "1"\n\nrule no-todo (high):\n  forbid response contains "TODO"\n'
                      f'\nprompts:\n{templates}', encoding="utf-8")
    started = time.process_time()
    result = compile_policy(policy)  # asks for 400 x 5,000 = 2,000,000 prompts
    assert time.process_time() - started < 10
    assert result.ok and [d.code for d in result.diagnostics if d.code == "W176"] == ["W176"]
    pool = build_pool(result.artifact.ir, tmp_path, 0.2, 42)
    assert len(pool.train) + len(pool.eval) == MAX_WRITTEN_PROMPTS
