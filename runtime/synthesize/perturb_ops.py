"""Rule-directed edits: make a rule's condition hold or fail by changing only the response.

Every text predicate kind knows how to make itself true or false (its `edit`, in
`runtime/predicates/<kind>.py`: insert or remove a match, cut a count at a sentence or item
boundary, turn a list into bullets and back, wrap or unwrap JSON, …). `violate` and `repair` apply these to a rule's condition so that its
vote turns BAD (or, for soft rules, stops being GOOD) and back. Every result is verified
against the reference semantics, and must add no artifact that `tenet.runtime.naturalness`
finds (no filler, no half sentence, no `- 1.` marker), before it is returned. An edit that
would need one gives None: lengthening an answer is left to the model's own longer answers.
Conditions on the prompt, or on model scores, cannot be edited and give None.
"""

from __future__ import annotations

import random
import re

from tenet.compiler import ir, semantics
from tenet.compiler.semantics import Sample
from tenet.compiler.walk import atoms, disjuncts
from tenet.runtime import predicates
from tenet.runtime.textedit import edits, restructure
from tenet.runtime.textedit.edits import adds_artifact

EDITABLE_SUBJECTS = ("response", "any_response", "conversation")


def violate(rule: ir.RuleIR, sample: Sample, rng: random.Random, holds: bool | None = None) -> str | None:
    """Return an edited response on which the rule fails (BAD; not GOOD for `prefer`).

    `holds` (whether the rule's condition holds on `sample`, if already known) saves work.
    """
    edited = (in_example_sentence(rule, sample, rng)
              or make(rule.check, sample, rule.verdict in ("forbid", "avoid"), rng, holds, for_chosen=False))
    return edited if edited is not None and _vote_is(rule, sample, edited, failing=True) else None


# Numbers a borrowed match's own numbers are replaced by, so the violation varies.
OTHER_NUMBERS = ("2", "5", "10", "25", "200", "500", "1000")


def in_example_sentence(rule: ir.RuleIR, sample: Sample, rng: random.Random) -> str | None:
    """The answer with a sentence of the rule's bad examples that breaks a forbidden regex, numbers varied.

    A regex has no sentence to carry a match, and the match its sampler writes is always the
    same ("1.1 mg" for a dosage pattern): put in front of an answer, it shows a fragment, not
    a dose. The bad example ("Adults can
    take 400 mg every four to six hours.") carries one in a sentence a model would write;
    its numbers vary (200 mg, 5 mg, …) so that no one amount is what is learnt. The condition
    may be one regex or an `or` of them (a dose in units, or a multiple of a dose): a match of
    any one breaks the rule. None for other conditions, or if no bad example sentence breaks
    the rule by itself.
    """
    regexes = _forbidden_regexes(rule)
    if not regexes:
        return None
    templates, pieces = _example_templates(rule, [semantics.compile_user_regex(p.pattern, p.flags) for p in regexes])
    if not templates:
        return None
    options = edits.in_sentence(sample.response, templates, sorted(set(pieces)), rng)
    return edits.first_natural_holding(regexes, sample.response, options)


def _forbidden_regexes(rule: ir.RuleIR) -> list[ir.RegexPred]:
    """The response regexes whose match alone breaks a forbidding rule: its condition, or the
    operands of an `or` of regexes (all of them regexes on the response, or none is used)."""
    if rule.verdict not in ("forbid", "avoid"):
        return []
    preds = disjuncts(rule.check)
    return preds if all(isinstance(p, ir.RegexPred) and p.subject == "response" for p in preds) else []


def _example_templates(rule: ir.RuleIR, patterns: list[re.Pattern]) -> tuple[list[str], list[str]]:
    """The bad examples' sentences that match, with `{piece}` for the match, and the pieces to fill in."""
    templates, pieces = [], []
    for example in rule.examples:
        for text in example.bad:
            for sentence in restructure.SENTENCE_BREAK.split(text.strip()):
                found = next((m for m in (p.search(sentence) for p in patterns) if m), None)
                if found and "\n" not in sentence:
                    escaped = sentence.replace("{", "{{").replace("}", "}}")
                    templates.append(escaped.replace(found.group(), "{piece}", 1))
                    amount = found.group()
                    pieces += [amount, *(re.sub(r"\d+(?:\.\d+)?", n, amount) for n in OTHER_NUMBERS)]
    return templates, pieces


def repair(rule: ir.RuleIR, sample: Sample, rng: random.Random, holds: bool | None = None) -> str | None:
    """Return an edited response on which the rule passes (GOOD; not BAD for `avoid`)."""
    edited = (with_example_advice(rule, sample, rng)
              or make(rule.check, sample, rule.verdict in ("require", "prefer"), rng, holds, for_chosen=True))
    return edited if edited is not None and _vote_is(rule, sample, edited, failing=False) else None


