"""The pages of the codes about names, rules and their conditions (E101–N132)."""

from __future__ import annotations

from tenet.compiler.codes.page import Page, policy



def _competitors(condition: str, bad: str) -> str:
    """A policy with a `let` of competitors' names and a rule forbidding `response <condition>`."""
    return policy(f"""
        let competitors = words("RivalCo", "Globex")

        rule no-competitors (high):
          forbid response {condition}
          example:
            prompt "Hello"
            good "Hi there."
            bad "{bad}"
        """)


PAGES: dict[str, Page] = {
    # --- names and rules ------------------------------------------------------------------
    "E101": Page(
        "duplicate rule id",
        "Two rules have the same id. Rule ids name rules in reports, gates and the trained model's "
        "records, so each must be unique across the policy and everything it imports.",
        policy("""
            rule no-todo (high):
              forbid response contains "TODO"
              example:
                prompt "Draft a reply."
                good "Thanks."
                bad "TODO"

            rule no-todo (medium):
              forbid response contains "FIXME"
              example:
                prompt "Draft a reply."
                good "Thanks."
                bad "FIXME"
            """),
        "Rename one of the rules. To replace a rule of an imported module, write "
        "`override rule ID`."),
    "E102": Page(
        "`override rule` names no imported rule",
        "`override rule ID` replaces a rule of an imported or extended module, but no such "
        "module has a rule with that id.",
        policy("""
            override rule no-shouting (high):
              forbid response matches /[A-Z]{6,}/
              example:
                prompt "Hello"
                good "Hi there."
                bad "STOPPING"
            """),
        "Correct the id (the hint suggests a close one), or drop `override` for a new rule."),
    "E103": Page(
        "`let` name already defined",
        "A `let` name is defined twice, in this policy or in a module it imports.",
        policy("""
            let banned = words("darn")
            let banned = words("heck")
            """, with_rule=True),
        "Rename one, or merge the two word lists into one `let`."),
    "E104": Page(
        "unknown name",
        "A condition uses a name that no `let` defines, here or in an imported module.",
        _competitors("mentions competitor", bad="Try Globex."),
        "Use the defined name (the hint suggests a close one), or define it: "
        '`let competitor = words("...")`. A single phrase can be written in quotes instead.'),
    "E105": Page(
        "name of the wrong kind",
        "A `let` name holds one kind of value (`words(...)`, `exemplars(...)` or a /regex/) but "
        "is used where another is needed: `matches` needs a regex, `mentions` needs words, "
        "`similarity` needs exemplars.",
        _competitors("matches competitors", bad="Globex"),
        "Use the verb that fits the value (`mentions competitors`), or define a name of the "
        "right kind."),
    "E106": Page(
        "unknown tag",
        "A rule's `tags` names a tag that is neither a Llama Guard category (S1–S14) nor declared "
        "with `taxonomy`.",
        policy("""
            rule no-todo (high):
              forbid response contains "TODO"
              tags marketing
              example:
                prompt "Draft a reply."
                good "Thanks for writing."
                bad "TODO"
            """),
        "Declare the tag first (`taxonomy marketing`), or correct its spelling."),
    "E107": Page(
        "unknown count unit",
        "A count (`has at most N UNIT`) names a unit the language does not count.",
        policy("""
            rule short (medium):
              require response has at most 50 wordz
              example:
                prompt "Hi"
                good "Hello."
            """),
        "Use one of `words`, `sentences`, `lines`, `bullets`, `characters` (or the singular)."),
    "E108": Page(
        "rule has no verdict, or more than one",
        "Every rule says exactly once what it wants of the response: `require`, `forbid`, "
        "`prefer` or `avoid` followed by a condition.",
        policy("""
            rule no-todo (high):
              when prompt contains "draft"
              example:
                prompt "draft a reply"
                good "Thanks."
            """),
        "Add one verdict line, e.g. `forbid response contains \"TODO\"`; split a rule with two "
        "verdicts into two rules, or join their conditions with `and`/`or`."),
    "E109": Page(
        "more than one `when` or `because`",
        "A rule has one scope (`when`) and one rationale (`because`).",
        policy("""
            rule refunds (high):
              when prompt mentions "refund"
              when prompt mentions "order"
              require response mentions "30 days"
              example:
                prompt "refund for my order?"
                good "Within 30 days."
                bad "No."
            """),
        "Combine the `when` conditions with `and` (or `or`); give a single `because`."),
    "E110": Page(
        "score without a threshold",
        "`sentiment(...)`, `similarity(...)`, `classifier(...)` and `judge(...)` give a number; "
        "a condition must compare it.",
        policy("""
            rule helpful (high):
              require judge(response, rubric "Is it helpful?")
              example:
                prompt "Hello"
                good "Hi there."
                bad "x"
            """),
        'Compare the score: `require judge(response, rubric "Is it helpful?") >= 0.7`.'),
    "E111": Page(
        "threshold outside the score's range",
        "The threshold can never be reached: sentiment and similarity run from -1 to 1, "
        "classifier and judge scores from 0 to 1.",
        policy("""
            rule warm (medium):
              require sentiment(response) >= 1.5
              example:
                prompt "Hello"
                good "Hi there."
                bad "x"
            """),
        "Pick a threshold inside the range, e.g. `sentiment(response) >= 0.5`."),
    "E112": Page(
        "count not a whole number in range, or an empty `between`",
        "Counts are whole numbers from 0 to 1,000,000,000, and `between N and M` needs N ≤ M.",
        policy("""
            rule medium-length (medium):
              require response has between 50 and 20 words
              example:
                prompt "Hi"
                good "Hello."
            """),
        "Write whole numbers, the smaller first: `has between 20 and 50 words`."),
    "E113": Page(
        "empty keyword or empty text",
        "An empty string matches everywhere: every text contains \"\", so the condition would "
        "always hold.",
        policy("""
            rule no-todo (high):
              forbid response contains ""
              example:
                prompt "Hi"
                good "Hello."
            """),
        "Give the text to look for, or remove the empty string from the word list."),
    "E120": Page(
        "invalid regex",
        "A /regex/ does not compile; the caret points at the position Python's `re` reports.",
        policy("""
            rule order-ids (high):
              forbid response matches /ORD-(unclosed/
              example:
                prompt "Hi"
                good "Hello."
            """),
        "Fix the pattern (close the group, escape a literal `(` as `\\(`)."),
    "E121": Page(
        "regex matches the empty string",
        "A pattern that matches the empty text (`/[0-9]*/`) matches every text, so the condition "
        "always holds.",
        policy("""
            rule no-digits (medium):
              forbid response matches /[0-9]*/
              example:
                prompt "Hello"
                good "Hi there."
                bad "42"
            """),
        "Use `+` instead of `*` (`/[0-9]+/`), or anchor the pattern."),
    "N122": Page(
        "regex runs on Python `re`, not RE2",
        "The pattern uses lookaround or backreferences, which RE2 cannot run identically. It "
        "still works, on Python `re` row by row under a time bound: slower on large data.",
        policy("""
            rule price-format (low):
              avoid response matches /\\$(?=[0-9]+\\.[0-9]{3})/
              example:
                prompt "Hello"
                good "Hi there."
                bad "$1.999"
            """),
        "Nothing is required. For speed, rewrite the pattern without lookaround or "
        "backreferences."),
    "E130": Page(
        "rule can never fire",
        "The rule's scope is empty: its `when` asks for a condition and its opposite, or for "
        "counts no text has, or an `unless` holds wherever the `when` does. The caret is on the "
        "condition at fault.",
        policy("""
            rule never (medium):
              when prompt contains "refund" and not prompt contains "refund"
              require response contains "30 days"
              example:
                prompt "refund?"
                good "30 days"
            """),
        "Remove the contradiction; make counts overlap; narrow the `unless` to the exceptions."),
    "E131": Page(
        "two rules conflict and neither takes precedence",
        "Two rules of the same severity and authority give opposite verdicts on the same "
        "condition, so no response can satisfy both.",
        policy("""
            rule use-emoji (medium):
              require response contains ":)"
              example:
                prompt "Hello"
                good "Hi :)"
                bad "Hi."

            rule no-emoji (medium):
              forbid response contains ":)"
              example:
                prompt "Hello"
                good "Hi."
                bad "Hi :)"
            """),
        "Add an `unless` to one rule for the cases it yields, or give them different "
        "severities (the higher one wins, and the lower is shadowed: N132)."),
    "N132": Page(
        "rule is shadowed where a higher-precedence rule applies",
        "Two rules give opposite verdicts on the same condition; the higher one (by severity, "
        "then authority) wins, and the lower one abstains wherever the winner votes.",
        policy("""
            rule no-emoji (high):
              forbid response contains ":)"
              example:
                prompt "Hello"
                good "Hi."
                bad "Hi :)"

            rule use-emoji (low):
              require response contains ":)"
              example:
                prompt "Hello"
                good "Hi :)"
                bad "Hi."
            """),
        "Nothing is required when that is what you mean. Otherwise scope the rules apart with "
        "`when`/`unless`."),
}
