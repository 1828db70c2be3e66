"""A short page for every diagnostic code: what it means, a policy that triggers it, how to fix it.

`code_page("E160")` is what `tenet check --explain E160` prints. Every example is a complete
policy file; compiled on its own (saved as `example.policy`) it reports its page's code, which
tests/test_errors.py checks. The few examples that need more than one file, or a file no text
page can hold, say what else they need in `needs`.
"""

from __future__ import annotations

import textwrap
from typing import NamedTuple

HEADER = 'dsl 1\npolicy demo version "1"\n\n'
WIDTH = 88  # the width pages are wrapped to
_SEVERITY = {"P": "error", "L": "error", "E": "error", "W": "warning", "N": "note"}


class Page(NamedTuple):
    """One code's page; `needs` names what else the example needs when it is not self-contained."""

    title: str
    meaning: str
    example: str
    fix: str
    needs: str = ""


# A rule with an example, for pages about other parts of a policy.
_RULE = """
rule no-todo (high):
  forbid response contains "TODO"
  example:
    prompt "Draft a reply."
    good "Thanks for writing."
    bad "TODO"
"""

def _policy(body: str, with_rule: bool = False) -> str:
    """A complete policy: the two header lines, `_RULE` when asked, then `body` (dedented)."""
    rule = textwrap.dedent(_RULE).strip("\n") + "\n\n" if with_rule else ""
    return HEADER + rule + textwrap.dedent(body).strip("\n") + "\n"