def with_example_advice(rule: ir.RuleIR, sample: Sample, rng: random.Random) -> str | None:
    """The answer up to its first forbidden match, closed by one of the rule's good examples.

    Only for a rule scoped to one kind of prompt (`when prompt mentions …`) that forbids
    response regexes: its good examples answer that kind of prompt, so what they say instead
    fits every prompt in scope. Dropping only the sentence with the match would keep the rest
    of the model's answer, built on it ("the recommended daily intake … varies"), and a model
    trained on that frame puts a count back into it. Here the chosen side stops where the dose began and says
    what the rule's author would say: "… please check the label or ask a pharmacist."
    None for other rules, without a one-paragraph good example, or if no option is natural.
    """
    if not repairs_with_advice(rule):
        return None
    regexes, advice = _forbidden_regexes(rule), _one_paragraph_advice(rule)
    starts = [hit[0] for hit in (semantics.span_finder(p)(sample.response) for p in regexes) if hit is not None]
    if not starts:
        return None
    prefix = _before_unit(sample.response, min(starts))
    rng.shuffle(advice)
    gap = "\n\n" if "\n" in prefix else " "
    options = [f"{prefix}{gap}{text}" if prefix else text for text in advice]
    return next((o for o in options if not any(semantics.evaluate_text_atom(p, o) for p in regexes)
                 and not adds_artifact(sample.response, o)), None)


def repairs_with_advice(rule: ir.RuleIR) -> bool:
    """The rule's repair ends the answer where the forbidden text began, with a good example.

    Such a repair changes the answer's length by nature, as a refusal does: the quality
    gate's length band does not apply to the rule's pairs (`runtime/synthesize/quality.py`).
    """
    return bool(_forbidden_regexes(rule)) and _scoped_by_prompt(rule) and bool(_one_paragraph_advice(rule))


def _one_paragraph_advice(rule: ir.RuleIR) -> list[str]:
    """The rule's good examples that are one paragraph long, stripped."""
    return [text.strip() for example in rule.examples for text in example.good if "\n" not in text.strip()]


def _scoped_by_prompt(rule: ir.RuleIR) -> bool:
    """The rule votes only on prompts its `when` picks out by the prompt's text."""
    return rule.when is not None and all(getattr(a, "subject", None) == "prompt" for a in atoms(rule.when))


def _before_unit(text: str, position: int) -> str:
    """`text` before the sentence or list item that holds `position`, without a dangling lead-in."""
    line_start = text.rfind("\n", 0, position) + 1
    line = text[line_start:]
    cut = 0
    if not restructure.is_list_item(line):
        for found in restructure.SENTENCE_BREAK.finditer(line):
            if found.start() > position - line_start:
                break
            cut = found.end()
    return restructure.strip_trailing_intro(text[:line_start + cut].strip())


def _vote_is(rule: ir.RuleIR, sample: Sample, edited: str, failing: bool) -> bool:
    if rule.when is None and not rule.unless:
        return True  # no scope to leave: `make` already verified the condition
    # The edit may also move the sample out of the rule's scope (`when`/`unless` on the response).
    vote = semantics.rule_vote(rule, sample._replace(response=edited))
    if failing:
        return vote == ir.BAD or (rule.verdict == "prefer" and vote == ir.ABSTAIN and
                                  semantics.in_scope(rule, sample._replace(response=edited)) is True)
    return vote == ir.GOOD or (rule.verdict == "avoid" and vote == ir.ABSTAIN and
                               semantics.in_scope(rule, sample._replace(response=edited)) is True)


def make(pred: ir.PredIR, sample: Sample, want: bool, rng: random.Random,
         current: bool | None = None, for_chosen: bool = False) -> str | None:
    """Edit the response so that `pred` evaluates to `want`; None if no edit can.

    `for_chosen`: the edit makes a rule pass (the chosen side of a pair), so a length cut
    keeps headroom below the limit and at least two sentences or items.
    """
    if current is None:
        current = semantics.evaluate(pred, sample)
    if current is want:
        return sample.response
    if current is None:
        return None
    if isinstance(pred, ir.NotPred):
        return make(pred.operand, sample, not want, rng, for_chosen=for_chosen)
    if isinstance(pred, (ir.AndPred, ir.OrPred)):
        edited = _make_connective(pred, sample, want, rng, for_chosen)
        # The second side's edit can undo the first's: check the whole condition again.
        if edited is None or semantics.evaluate(pred, sample._replace(response=edited)) is not want:
            return None
        return edited
    edit = predicates.of(pred).edit  # each kind's edit: runtime/predicates/<kind>.py
    if edit is None or pred.subject not in EDITABLE_SUBJECTS:
        return None
    edited = edit(pred, sample.response, want, rng, for_chosen)
    if edited is None or edited == sample.response or adds_artifact(sample.response, edited):
        return None
    return edited if semantics.evaluate(pred, sample._replace(response=edited)) is want else None


def _make_connective(pred: ir.AndPred | ir.OrPred, sample: Sample, want: bool,
                     rng: random.Random, for_chosen: bool) -> str | None:
    # `a and b` true / `a or b` false need both sides; the other two need either side.
    both = isinstance(pred, ir.AndPred) == want
    if both:
        first = make(pred.left, sample, want, rng, for_chosen=for_chosen)
        if first is None:
            return None
        return make(pred.right, sample._replace(response=first), want, rng, for_chosen=for_chosen)
    sides = [pred.left, pred.right]
    rng.shuffle(sides)
    for side in sides:
        edited = make(side, sample, want, rng, for_chosen=for_chosen)
        if edited is not None:
            return edited
    return None
