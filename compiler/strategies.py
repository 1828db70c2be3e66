"""The pair strategies: one record each, holding every fact tenet knows about a strategy but its code.

`KINDS` is the registry, in the order `strategies` settings list them; the tuples the
runtime tests a strategy against (`NEEDS_MODEL`, `CROSS_RULE`, ...) are derived from it, so a
new strategy is one record here and one module in `runtime/synthesize/strategies/`. The
records live in the compiler, which the runtime may import but not the reverse: the settings'
closed list of names comes from them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Strategy:
    """What one pair strategy is, apart from the function that runs it.

    Attributes:
        name: The name policies and `--strategies` use.
        rank: The order in which strategies fill a rule's budget, lowest first.
        needs_model: It runs the model, so a generator must be loaded.
        reads_samples: It works from the model's sampled answers to the training prompts.
        cross_rule: Its pairs depend on other rules than their target (cache keys).
        polished: Its responses are model- or edit-made, so they are polished before use.
        trusted: People wrote its responses: not held to the naturalness gates.
    """

    name: str
    rank: int
    needs_model: bool = False
    reads_samples: bool = False
    cross_rule: bool = False
    polished: bool = False
    trusted: bool = False


# The model's own answers fill a budget first, then the authors' examples, then model rewrites,
# logged feedback, and edits last.
KINDS = (
    Strategy("examples", rank=1, trusted=True),
    Strategy("perturb", rank=5, reads_samples=True, polished=True),
    Strategy("sample", rank=0, needs_model=True, reads_samples=True, cross_rule=True, polished=True),
    Strategy("revise", rank=2, needs_model=True, reads_samples=True, cross_rule=True, polished=True),
    Strategy("contrast", rank=3, needs_model=True, cross_rule=True, polished=True),
    Strategy("feedback", rank=4, cross_rule=True),
)


def _named(fact: Callable[[Strategy], bool]) -> tuple[str, ...]:
    """The names of the strategies with a fact, in registry order."""
    return tuple(strategy.name for strategy in KINDS if fact(strategy))


NAMES = _named(lambda strategy: True)
NEEDS_MODEL = _named(lambda strategy: strategy.needs_model)
READS_SAMPLES = _named(lambda strategy: strategy.reads_samples)
CROSS_RULE = _named(lambda strategy: strategy.cross_rule)
POLISHED = _named(lambda strategy: strategy.polished)
TRUSTED = _named(lambda strategy: strategy.trusted)
BY_RANK = tuple(strategy.name for strategy in sorted(KINDS, key=lambda strategy: strategy.rank))
