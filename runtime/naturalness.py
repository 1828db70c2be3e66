"""Does a response read like one a reviewer would accept? Text checks for edit artifacts.

Whatever an edit leaves behind in a pair's chosen side is what preference training teaches,
so pair QA drops sides with these artifacts, and evaluation reports how often a model
produces them. Each check is cheap, deterministic and text-only:

- `loop`: some word 4-gram occurs three or more times (a repetition loop);
- `hybrid_marker`: a list item that carries both a bullet and a number (`- 1. …`);
- `empty_item`: a list marker with nothing after it (`3.` or `- -` alone on a line, or ending the text),
  an item of markup alone (`- ****`, `- **-`: bold headlines with the words gone),
  or an item that only introduces (`1. **Cleaning**:`) and is followed by the next item of
  the same list;
- `lone_item`: a list of one item: a numbered list that stops after `1.` (what was cut after the
  first step), a single bullet and no numbered list ("Here's a guide:" and one `- ` line, for
  a list request), or a guide in prose of one step (a paragraph opening "First," or
  "**Step 1:**" and no later step: "Here's how to repair it: First, choose a new grinder.");
- `repeated_item`: a list item that says what an earlier item said ("1. **Clean it**",
  "2. **Clean it**"): a small model's list that ran on, or a list that pads out a count;
- `mid_sentence`: the answer stops mid-sentence (no closing punctuation on a prose line, or
  a dangling comma, colon or conjunction);
- `leftover`: unfilled `{slot}` placeholders, or one sentence repeated back to back;
- `broken_markup`: a line whose bold is opened and never closed (`- **Unite your team`), or a
  code block whose fence never closes: what a cut inside markup leaves;
- `cut_opening`: the answer opens on a word that answers something said before it ("However,
  I can help you find…"): the sentence it answered, usually a refusal, was cut away.

`declines` is the built-in refusal check, or an answer made only of offers to help ("I'm
more than happy to help! But I'd be more than happy to help you with a simple message."): a
short deflection keeps most rules, so pair QA never lets it be a chosen side unless a rule asks
for a refusal, and evaluation reports how often a model declines.
"""

from __future__ import annotations

import re
from collections import Counter

from tenet.compiler.semantics import REFUSAL_PATTERN

PROBLEMS = ("loop", "hybrid_marker", "empty_item", "lone_item", "repeated_item", "mid_sentence", "leftover",
            "broken_markup", "cut_opening")
LABELS = {"loop": "repetition loops", "hybrid_marker": "hybrid list markers", "empty_item": "empty list items",
          "lone_item": "one-item lists or one-step guides", "repeated_item": "repeated list items",
          "mid_sentence": "mid-sentence endings", "leftover": "leftover template text",
          "broken_markup": "unclosed bold or code", "cut_opening": "openings cut mid-thought"}  # for tables
LOOP_N, LOOP_TIMES = 4, 3

HYBRID = re.compile(r"(?m)^[ \t]*(?:[-*\u2022][ \t]+(?:\d+|[A-Za-z])[.)]|\d+[.)][ \t]+[-*\u2022])(?:[ \t]|$)")
# A marker alone on a line, or ending the text; markers followed by markup only ("- -", "- ****")
# are `has_markup_only_item`'s.
EMPTY_ITEM = re.compile(r"(?m)^[ \t]*(?:\d+[.)]|[-*\u2022])[ \t]*$|(?:^|[.!?:][ \t]+)\d{1,2}[.)][ \t]*\Z")
LONE_FIRST = re.compile(r"(?m)^[ \t]*1[.)][ \t]+\S")
SECOND = re.compile(r"(?m)^[ \t]*2[.)][ \t]")
# A paragraph that opens a guide's first step in prose, and the words that go on to a later one.
FIRST_STEP = re.compile(r"(?im)^[ \t]*(?:\*\*|#+[ \t]*)?(?:first(?:ly)?\b|first of all\b|step[ \t]*1\b)")
LATER_STEP = re.compile(r"(?i)\b(?:second(?:ly)?|next|then|after that|afterwards|finally|lastly"
                        r"|step[ \t]*2)\b|(?m:^[ \t]*(?:\*\*)?2[.)][ \t])")
