"""What a code's page holds, and the policy text its examples are written in."""

from __future__ import annotations

import textwrap
from typing import NamedTuple

HEADER = 'dsl 1\npolicy demo version "1"\n\n'

# A rule with an example, for pages about other parts of a policy.
RULE = """
rule no-todo (high):
  forbid response contains "TODO"
  example:
    prompt "Draft a reply."
    good "Thanks for writing."
    bad "TODO"
"""


class Page(NamedTuple):
    """One code's page; `needs` names what else the example needs when it is not self-contained."""

    title: str
    meaning: str
    example: str
    fix: str
    needs: str = ""


def policy(body: str, with_rule: bool = False) -> str:
    """A complete policy: the two header lines, `RULE` when asked, then `body` (dedented)."""
    rule = textwrap.dedent(RULE).strip("\n") + "\n\n" if with_rule else ""
    return HEADER + rule + textwrap.dedent(body).strip("\n") + "\n"
