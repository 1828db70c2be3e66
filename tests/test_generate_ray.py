"""Generation on a Ray actor pool (a local cluster of 2 CPUs) with the embedded model: greedy answers
equal the local generator's, and the cache keys are the same, so either back-end reuses the other's answers."""

from __future__ import annotations


import pytest

from tenet.compiler.settings import EMBEDDED_MODEL
from tenet.runtime.cache import Cache
from tenet.runtime.models import resolve_model
from tenet.runtime.synthesize.generate import Generator
from tenet.runtime.synthesize.ray_generate import RayGenerator, open_generator

ray = pytest.importorskip("ray")

CONVERSATIONS = [[{"role": "user", "content": text}] for text in (
    "How do I reset my kettle?", "Hi", "What is your return policy for blenders bought online?")]


@pytest.fixture(scope="module")
def model_path() -> str:
    return resolve_model(EMBEDDED_MODEL)


def test_greedy_answers_on_ray_equal_the_local_ones_and_share_the_cache(cluster, model_path, tmp_path):
    settings = dict(max_new_tokens=6, batch_size=2)  # two batches of different lengths, one per actor
    remote = open_generator(model_path, "ray", cache=Cache(tmp_path / "cache"), **settings)
    assert isinstance(remote, RayGenerator)
    answers = remote.generate_ended(CONVERSATIONS, temperature=0)
    local = Generator(model_path, **settings)
    assert answers == local.generate_ended(CONVERSATIONS, temperature=0)
    assert remote.tokens_generated == sum(g.tokens for row in answers for g in row) > 0
    assert len(remote._pool()) == 2  # one actor per CPU of the 2-CPU cluster
    # The local generator finds every answer the actors made under the same keys: no generation.
    cached = Generator(model_path, cache=Cache(tmp_path / "cache"), **settings)
    assert cached.generate_ended(CONVERSATIONS, temperature=0) == answers
    assert cached.tokens_generated == 0
    # A second model's pool releases the first one's (a cycle's models take the GPUs in turn).
    other = open_generator(model_path, "ray", **settings)
    assert other.generate_ended(CONVERSATIONS[:1], temperature=0) == answers[:1]
    assert remote._actors is None and len(other._pool()) == 2


def test_an_unknown_engine_is_refused(model_path):
    with pytest.raises(ValueError, match="local, ray"):
        open_generator(model_path, "spark")


def test_compile_and_train_help_names_the_ray_back_end(capsys):
    from helpers import run_cli

    for command in ("compile-and-train", "pairs"):
        code, _, _ = run_cli([command, "--help"])
        shown = capsys.readouterr().out
        assert code == 0 and "--engine {local,ray}" in shown and "--ray-address" in shown


def test_a_policy_picks_the_back_end_but_names_no_cluster(tmp_path):
    from helpers import CLEAN, PROMPTS
    from tenet.compiler.pipeline import compile_policy

    base = CLEAN + PROMPTS + "\ntraining:\n"
    (tmp_path / "ray.policy").write_text(base + "  generation = ray\n", encoding="utf-8")
    assert compile_policy(tmp_path / "ray.policy").artifact.ir.training.generation == "ray"
    (tmp_path / "address.policy").write_text(base + '  ray_address = "evil:6379"\n', encoding="utf-8")
    assert compile_policy(tmp_path / "address.policy").artifact is None
    (tmp_path / "spark.policy").write_text(base + "  generation = spark\n", encoding="utf-8")
    assert compile_policy(tmp_path / "spark.policy").artifact is None


@pytest.mark.slow
def test_a_cycle_generating_on_ray_measures_what_a_local_cycle_measures(cluster, tmp_path):
    """compile-and-train --engine ray: the evaluation before training sees the local answers."""
    import json
    from pathlib import Path

    from helpers import run_tiny_cycle

    policy = Path(__file__).parent / "fixtures" / "cycle" / "tiny.policy"
    summaries = []
    for engine in ("local", "ray"):
        code, out, err = run_tiny_cycle(tmp_path / engine, policy, "--engine", engine, "--format", "json")
        assert code in (0, 3), err
        summaries.append(json.loads(out))
    local, remote = summaries
    assert remote["rules"] and [r["before"] for r in remote["rules"]] == [r["before"] for r in local["rules"]]