NUMBERED_ITEM = re.compile(r"(?m)^[ \t]*\d+[.)][ \t]+\S")
BULLET_ITEM = re.compile(r"(?m)^[ \t]*[-*\u2022][ \t]+\S")
# Outline numbers count as markers too ("4.1. Rinse it"): a sub-step needs no closing punctuation.
LIST_MARKER = re.compile(r"^[ \t]*(?:[-*\u2022]|\d+(?:\.\d+)*[.)]|[A-Za-z][.)])[ \t]+")
LIST_ITEM = re.compile(LIST_MARKER.pattern + r"\S")
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
LETTER_OR_DIGIT = re.compile(r"[^\W_]")  # in any script
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
SENTENCE_END = re.compile(r"[.!?\u2026]$")
# Markup and closing characters that may follow the final punctuation ("**Done.**", "(see above.)").
CLOSERS = "*_`\"')]}\u201d\u2019 \t"
DANGLING_PUNCTUATION = (",", ";", ":", "-", "\u2013", "\u2014", "(", "/", "&")
DANGLING_WORDS = frozenset("""a an the and or but nor so to of for with in on at by from as if than that
which who whose whom your our their its my is are was were be been will would can could should may
might must this these those such very more most""".split())
EMOJI = tuple("\U0001F600\U0001F642\U0001F44D\U0001F60A")
SIGN_OFF_WORDS = 3
# Abbreviations whose period does not end a sentence ("the amount (e.g. 20%)"): a cut after
# one, or an answer that stops on one, stops mid-sentence. "etc." often ends a sentence, so
# it is not here.
ABBREVIATIONS = ("e.g", "E.g", "i.e", "I.e", "vs", "cf", "approx", "Mr", "Mrs", "Ms", "Dr")
ABBREVIATION_END = re.compile(r"\b(?:" + "|".join(re.escape(a) for a in ABBREVIATIONS) + r")\.$")
SENTENCE = re.compile(r"[^.!?\n]+[.!?]+")
# An offer to help; an answer of nothing else helps with nothing.
OFFER = re.compile(r"(?i)\b(?:happy|glad|pleased|delighted|here|love) to (?:help|assist)\b")
FENCE = re.compile(r"(?m)^[ \t]*```.*$")  # a code fence line, opening or closing
# Words that answer a sentence before them; an answer cannot open on one. "But" and "So" open
# spoken replies ("So, the short answer is…") too often to count alone; these do not.
CUT_OPENING = re.compile(r"^\W*(?:(?:however|nevertheless|nonetheless|furthermore|moreover|additionally)\b"
                         r"|(?:instead|otherwise|therefore|also|still|that said|in that case),)", re.I)


def problems(text: str) -> tuple[str, ...]:
    """The artifacts found in `text`, in `PROBLEMS` order (empty: it reads as a whole answer)."""
    found = []
    if has_loop(text):
        found.append("loop")
    if HYBRID.search(text):
        found.append("hybrid_marker")
    if EMPTY_ITEM.search(text.strip()) or has_markup_only_item(text) or has_header_only_item(text):
        found.append("empty_item")
    if has_lone_item(text):
        found.append("lone_item")
    if has_repeated_item(text):
        found.append("repeated_item")
    if ends_mid_sentence(text):
        found.append("mid_sentence")
    if has_leftover(text):
        found.append("leftover")
    if has_broken_markup(text):
        found.append("broken_markup")
    if CUT_OPENING.match(text):
        found.append("cut_opening")
    return tuple(found)


def is_natural(text: str) -> bool:
    """No artifact found."""
    return not problems(text)


def has_loop(text: str, n: int = LOOP_N, times: int = LOOP_TIMES) -> bool:
    """Some word n-gram occurs `times` times or more."""
    words = WORD.findall(text.lower())
    grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return bool(grams) and max(grams.values()) >= times


def has_lone_item(text: str) -> bool:
    """A list of one item: `1.` without a `2.`, one bullet where no numbered list could hold it,
    or a first step in prose ("First, …", "**Step 1: …**") that no later step follows."""
    if LONE_FIRST.search(text) and not SECOND.search(text):
        return True
    first = FIRST_STEP.search(text)
    if first and not LATER_STEP.search(text, first.end()):
        return True
    return len(BULLET_ITEM.findall(text)) == 1 and not NUMBERED_ITEM.search(text)