PAGES: dict[str, Page] = {
    # --- syntax ---------------------------------------------------------------------------
    "P001": Page(
        "syntax error: unexpected word or symbol",
        "The parser met a word or symbol that cannot come next. The message lists what could; the "
        "hint names the usual fix: a misspelt keyword, a keyword in capitals, a negation written "
        "as `does not`, `less than` for `fewer than`, `or` between two texts, an unquoted "
        "version, a missing `dsl 1` line. Parsing resumes at the next item, so one run reports "
        "every broken item.",
        _policy("""
            rule no-todo (high):
              requires response contains "TODO"
            """),
        "Write the keyword the hint names (`require`). To negate a condition, use the opposite "
        "verdict (`forbid response mentions \"X\"`) or a leading `not`; join conditions, not "
        "texts, with `or` (`prompt contains \"a\" or prompt contains \"b\"`)."),
    "P002": Page(
        "unexpected character",
        "A character that starts no token of the language: a single quote, a string that is not "
        "closed on its line, a stray symbol.",
        _policy("""
            rule no-todo (high):
              forbid response contains 'TODO'
            """),
        'Strings use double quotes ("TODO") and close on the line they open; write a line break '
        "inside a string as \\n."),
    "P003": Page(
        "unexpected end of file",
        "The file ends in the middle of something: a condition with no operand, a rule header "
        "with no clauses, or an empty file.",
        _policy("""
            rule no-todo (high):
              forbid response contains
            """),
        "Finish the last item (the hint lists what can come next). A policy file starts with "
        '`dsl 1` and `policy NAME version "1"`.'),
    "P004": Page(
        "conditions nested too deeply to compile",
        "A condition chains or nests so many `and`/`or`/`not` parts (thousands) that the compiler "
        "cannot hold it.",
        _policy("""
            rule deep (low):
              forbid response contains "w0" or response contains "w1" or response contains "w2"
            """),
        "Put long lists of words in `words(...)` or a `let` name, and split very long conditions "
        "into several rules.",
        needs="about 2,000 `or` parts in one condition, not three"),
    # --- loading files --------------------------------------------------------------------
    "L001": Page(
        "policy file not found",
        "The policy, or a file it imports or extends, does not exist, or is a directory, pipe or "
        "device rather than a file.",
        _policy("""
            import "shared/brand.policy"
            """),
        "Check the path: imports are relative to the importing file."),
    "L002": Page(
        "import path not allowed",
        "An `import` or `extends` path is absolute, holds a NUL character, or leads outside the "
        "policy root (the entry policy's folder, or `--root`) with `..` or a symbolic link.",
        _policy("""
            import "/etc/tenet/safety.policy"
            """),
        "Write the path relative to the importing policy and keep shared modules inside the "
        "policy root; pass `--root DIR` to widen it."),
    "L003": Page(
        "import cycle",
        "Policies import or extend each other in a loop; the message shows the chain.",
        _policy("""
            import "b.policy"
            """),
        "Remove one import of the cycle; move what both need into a third module.",
        needs="a b.policy beside it that imports this file"),
    "L004": Page(
        "policy file too large",
        "A policy file is larger than 2,000,000 bytes.",
        _policy("""
            import "huge.policy"
            """),
        "Split the policy into modules; keep long word lists and prompts in prompt files.",
        needs="a huge.policy of over 2,000,000 bytes beside it"),
    "L005": Page(
        "policy file is not valid UTF-8",
        "A policy file holds bytes that are not UTF-8 text, often because an editor saved it as "
        "Latin-1 or Windows-1252.",
        _policy("""
            import "latin1.policy"
            """),
        "Save the file as UTF-8 (a byte-order mark is fine).",
        needs="a latin1.policy beside it, saved as Latin-1 with an accented letter"),
    "L006": Page(
        "policy file cannot be read",
        "The operating system refused to read a policy file: no permission, a path through a "
        "file as if it were a folder, or a symbolic-link loop.",
        _policy("""
            import "locked.policy"
            """),
        "Fix the file's permissions or the path the message names.",
        needs="a locked.policy beside it that the current user may not read"),
    # --- names and rules ------------------------------------------------------------------
    "E101": Page(
        "duplicate rule id",
        "Two rules have the same id. Rule ids name rules in reports, gates and the trained model's "
        "records, so each must be unique across the policy and everything it imports.",
        _policy("""
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
        _policy("""
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
        _policy("""
            let banned = words("darn")
            let banned = words("heck")
            """, with_rule=True),
        "Rename one, or merge the two word lists into one `let`."),
    "E104": Page(
        "unknown name",
        "A condition uses a name that no `let` defines, here or in an imported module.",
        _policy("""
            let competitors = words("RivalCo", "Globex")

            rule no-competitors (high):
              forbid response mentions competitor
              example:
                prompt "Hello"
                good "Hi there."
                bad "Try Globex."
            """),
        "Use the defined name (the hint suggests a close one), or define it: "
        '`let competitor = words("...")`. A single phrase can be written in quotes instead.'),
    "E105": Page(
        "name of the wrong kind",
        "A `let` name holds one kind of value (`words(...)`, `exemplars(...)` or a /regex/) but "
        "is used where another is needed: `matches` needs a regex, `mentions` needs words, "
        "`similarity` needs exemplars.",
        _policy("""
            let competitors = words("RivalCo", "Globex")

            rule no-competitors (high):
              forbid response matches competitors
              example:
                prompt "Hello"
                good "Hi there."
                bad "Globex"
            """),
        "Use the verb that fits the value (`mentions competitors`), or define a name of the "
        "right kind."),
    "E106": Page(
        "unknown tag",
        "A rule's `tags` names a tag that is neither a Llama Guard category (S1–S14) nor declared "
        "with `taxonomy`.",
        _policy("""
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
        _policy("""
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
        _policy("""
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
        _policy("""
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
        _policy("""
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
        _policy("""
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
        _policy("""
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
        _policy("""
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
        _policy("""
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
        _policy("""
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
        _policy("""
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
        _policy("""
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
        _policy("""
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
        _policy("""
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
    # --- examples -------------------------------------------------------------------------
    "E140": Page(
        "rule contradicts its own example",
        "The compiler runs each rule on its examples: a good response must pass and a bad one "
        "fail. Here the rule votes the other way.",
        _policy("""
            rule bullets (medium):
              require response matches /^- /m
              example:
                prompt "List the steps."
                good "1. Open the app\\n2. Tap reset"
                bad "Open the app."
            """),
        "Fix whichever is wrong: the example (here, use `- ` bullets) or the rule's condition."),
    "E141": Page(
        "example is outside its rule's scope",
        "The example's prompt does not satisfy the rule's `when` (or satisfies an `unless`), so "
        "the rule abstains and the example tests nothing.",
        _policy("""
            rule bullets (medium):
              when prompt contains "list"
              require response matches /^- /m
              example:
                prompt "Tell me the steps."
                good "- Open the app"
                bad "Open the app."
            """),
        "Change the example's prompt so the `when` holds (`List the steps.`) and no `unless` "
        "does."),
    "E142": Page(
        "rule took too long on its example: a regex backtracks catastrophically",
        "Evaluating the rule on an example took over 0.25 s. A regex with nested repetition "
        "such as /(a+)+$/ takes exponential time on some texts, and would stall labelling too.",
        _policy("""
            rule no-a-runs (low):
              forbid response matches /(a+)+$/
              example:
                prompt "Say something."
                good "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"
                bad "aaaa"
            """),
        "Remove the nested repetition (`/a+$/`); patterns RE2 accepts run in linear time."),
    "E143": Page(
        "malformed example",
        "An example block has optional context turns (`user`, `assistant`), then exactly one "
        "`prompt`, then at least one `good` or `bad` response.",
        _policy("""
            rule no-todo (medium):
              forbid response contains "TODO"
              example:
                good "Done."
                bad "TODO"
            """),
        'Add the missing `prompt "..."` line or a response; move context turns above the prompt; '
        "start a new `example:` block for a second prompt."),
    "W150": Page(
        "rule has no examples",
        "Examples are a rule's tests (the compiler checks the rule against them) and seed its "
        "training pairs. A rule without them still compiles.",
        _policy("""
            rule no-todo (high):
              forbid response contains "TODO"
            """),
        "Add an `example:` block with a `prompt`, a `good` and a `bad` response."),
    # --- training -------------------------------------------------------------------------
    "E160": Page(
        "unknown training setting",
        "A `training:` block names a setting tenet does not have. The hint suggests the setting "
        "you most likely meant, including common abbreviations (`lr` is `learning_rate`, `steps` "
        "is `max_steps`, `bs` is `batch_size`).",
        _policy("""
            training:
              lr = 1e-5
            """),
        "Write the setting's full name: `learning_rate = 1e-5`. Fields of TRL's or peft's "
        "configs are written `trainer.FIELD` and `lora.FIELD`."),
    "E161": Page(
        "training setting of the wrong type or out of range",
        "The value does not fit the setting: text where a number is needed, a fraction for a "
        "whole number, a value outside the setting's range, or an unknown choice.",
        _policy("""
            training:
              batch_size = 2.5
            """),
        "Give a value of the type and range the hint describes: `batch_size = 4`."),
    "E163": Page(
        "gate names an unknown rule",
        "`gate rule ID` must name a rule of the policy or its imports.",
        _policy(with_rule=True, body="""
            training:
              gate rule no-tod >= 0.9
            """),
        "Correct the rule id (the hint suggests a close one)."),
    "W164": Page(
        "gated rule can never be measured",
        "`gate rule ID` measures the rule on held-out prompts in its scope, but none of the "
        "held-out prompts is, so the gate will fail.",
        _policy("""
            rule refund-form (high):
              when prompt mentions "refund"
              require response mentions "refund form"
              example:
                prompt "How do I get a refund?"
                good "Fill in the refund form."
                bad "Call us."

            prompts:
              template "How do I {task} my {product}?"
                slot task = "clean", "fix", "store"
                slot product = "toaster", "kettle"

            training:
              tempt_prompts = 0
              gate rule refund-form >= 0.9
            """),
        "Add prompts where the rule's `when` holds (`How do I get a refund for my kettle?`), or "
        "gate on another target."),
    "E165": Page(
        "impossible gate threshold",
        "Compliance gates compare rates from 0 to 1; `regression` and `drift` are maxima, "
        "written `<=` or `<` with a number of at least 0; every threshold is finite.",
        _policy(with_rule=True, body="""
            training:
              gate critical >= 99
            """),
        "Write rates as fractions (`gate critical >= 0.99` for 99%); write `gate regression <= "
        "0.02`."),
    "E166": Page(
        "not a field of the method's TRL config or of LoraConfig",
        "`trainer.FIELD` passes a value to the TRL config of the training method, and "
        "`lora.FIELD` to peft's LoraConfig; this field is in neither.",
        _policy(with_rule=True, body="""
            training:
              trainer.warmup_ratio = 0.1
            """),
        "Use the field the hint names (`trainer.warmup_steps = 0.1`: below 1 it is a share of "
        "the steps), or set `method` to the method whose config has the field."),
    "E167": Page(
        "value a trainer or LoRA field cannot take",
        "The value has the wrong type, is not one of the field's choices, is not a whole number, "
        "or is outside the range tenet allows for the field.",
        _policy(with_rule=True, body="""
            training:
              trainer.lr_scheduler_type = cosin
            """),
        "Give one of the values the hint lists: `trainer.lr_scheduler_type = cosine`."),
    "W168": Page(
        "`lora.*` settings without `lora = true`",
        "`lora.FIELD` settings configure a LoRA adapter, but this policy trains all the weights.",
        _policy(with_rule=True, body="""
            training:
              lora = false
              lora.target_modules = "q_proj, v_proj"

            prompts:
              prompt "Do you ship abroad?"
            """),
        "Add `lora = true`, or remove the `lora.*` settings."),
    "E169": Page(
        "trainer or LoRA field refused",
        "A policy is data: tenet only passes fields on its allow-list. This field loads code, "
        "uploads, names a path or remote, configures distributed training, takes a dictionary "
        "or a regex, is set by tenet itself, or is not listed.",
        _policy(with_rule=True, body="""
            training:
              method = kto
              trainer.trust_remote_code = true
            """),
        "Remove the field. Where tenet has its own setting for it, the hint names it "
        "(`trainer.num_train_epochs` is `epochs`)."),
    # --- prompts --------------------------------------------------------------------------
    "E170": Page(
        "template placeholder without a slot, or slot not used",
        "Each `{name}` in a template needs a `slot name = ...` line, and each slot must appear "
        "in its template.",
        _policy(with_rule=True, body="""
            prompts:
              template "How do I {action} my {product}?"
                slot action = "reset"
            """),
        'Add the slot (`slot product = "kettle", "toaster"`) or remove the placeholder.'),
    "E171": Page(
        "prompt file not allowed",
        "A prompt file must be `.jsonl`, `.csv` or `.parquet`, named by a relative path inside "
        "the policy root; an `hf://` data set reference must be well formed.",
        _policy(with_rule=True, body="""
            prompts:
              file "traffic.txt"
            """),
        "Convert the file to JSON Lines or CSV with a `prompt` column, and keep it beside the "
        "policy: `file \"traffic.jsonl\"`."),
    "W172": Page(
        "prompt file does not exist yet",
        "The policy compiles, but synthesis and training will fail until the file exists.",
        _policy(with_rule=True, body="""
            prompts:
              file "traffic.jsonl"
            """),
        "Create the file (one JSON object with a `prompt` per line), or fix its path."),
    "E173": Page(
        "no held-out prompts to evaluate a trained model on",
        "A trained model is evaluated on prompts held out from training, and rule example "
        "prompts always train. This policy has no other prompts, or its seeded split holds "
        "none out.",
        _policy(with_rule=True, body="""
            training:
              pairs = 64
            """),
        "Add a `prompts:` block with prompts like your users' (a template with slots makes "
        "many), or raise `eval_split`."),
    "E174": Page(
        "model reference not allowed",
        "A model the policy names (`base_model`, a classifier's or judge's `model`) must be an "
        "embedded model, a Hub id, or a folder inside the policy root; not an absolute path, "
        "`~`, `..`, a URL, a link out of the root, or a revision that is not a git ref.",
        _policy(with_rule=True, body="""
            prompts:
              prompt "Write me a status update."

            training:
              base_model = "/home/alice/models/private"
            """),
        "Name a Hub id (`HuggingFaceTB/SmolLM2-135M-Instruct`) or a folder beside the policy; "
        "pass a model from elsewhere with `--base-model`."),
    "W176": Page(
        "templates and prompts make more prompts than are used",
        "A template makes at most 5,000 prompts, and all templates and literal prompts together "
        "at most 100,000; the rest are dropped.",
        _policy(with_rule=True, body="""
            prompts:
              template "{s1} {s2} {s3} {s4}"
                slot s1 = "1", "2", "3", "4", "5", "6", "7", "8", "9"
                slot s2 = "1", "2", "3", "4", "5", "6", "7", "8", "9"
                slot s3 = "1", "2", "3", "4", "5", "6", "7", "8", "9"
                slot s4 = "1", "2", "3", "4", "5", "6", "7", "8", "9"
            """),
        "Use fewer templates or slot values, or put real traffic in a prompt file.",
        needs="20 more templates like this one"),
    "W177": Page(
        "rule tempted by too few held-out prompts",
        "A rule is measured on the out-of-template prompts that tempt it: the temptation prompts "
        "tenet writes from the rule and held-out prompts with wording of their own. Fewer than 8 "
        "cannot tell kept from broken, so the cycle reports the rule as \"not tested\" and a gate "
        "on it fails.",
        _policy(with_rule=True, body="""
            prompts:
              prompt "Where is my order?"

            training:
              eval_split = 0.9
              tempt_prompts = 4
            """),
        "Add `prompt \"…\"` lines in the rule's scope (each is phrased unlike the templates), or "
        "widen what its `when` names."),
    "W178": Page(
        "gate finer than the held-out prompts can resolve",
        "A level gate passes when the 95% interval of its compliance clears the threshold. With "
        "every prompt kept, n prompts give a lower end of n / (n + 3.84), so a threshold t needs "
        "at least 3.84 t / (1 - t) tempting prompts (35 for 0.9, 381 for 0.99). Fewer, and the "
        "gate fails every time.",
        _policy(with_rule=True, body="""
            prompts:
              prompt "Where is my order?"

            training:
              eval_split = 0.9
              gate rule no-todo >= 0.99
            """),
        "Lower the threshold, raise `tempt_prompts`, or add held-out prompts in the rules' scope."),
    # --- the file itself ------------------------------------------------------------------
    "E180": Page(
        "unsupported `dsl` version",
        "The first line names the language version; this compiler reads version 1.",
        'dsl 2\npolicy demo version "1"\n',
        "Write `dsl 1` (or upgrade tenet if the policy was written for a newer version)."),
    "E181": Page(
        "control or bidirectional character in a string, regex or comment",
        "Control characters and bidirectional overrides are invisible or reorder text, so what "
        "a reviewer reads would not be what tenet compiles.",
        _policy("""
            rule no-todo (high):
              forbid response contains "TODO"
              example:
                prompt "Hello\\u001b[2J"
                good "Hi there."
                bad "TODO"
            """),
        "Delete the character; write a tab or line break as `\\t`, `\\n` or `\\r`."),
}


def code_page(code: str) -> str | None:
    """The page for a diagnostic code (`E160`, any case), or None for a code the compiler never emits."""
    key = code.strip().upper()
    page = PAGES.get(key)
    if page is None:
        return None
    example = textwrap.indent(page.example.rstrip("\n"), "    ")
    needs = f" (it also needs {page.needs})" if page.needs else ""
    return (f"{key} ({_SEVERITY[key[0]]}): {page.title}\n\n"
            f"{textwrap.fill(page.meaning, WIDTH)}\n\n"
            f"{textwrap.fill(f'Example{needs}:', WIDTH)}\n{example}\n\n"
            f"{textwrap.fill(f'Fix: {page.fix}', WIDTH)}\n")
