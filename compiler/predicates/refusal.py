"""`S is a refusal`: the text declines the request."""

from __future__ import annotations

from tenet.compiler import ast, ir
from tenet.compiler.predicates.base import compiled, locates, searches, subject_only

REFUSAL_PATTERN = (
    "(?i)\\b(?:i(?:['\u2019]m| am) (?:sorry|afraid),? but"
    "|i(?: can['\u2019]?t| cannot| won['\u2019]t| will not| am unable to| am not able to"
    "|['\u2019]m unable to|['\u2019]m not able to) (?:help|assist|provide|do that|answer|comply|share|support)"
    "|as an? (?:[a-z-]+ ){0,2}(?:ai|chatbot|language model)\\b"
    "|i (?:do not|don['\u2019]?t) have the (?:ability|capability|capacity) to"
    "|i(?:['\u2019]m| am) not equipped to"
    # "I'm unable to back up your photos": being unable is declining, whatever the verb
    "|i(?:['\u2019]m| am) unable to [a-z]"
    "|i must decline|i (?:have to|need to) decline"
    # "I'm more than happy to help. But I'd be more than happy to help with something else.":
    # help offered with something else is this request declined (a helpful answer offers
    # help with "anything else")
    "|(?:happy|glad) to (?:help|assist)(?: you)? with something else)"
)


def pattern(pred: ir.RefusalPred):
    """The built-in refusal pattern."""
    return compiled(REFUSAL_PATTERN)


KIND = subject_only("refusal", ast.Refusal, ir.RefusalPred, "refusal", "is a refusal",
                    holds=searches(pattern), finder=locates(pattern))