def has_markup_only_item(text: str) -> bool:
    """A list item whose text is markup or punctuation without a word (`- ****`, `2. **:**`)."""
    return any(not LETTER_OR_DIGIT.search(LIST_MARKER.sub("", line, count=1))
               for line in text.splitlines() if LIST_ITEM.match(line))


def has_header_only_item(text: str) -> bool:
    """A list item ending in a colon, followed by the next item of the same kind: it introduces nothing."""
    lines = [line for line in text.splitlines() if line.strip()]
    for line, after in zip(lines, lines[1:]):
        kind = _item_kind(line)
        if kind and line.rstrip(CLOSERS).endswith(":") and _item_kind(after) == kind \
                and indent(after) <= indent(line):
            return True
    return False


def has_repeated_item(text: str) -> bool:
    """Two outermost list items with the same words (case, markup and punctuation aside).

    Nested items may repeat ("Cost" under each of two options); outer ones should not.
    """
    items = [(indent(line), tuple(WORD.findall(LIST_MARKER.sub("", line, count=1).lower())))
             for line in text.splitlines() if LIST_ITEM.match(line)]
    outer = [words for indent, words in items if words and indent == min(i for i, _ in items)]
    return len(set(outer)) < len(outer)


def _item_kind(line: str) -> str | None:
    match = LIST_ITEM.match(line)
    if not match:
        return None
    return "number" if line.lstrip()[:1].isdigit() else "bullet"


def indent(line: str) -> int:
    """How many spaces and tabs the line starts with."""
    return len(line) - len(line.lstrip())


def ends_mid_sentence(text: str) -> bool:
    """The last line stops before its sentence or item is complete."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines or not WORD.search(text.lower()):
        return True  # no words: nothing was said
    last = lines[-1].rstrip(CLOSERS)
    if not last:
        return False  # only markup, e.g. a closing code fence
    if last.endswith(DANGLING_PUNCTUATION) or ABBREVIATION_END.search(last) or unclosed_parenthesis(last):
        return True
    if SENTENCE_END.search(last) or last.endswith(EMOJI):
        return False
    if (WORD.findall(last.lower())[-1:] or [""])[0] in DANGLING_WORDS:
        return True
    # List items, headings and table rows need no closing punctuation; nor does a short
    # sign-off on its own line after the answer ("Best regards").
    return not (LIST_ITEM.match(lines[-1]) or lines[-1].startswith(("#", "|", "```"))
                or (len(lines) > 1 and len(last.split()) <= SIGN_OFF_WORDS and last[:1].isupper()))


def unclosed_parenthesis(line: str) -> bool:
    """The line opens a parenthesis it never closes ("the amount (e.g. 20%"): cut inside an aside."""
    return line.count("(") > line.count(")")


_REFUSAL = re.compile(REFUSAL_PATTERN)


def declines(text: str) -> bool:
    """The answer declines or deflects: the built-in refusal check ("I'm sorry, but…", "as an
    AI…"), or it only offers help (`offers_only`)."""
    return _REFUSAL.search(text) is not None or offers_only(text)


def offers_only(text: str) -> bool:
    """Every sentence offers help and none gives it.

    "I'm more than happy to help! But I'd be more than happy to help you with a simple and
    elegant message in your native language." declines as surely as "I'm sorry, but…": as a
    chosen side it teaches a model to answer any request, a dangerous one included, with
    offers and no help.
    """
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if LETTER_OR_DIGIT.search(s)]
    return bool(sentences) and all(OFFER.search(s) for s in sentences)


def has_leftover(text: str) -> bool:
    """Unfilled placeholders, or a sentence repeated right after itself."""
    if PLACEHOLDER.search(text):
        return True
    sentences = [" ".join(s.split()).lower() for s in SENTENCE.findall(text)]
    return any(a == b and len(a.split()) >= 3 for a, b in zip(sentences, sentences[1:]))


def has_broken_markup(text: str) -> bool:
    """A line with an odd number of `**`, or an odd number of code fences (one never closed)."""
    if len(FENCE.findall(text)) % 2:
        return True
    return any(line.count("**") % 2 for line in _outside_code(text).splitlines())


def _outside_code(text: str) -> str:
    """`text` without its fenced code blocks: `**` in code is an operator, not bold."""
    return "".join(part for k, part in enumerate(FENCE.split(text)) if k % 2 == 0)
