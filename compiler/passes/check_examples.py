"""Run every rule on its own examples at compile time; a rule its example contradicts is an error.

Only text predicates are evaluated here. Where the outcome depends on a model-backed score
(sentiment, similarity, classifier, judge), the example is left for the runtime to check.
Each example is evaluated under a time bound: Python's `re` backtracks exponentially on
patterns like /(a+)+$/, and a policy must not be able to hang its own compilation.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from tenet.compiler import ast, ir
from tenet.compiler.diagnostics import Diagnostic, error
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.passes.check_reachability import never_fires
from tenet.compiler.semantics import Sample, in_scope, rule_vote

_NAMES = {ir.GOOD: "GOOD", ir.BAD: "BAD", ir.ABSTAIN: "ABSTAIN"}
EXAMPLE_SECONDS = 0.25
T = TypeVar("T")


class _TooSlow(Exception):
    """An example took longer than EXAMPLE_SECONDS to evaluate."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise `_TooSlow` after `seconds` of wall time.

    `re` checks for signals while it backtracks, so SIGALRM interrupts it. Signals only reach
    the main thread: elsewhere (and where there is no SIGALRM) the evaluation is unbounded.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise _TooSlow

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def within_time(seconds: float, compute: Callable[[], T]) -> T | None:
    """`compute()`, or None when it ran longer than `seconds` (a regex that backtracks badly)."""
    try:
        with _time_limit(seconds):
            return compute()
    except _TooSlow:
        return None


def check_examples(linked: LinkedPolicy, policy: ir.PolicyIR) -> tuple[ir.PolicyIR, list[Diagnostic]]:
    """Report examples that fall outside their rule's scope or get the opposite vote."""
    found: list[Diagnostic] = []
    for linked_rule, rule in zip(linked.rules, policy.rules):
        if never_fires(rule):
            continue  # E130 already says so; every example would only repeat it as E141
        for example in linked_rule.rule.examples:
            found.extend(_check_example(rule, example))
    return policy, found


def expected_ok(verdict: str, role: str, vote: int) -> bool:
    """Whether a vote agrees with an example's role for a verdict kind."""
    if role == "good":
        return vote == ir.GOOD if verdict in ("require", "forbid", "prefer") else vote != ir.BAD
    return vote == ir.BAD if verdict in ("require", "forbid", "avoid") else vote != ir.GOOD


def _check_example(rule: ir.RuleIR, example: ast.Example) -> list[Diagnostic]:
    context = tuple((i.role, i.text) for i in example.items if i.role in ("user", "assistant"))
    prompt = next((i.text for i in example.items if i.role == "prompt"), "")
    found = []
    for item in example.items:
        if item.role not in ("good", "bad"):
            continue
        sample = Sample(prompt=prompt, response=item.text, context=context)
        try:
            with _time_limit(EXAMPLE_SECONDS):
                scope, vote = in_scope(rule, sample), rule_vote(rule, sample)
        except _TooSlow:
            found.append(error("E142", f"rule `{rule.id}` took over {EXAMPLE_SECONDS:g} s on this example: "
                                       "one of its regular expressions backtracks catastrophically", item.span,
                               "remove nested repetition such as (a+)+ or (a|aa)*; patterns RE2 accepts "
                               "run in linear time"))
            break  # one report per example block: the next text would time out too
        if scope is False:
            found.append(error("E141", f"example is outside rule `{rule.id}`'s scope, so it tests "
                                       "nothing", item.span,
                               "change the example's prompt so the rule's `when` holds and no `unless` does"))
            continue
        if vote is None or expected_ok(rule.verdict, item.role, vote):
            continue
        found.append(error("E140", f"rule `{rule.id}` contradicts its own example: the {item.role} "
                                   f"response is voted {_NAMES[vote]}", item.span,
                           "fix the example or the rule's condition"))
    return found
