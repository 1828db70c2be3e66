"""Length limits in a policy: which rules a too-long answer breaks, and how long to generate.

A generated answer stopped by the token cap is a prefix, not an answer. For a rule that caps
the response's length, a prefix can look compliant when the whole answer would not be, so
the runtime never counts a capped answer as complying with such a rule. And the cap itself
is derived from the policy's count rules, so that no length rule is decided by it: a cap
comfortably above the largest bound means a compliant answer always fits.
"""

from __future__ import annotations

import math

from tenet.compiler import ir
from tenet.compiler.walk import atoms, signed_atoms

# Ops under which a count can be too high for the predicate to hold.
_UPPER_OPS = ("at_most", "fewer_than", "exactly", "between")
# Ops under which a count can be too high for the predicate to fail (it holds when long).
_LOWER_OPS = ("at_least", "more_than", "exactly", "between")
RESPONSE_SUBJECTS = ("response", "any_response", "conversation")
# Generous tokens per counted unit for English text and common tokenizers (a word is about
# 1.3 tokens; a sentence or a list item about 25): twice the usual, so the cap never decides.
TOKENS_PER_UNIT = {"words": 2.0, "characters": 0.5, "sentences": 50.0, "lines": 50.0, "bullets": 50.0}
CAP_MARGIN = 64
CAP_FLOOR = 256  # long enough for an everyday answer to end on its own


def caps_length(rule: ir.RuleIR) -> bool:
    """Whether an answer that is too long can break `rule` (it bounds a response count above)."""
    return _bounded_above(rule.check, rule.verdict in ("require", "prefer"))


def _bounded_above(pred: ir.PredIR, must_hold: bool) -> bool:
    """Whether a response count in `pred` bounds it above, given whether `pred` must hold."""
    return any(atom.op in (_UPPER_OPS if must_hold is positive else _LOWER_OPS)
               for atom, positive in signed_atoms(pred) if _counts_response(atom))


def _counts_response(atom: ir.PredIR) -> bool:
    return isinstance(atom, ir.CountPred) and atom.subject in RESPONSE_SUBJECTS


def response_counts(pred: ir.PredIR | None) -> list[ir.CountPred]:
    """The count predicates on the response inside `pred`."""
    return [] if pred is None else [atom for atom in atoms(pred) if _counts_response(atom)]


def generation_cap(rules: tuple[ir.RuleIR, ...], floor: int = CAP_FLOOR) -> int:
    """Tokens to generate per answer so that no count rule on the response is decided by the cap."""
    needed = [math.ceil((c.high if c.high is not None else c.value) * TOKENS_PER_UNIT[c.unit]) + CAP_MARGIN
              for rule in rules for pred in (rule.check, rule.when, *rule.unless)
              for c in response_counts(pred)]
    return max([floor, *needed])
