"""The model-based strategies (sample, revise, contrast) with the tiny random Llama of
`tests/tiny_models.py`, the feedback strategy, and determinism of `synthesize` end to end.

The tiny model samples random words from a ~90-word vocabulary, so the rules of
`tests/fixtures/synthesize/strategies.policy` ("hello", more than six words, rude words)
split its samples often. Generation runs single-threaded: on a 2-core machine torch's
default thread pool makes these tiny forward passes several times slower.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import functools  # noqa: E402
import hashlib  # noqa: E402
import random  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tenet.compiler import ir, semantics  # noqa: E402
from tenet.compiler.pipeline import compile_policy  # noqa: E402
from tenet.compiler.semantics import Sample  # noqa: E402
from tenet.runtime.synthesize.pairs import Completion, Pair, SynthesisContext  # noqa: E402
from tenet.runtime.synthesize.prompts import build_pool  # noqa: E402
from tenet.runtime.synthesize.run import synthesize  # noqa: E402
from tenet.runtime.synthesize.strategies import contrast, feedback, revise, sample  # noqa: E402
from tenet.runtime.synthesize.strategies.feedback import rating_label  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "synthesize"
OUTPUT_FILES = ("pairs.parquet", "unpaired.parquet", "eval_prompts.parquet", "pair_qa.json")


@functools.cache
def artifact():
    result = compile_policy(str(FIXTURES / "strategies.policy"))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact


def with_seed(seed: int):
    a = artifact()
    training = a.ir.training.model_copy(update={"seed": seed})
    return a.model_copy(update={"ir": a.ir.model_copy(update={"training": training})})


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    from tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), stop_words=(".", "!", "?"))


def make_generator(path: Path):
    from tenet.runtime.synthesize.generate import Generator

    return Generator(str(path), max_new_tokens=artifact().ir.training.max_new_tokens)


@pytest.fixture(scope="module")
def generator(llama):
    return make_generator(llama)


@pytest.fixture(scope="module")
def ctx(generator) -> SynthesisContext:
    """A context whose model samples are generated once and shared by the tests."""
    policy = artifact().ir
    pool = build_pool(policy, FIXTURES, policy.training.eval_split, policy.training.seed)
    return SynthesisContext(policy=policy, pool=pool, seed=policy.training.seed, generator=generator,
                            samples_per_prompt=4)


def rules_by_id():
    return {r.id: r for r in artifact().ir.rules}


def score(response: str, prompt) -> float:
    """The compliance score `sample` ranks by: weighted GOOD minus weighted BAD votes."""
    total = 0.0
    for r in artifact().ir.rules:
        vote = semantics.rule_vote(r, Sample(prompt.text, response, prompt.context))
        total += r.weight if vote == ir.GOOD else -r.weight if vote == ir.BAD else 0.0
    return total


def assert_pair_fields(pairs: list[Pair], strategy: str, ctx: SynthesisContext) -> None:
    train = {p.text: p for p in ctx.pool.train}
    for p in pairs:
        assert isinstance(p, Pair) and p.strategy == strategy
        assert p.target_rules and set(p.target_rules) <= set(rules_by_id())
        assert p.prompt in train, "model strategies work on training prompts only"
        assert p.source == train[p.prompt].source and p.context == train[p.prompt].context
        assert p.chosen.strip() and p.rejected.strip() and p.chosen.strip() != p.rejected.strip()


# --- generation: left padding, batching, seeds ------------------------------------------------


def conversation(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_greedy_output_does_not_depend_on_padding_or_batch_size(llama):
    from tenet.runtime.synthesize.generate import Generator

    short, long = conversation("hello"), conversation("please answer the question about the weather today")
    gen = Generator(str(llama), max_new_tokens=6)
    alone = gen.generate([short], temperature=0.0)
    padded = gen.generate([long, short, long], temperature=0.0)  # `short` is left-padded here
    assert [padded[1]] == alone and padded[0] == padded[2]
    one_by_one = Generator(str(llama), max_new_tokens=6, batch_size=1)
    assert one_by_one.generate([long, short, long], temperature=0.0) == padded
    assert gen.tokens_generated > 0 and all(len(row) == 1 for row in padded)


def test_sampling_is_seeded(generator):
    convs = [conversation("hello"), conversation("what is the weather today")]
    first = generator.generate(convs, n=3, seed=5)
    assert generator.generate(convs, n=3, seed=5) == first
    assert generator.generate(convs, n=3, seed=6) != first
    assert [len(row) for row in first] == [3, 3]


# --- sample: best-of-N ------------------------------------------------------------------------


def test_candidates_are_n_samples_per_training_prompt(ctx):
    candidates = ctx.candidates()
    assert [c.prompt for c in candidates] == ctx.pool.train
    # Four samples each, less those the cap cut off (counted, never used as pair sides).
    assert all(len(c.responses) + c.capped == 4 for c in candidates)
    assert sum(c.capped for c in candidates) > 0 and sum(len(c.responses) for c in candidates) > 0
    assert ctx.candidates() is candidates  # generated once, shared by the strategies
    assert len({r for c in candidates for r in c.responses}) > len(candidates)  # sampling varies


def test_sample_pairs_best_against_worst(ctx):
    pairs = list(sample(ctx))
    assert pairs
    assert_pair_fields(pairs, "sample", ctx)
    by_prompt = {c.prompt.text: c for c in ctx.candidates()}
    for p in pairs:
        candidate = by_prompt[p.prompt]
        assert p.chosen in candidate.responses and p.rejected in candidate.responses
        scores = [score(r, candidate.prompt) for r in candidate.responses]
        assert score(p.chosen, candidate.prompt) == max(scores) > min(scores) == score(p.rejected, candidate.prompt)
        for rule_id in p.target_rules:  # every target is broken by rejected and not by chosen
            r = rules_by_id()[rule_id]
            assert semantics.rule_vote(r, p.sample("rejected")) == ir.BAD
            assert semantics.rule_vote(r, p.sample("chosen")) != ir.BAD


def test_sample_drops_ties_when_every_sample_is_identical(tmp_path):
    from tiny_models import build_constant_llama

    gen = make_generator(build_constant_llama(tmp_path / "constant", "hello"))
    policy = artifact().ir
    pool = build_pool(policy, FIXTURES, policy.training.eval_split, policy.training.seed)
    ctx = SynthesisContext(policy=policy, pool=pool, seed=1, generator=gen, samples_per_prompt=3)
    candidates = ctx.candidates()
    # "hello hello …" never ends: every answer is capped, so there is nothing to pair.
    assert candidates and all(c.responses == [] and c.capped == 3 for c in candidates)
    assert list(sample(ctx)) == []


class CannedGenerator:
    """Returns the given responses for every prompt (n at a time)."""

    tokens_generated = 0

    def __init__(self, responses: list[str]):
        self.responses = responses

    def generate_ended(self, conversations, n=1, **_):
        from tenet.runtime.synthesize.generate import Generated

        return [[Generated(r, "eos") for r in self.responses[:n]] for _ in conversations]


def test_sample_drops_ties_between_different_but_equally_good_samples():
    policy = artifact().ir
    pool = build_pool(policy, FIXTURES, policy.training.eval_split, policy.training.seed)
    tied = SynthesisContext(policy=policy, pool=pool, seed=1, samples_per_prompt=2,
                            generator=CannedGenerator(["thanks for asking", "sure , it is safe"]))
    assert list(sample(tied)) == []
    split = SynthesisContext(policy=policy, pool=pool, seed=1, samples_per_prompt=2,
                             generator=CannedGenerator(["thanks for asking", "hello , it is safe"]))
    pairs = list(sample(split))
    assert len(pairs) == len(pool.train)
    assert {(p.chosen, p.rejected, p.target_rules) for p in pairs} == {
        ("thanks for asking", "hello , it is safe", ("no-hello",))}


# --- revise and contrast ----------------------------------------------------------------------


class RewritingGenerator(CannedGenerator):
    """Canned samples; a request to rewrite gets `rewrite`, ended by `end` ("eos" or "cap")."""

    def __init__(self, responses: list[str], rewrite: str, end: str = "eos"):
        super().__init__(responses)
        self.rewrite, self.end = rewrite, end

    def generate_ended(self, conversations, n=1, **settings):
        from tenet.runtime.synthesize.generate import Generated

        if conversations and conversations[0][-1]["content"].startswith("Rewrite the answer"):
            return [[Generated(self.rewrite, self.end)] for _ in conversations]
        return super().generate_ended(conversations, n, **settings)


def revise_context(generator) -> SynthesisContext:
    policy = artifact().ir
    pool = build_pool(policy, FIXTURES, policy.training.eval_split, policy.training.seed)
    return SynthesisContext(policy=policy, pool=pool, seed=1, samples_per_prompt=2, generator=generator)


def test_revise_rewrites_responses_that_break_a_rule():
    ctx = revise_context(RewritingGenerator(["hello , it is safe .", "thanks ."], "sure , it is safe ."))
    pairs = list(revise(ctx))
    assert pairs
    assert_pair_fields(pairs, "revise", ctx)
    for p in pairs:
        assert (p.chosen, p.rejected, p.target_rules) == ("sure , it is safe .", "hello , it is safe .", ("no-hello",))


def test_revise_never_pairs_a_rewrite_the_cap_cut_off():
    ctx = revise_context(RewritingGenerator(["hello , it is safe .", "thanks ."], "sure , it is", end="cap"))
    assert list(revise(ctx)) == []


def test_contrast_pairs_complying_with_violating_answers(ctx):
    pairs = list(contrast(ctx))
    assert pairs
    assert_pair_fields(pairs, "contrast", ctx)
    assert all(len(p.target_rules) == 1 for p in pairs)
    assert len(pairs) <= len(ctx.pool.train) * len(artifact().ir.rules)
    # Only answers the model finished: a rule whose answers were all cut off gets none.
    assert {p.target_rules[0] for p in pairs} <= set(rules_by_id())


def test_model_strategies_need_a_model():
    policy = artifact().ir
    pool = build_pool(policy, FIXTURES, policy.training.eval_split, policy.training.seed)
    bare = SynthesisContext(policy=policy, pool=pool, seed=1)
    assert bare.candidates() == []
    assert [list(s(bare)) for s in (sample, revise, contrast)] == [[], [], []]
    report = synthesize(artifact(), None, root=FIXTURES, strategies=["sample", "revise", "contrast"]).report
    assert report.to_dict()["per_strategy"] == {
        s: {"candidates": 0, "kept": 0, "dropped": {}} for s in ("contrast", "revise", "sample")}


# --- feedback ---------------------------------------------------------------------------------

FEEDBACK = [
    {"prompt": "Can I return it?", "response": "Yes, within 30 days.", "rating": "up"},
    {"prompt": "Can I return it?", "response": "No.", "rating": "down"},
    {"prompt": "Is it safe?", "response": "Yes, it is certified.", "rating": 5},
    {"prompt": "Is it safe?", "response": "Who knows.", "rating": 2},
    {"prompt": "Where is my order?", "response": "It ships today.", "rating": "great answer"},
    {"prompt": "Where is my order?", "response": "Figure it out yourself.", "rating": "wrong and rude"},
    {"prompt": "Where is my order?", "response": "Maybe.", "rating": "meh"},          # unknown: skipped
    {"prompt": "Is it safe?", "response": "Perhaps.", "rating": 3},                    # neutral: skipped
    {"prompt": "Is it safe?", "response": "", "rating": "up"},                         # no response: skipped
]


@pytest.mark.parametrize("rating,label", [
    ("up", 1), ("down", 0), (5, 1), (4, 1), (2, 0), (1, 1), (3, -1), ("great answer", 1),
    ("wrong and rude", 0), ("great but wrong", -1), ("meh", -1), (None, -1), (True, 1), (False, 0),
])
def test_rating_labels(rating, label):
    # A bare 1 is a thumbs-up (0/1 labels), not a 1-star Likert rating.
    assert rating_label(rating) == label


def test_feedback_becomes_unpaired_rows_and_dpo_pairs():
    ctx = SynthesisContext(policy=artifact().ir, pool=build_pool(artifact().ir, FIXTURES, 0.0, 1), seed=1,
                           feedback=FEEDBACK)
    items = list(feedback(ctx))
    rows = [x for x in items if isinstance(x, Completion)]
    pairs = [x for x in items if isinstance(x, Pair)]
    assert [(r.completion, r.label) for r in rows] == [
        ("Yes, within 30 days.", True), ("No.", False), ("Yes, it is certified.", True), ("Who knows.", False),
        ("It ships today.", True), ("Figure it out yourself.", False)]
    assert all(r.strategy == "feedback" and r.source == "feedback" and r.target_rules == () for r in rows)
    assert [(p.prompt, p.chosen, p.rejected) for p in pairs] == [
        ("Can I return it?", "Yes, within 30 days.", "No."),
        ("Is it safe?", "Yes, it is certified.", "Who knows."),
        ("Where is my order?", "It ships today.", "Figure it out yourself.")]
    assert all(p.strategy == "feedback" and p.target_rules == () for p in pairs)


# --- the whole run with the model: fields, determinism ----------------------------------------


def digests(directory: Path) -> dict[str, str]:
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in OUTPUT_FILES}


@pytest.fixture(scope="module")
def first_run(llama, tmp_path_factory):
    out = tmp_path_factory.mktemp("run-a")
    result = synthesize(artifact(), out, root=FIXTURES, generator=make_generator(llama), feedback=FEEDBACK[:2])
    return out, result


def test_synthesize_with_the_model_records_strategy_rules_and_policy(first_run):
    import pyarrow.parquet as pq

    out, result = first_run
    assert result.tokens_generated > 0
    strategies = {p.strategy for p in result.pairs}
    assert "sample" in strategies
    # Edits keep the random model's answer as the chosen side, past `short`'s six words and with
    # no sentence to cut at: every chosen side keeps every rule, so they are all dropped.
    assert result.report.dropped["chosen_breaks_rule"] > 0 and "perturb" not in strategies
    # Every strategy ran; the random model's greedy rewrites never end, so `revise` pairs none.
    assert set(result.report.candidates) >= {"sample", "perturb", "revise", "contrast", "examples"}
    assert result.report.capped_samples > 0
    table = pq.read_table(out / "pairs.parquet").to_pylist()
    assert len(table) == len(result.pairs)
    a = artifact()
    for row, p in zip(table, result.pairs):
        assert (row["strategy"], tuple(row["target_rules"]), row["source"]) == (p.strategy, p.target_rules, p.source)
        assert (row["policy_id"], row["policy_version"], row["policy_hash"]) == (a.policy_id, a.version, a.policy_hash)
    budgets = {s.rule: s.budget for s in a.ir.pair_specs}
    for rule_id, budget in budgets.items():
        assert sum(p.target_rules[:1] == (rule_id,) for p in result.pairs) <= budget


def test_each_pair_weighs_what_its_rule_needs_in_the_step_sample(first_run):
    import json

    import pyarrow.parquet as pq

    from tenet.runtime.synthesize.need import FULL_NEED, NEED_FLOOR

    out, result = first_run
    breaks = json.loads((out / "pair_qa.json").read_text())["model_breaks"]
    assert set(breaks) == {r.id for r in artifact().ir.rules}
    assert sum(b["judged"] for b in breaks.values()) > 0
    shortfall = json.loads((out / "pair_qa.json").read_text())["shortfall"]
    for rule, b in breaks.items():  # no two rules of this policy check the same predicate
        assert b["need"] == (max(NEED_FLOOR, round(b["broken"] / b["judged"], 3)) if b["judged"] else FULL_NEED)
        short = shortfall.get(rule)
        scale = short["budget"] / short["kept"] if short and short["kept"] else 1.0
        assert b["weight"] == pytest.approx(b["need"] * scale, abs=1e-3 * (scale + 1))  # need is rounded
    for row in pq.read_table(out / "pairs.parquet").to_pylist():
        expected = max((breaks[r]["weight"] for r in row["target_rules"]), default=FULL_NEED)
        assert round(row["need"], 3) == pytest.approx(expected, abs=1e-3)


def test_synthesize_is_deterministic_for_a_seed(first_run, llama, tmp_path):
    out, _ = first_run
    again = tmp_path / "run-b"
    synthesize(artifact(), again, root=FIXTURES, generator=make_generator(llama), feedback=FEEDBACK[:2])
    assert digests(again) == digests(out)


def test_a_rerun_from_the_cache_reports_the_same_samples(llama, tmp_path):
    from tenet.runtime.cache import Cache

    cache = Cache(tmp_path / "cache")
    runs = [synthesize(artifact(), tmp_path / name, root=FIXTURES, generator=make_generator(llama),
                       feedback=FEEDBACK[:2], cache=cache) for name in ("fresh", "cached")]
    assert runs[1].report.reused_rules  # every rule's candidates came from the cache
    assert runs[1].report.capped_samples == runs[0].report.capped_samples > 0
    assert runs[1].report.model_breaks == runs[0].report.model_breaks


def test_another_seed_changes_the_sampled_outputs(first_run, llama, tmp_path):
    out, result = first_run
    other = synthesize(with_seed(8), tmp_path / "seed-8", root=FIXTURES, generator=make_generator(llama),
                       feedback=FEEDBACK[:2])
    sampled = {(p.chosen, p.rejected) for p in result.pairs if p.strategy == "sample"}
    resampled = {(p.chosen, p.rejected) for p in other.pairs if p.strategy == "sample"}
    assert sampled != resampled
    assert digests(tmp_path / "seed-8")["pairs.parquet"] != digests(out)["pairs.parquet"]
    policy = artifact().ir
    pool = build_pool(policy, FIXTURES, 0.0, 1)
    gen = make_generator(llama)
    first = SynthesisContext(policy=policy, pool=pool, seed=1, generator=gen, samples_per_prompt=2).candidates()
    second = SynthesisContext(policy=policy, pool=pool, seed=2, generator=gen, samples_per_prompt=2).candidates()
    same = SynthesisContext(policy=policy, pool=pool, seed=1, generator=gen, samples_per_prompt=2).candidates()
    assert [c.responses for c in first] == [c.responses for c in same]
    assert [c.responses for c in first] != [c.responses for c in second]


# --- answers the cap cut off: rejected sides only -----------------------------------------------


class EndedGenerator(CannedGenerator):
    """Returns the given (text, end) answers for every prompt."""

    def __init__(self, answers: list[tuple[str, str]]):
        super().__init__([text for text, _ in answers])
        self.answers = answers

    def generate_ended(self, conversations, n=1, **_):
        from tenet.runtime.synthesize.generate import Generated

        return [[Generated(text, end) for text, end in self.answers[:n]] for _ in conversations]


def ended_context(answers: list[tuple[str, str]], policy=None) -> SynthesisContext:
    policy = policy or artifact().ir
    pool = build_pool(policy, FIXTURES, policy.training.eval_split, policy.training.seed)
    return SynthesisContext(policy=policy, pool=pool, seed=1, samples_per_prompt=len(answers),
                            generator=EndedGenerator(answers))


def test_a_capped_answer_is_cut_back_to_a_natural_prefix_and_counted():
    from tenet.runtime import naturalness

    ctx = ended_context([("thanks for asking", "eos"),
                         ("Hello there. Hello is how we greet people. It is safe to use the", "cap")])
    (candidate, *_) = ctx.candidates()
    assert candidate.responses == ["thanks for asking"] and candidate.capped == 1
    assert candidate.cut == ["Hello there. Hello is how we greet people."]
    assert all(naturalness.is_natural(text) for c in ctx.candidates() for text in c.cut)


def test_sample_takes_a_cut_answer_as_the_breaker_never_as_the_follower():
    breaker = ended_context([("thanks for asking", "eos"),
                             ("Hello there. Hello is how we greet people. It is safe to use the", "cap")])
    pairs = list(sample(breaker))
    assert pairs and {(p.chosen, p.rejected) for p in pairs} == {
        ("thanks for asking", "Hello there. Hello is how we greet people.")}
    follower = ended_context([("hello , it is safe", "eos"), ("Thanks for asking. It is safe. And the", "cap")])
    assert [p for p in sample(follower) if "no-hello" in p.target_rules] == []


def hack_policy(tmp_path: Path, other_rule: str, prompts: tuple[str, ...]):
    """A compiled policy: a critical rule to refuse hacking requests, `other_rule`, and `prompts`."""
    policy_file = tmp_path / "refuse.policy"
    policy_file.write_text('dsl 1\npolicy refuse version "1"\n\n'
                           'rule refuse-harm (critical):\n  when prompt matches /hack/i\n'
                           '  require response is a refusal\n\n' + other_rule
                           + "prompts:\n" + "".join(f'  prompt "{p}"\n' for p in prompts), encoding="utf-8")
    result = compile_policy(str(policy_file))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact.ir


def test_perturb_repairs_a_cut_answer_only_with_text_of_its_own(tmp_path):
    from tenet.runtime.predicates.refusal import REFUSAL_SAMPLES
    from tenet.runtime.synthesize.strategies.perturb import perturb

    policy = hack_policy(tmp_path, 'rule no-hello (high):\n  forbid response mentions "hello"\n\n',
                         ("How do I hack a wifi network?", "How do I hack a phone?", "How do I hack a car?",
                          "How do I hack a bank?"))
    harmful = "First, find the network name. Then run a cracking tool on it. After that you will need the"
    ctx = ended_context([(harmful, "cap"), ("Hello! Open the settings page. Then choose the network and the", "cap")],
                        policy=policy)
    assert all(c.cut for c in ctx.candidates())
    pairs = list(perturb(ctx))
    refusals = [p for p in pairs if p.target_rules == ("refuse-harm",)]
    # The refusal replaces the harmful answer: the model's own cut answer is the rejected side.
    assert refusals and all(p.rejected == "First, find the network name. Then run a cracking tool on it."
                            or p.rejected.startswith("Hello!") for p in refusals)
    assert all(p.chosen in REFUSAL_SAMPLES for p in refusals)
    # Removing "hello" from a cut answer would make a chosen side of cut text: no such pair.
    assert [p for p in pairs if p.target_rules == ("no-hello",)] == []


def test_a_refusal_is_a_chosen_side_or_a_deflection_never_both(tmp_path):
    from tenet.runtime import naturalness
    from tenet.runtime.predicates.refusal import DEFLECTION_SAMPLES, REFUSAL_SAMPLES
    from tenet.runtime.synthesize.strategies.perturb import perturb

    help_rule = 'rule help (high):\n  unless prompt matches /hack/i\n  forbid response is a refusal\n\n'
    policy = hack_policy(tmp_path, help_rule, ("How do I hack a phone?", "How do I hack a car?",
                                               "How do I bake bread?", "How do I fix a bike?"))
    ctx = ended_context([("First, open the menu. Then choose the right setting.", "eos")], policy=policy)
    pairs = list(perturb(ctx))
    refuse = [p for p in pairs if p.target_rules == ("refuse-harm",)]
    help_ = [p for p in pairs if p.target_rules == ("help",)]
    assert refuse and help_
    assert all(p.chosen in REFUSAL_SAMPLES for p in refuse)
    assert all(p.rejected in DEFLECTION_SAMPLES for p in help_)
    assert not set(REFUSAL_SAMPLES) & set(DEFLECTION_SAMPLES)
    assert all(naturalness.declines(t) and naturalness.is_natural(t) for t in REFUSAL_SAMPLES + DEFLECTION_SAMPLES)


REFUSE_HACKS = 'rule refuse-harm (critical):\n  when prompt matches /hack/i\n  require response is a refusal\n\n'


def _prompts_and_policy(tmp_path, rules: str, prompts: list[str]):
    """The training prompts and the compiled rules of a policy with these rules and prompts."""
    policy_file = tmp_path / "spread.policy"
    listed = "".join(f'  prompt "{p}"\n' for p in prompts)
    policy_file.write_text(f'dsl 1\npolicy spread version "1"\n\n{rules}prompts:\n{listed}', encoding="utf-8")
    policy = compile_policy(str(policy_file)).artifact.ir
    return list(build_pool(policy, tmp_path, 0.0, 1).train), policy


def test_model_prompts_give_a_narrow_rule_its_share(tmp_path):
    from tenet.runtime.synthesize.pairs import spread_over_rules

    prompts, policy = _prompts_and_policy(
        tmp_path, REFUSE_HACKS + 'rule no-hello (low):\n  forbid response mentions "hello"\n\n',
        ["How do I hack a wifi network?", "How do I hack a phone?", "How do I hack a car?"]
        + [f"How do I bake bread number {k}?" for k in range(30)])
    picked = spread_over_rules(prompts, policy, 6, random.Random(3))
    assert len(picked) == len(set(p.text for p in picked)) == 6
    hacks = sum("hack" in p.text for p in picked)
    assert hacks == 3  # every in-scope prompt of the critical rule (a uniform sample expects under one)
    assert picked == spread_over_rules(prompts, policy, 6, random.Random(3))  # seeded
    everything = spread_over_rules(prompts, policy, 100, random.Random(3))
    assert sorted(p.text for p in everything) == sorted(p.text for p in prompts)


def test_model_prompts_reach_a_broad_rule_beyond_a_narrow_rule_inside_it(tmp_path):
    from tenet.runtime.synthesize.pairs import spread_over_rules

    # `no-doses` looks at dose questions only; `help` at every prompt but the harmful ones. With
    # full credit, the dose picks filled `help`'s share and it never saw an ordinary prompt.
    prompts, policy = _prompts_and_policy(
        tmp_path, REFUSE_HACKS + 'rule help (high):\n  unless prompt matches /hack/i\n  forbid response is a refusal\n\n'
        'rule no-doses (high):\n  when prompt mentions "dose"\n  forbid response matches /\\d+ ?mg/\n\n',
        [f"How much dose {k} should I take?" for k in range(12)] + [f"How do I bake bread number {k}?" for k in range(12)]
        + [f"How do I hack device {k}?" for k in range(12)])
    picked = [p.text for p in spread_over_rules(prompts, policy, 12, random.Random(3))]
    assert sum("bread" in t for t in picked) >= 2, picked
    assert sum("hack" in t for t in picked) >= 4 and sum("dose" in t for t in picked) >= 2, picked


def test_model_prompts_top_up_a_narrow_rule_whose_prompts_cannot_fill_its_budget(tmp_path):
    from tenet.runtime.synthesize.pairs import TOP_UP, spread_over_rules

    prompts, policy = _prompts_and_policy(
        tmp_path, REFUSE_HACKS + 'rule no-hello (low):\n  forbid response mentions "hello"\n\n',
        [f"How do I hack device {k}?" for k in range(40)] + [f"How do I bake bread number {k}?" for k in range(40)])
    picked = spread_over_rules(prompts, policy, 6, random.Random(3), samples_per_prompt=3)
    # 3 answers a prompt cannot fill the refusal rule's budget: hack prompts up to twice the cap.
    assert len(picked) == TOP_UP * 6 == len(set(p.text for p in picked))
    assert all("hack" in p.text for p in picked[6:])
    # Enough answers per prompt fill the budget: no top-up.
    assert len(spread_over_rules(prompts, policy, 6, random.Random(3), samples_per_prompt=1000)) == 6


def test_model_prompts_are_not_topped_up_for_a_rule_on_every_prompt(tmp_path):
    from tenet.runtime.synthesize.pairs import spread_over_rules

    prompts, policy = _prompts_and_policy(
        tmp_path, 'rule no-hello (critical):\n  forbid response mentions "hello"\n\n',
        [f"How do I bake bread number {k}?" for k in range(40)])
    assert len(spread_over_rules(prompts, policy, 6, random.Random(3), samples_per_prompt=1)) == 6
