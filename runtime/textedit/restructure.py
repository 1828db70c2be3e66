"""Whole-unit edits of a response: cut at a sentence or item boundary, turn lists into bullets
and back, drop the sentences that contain something. Each keeps the text reading as an answer.

These are what `perturb_ops` uses where a character-level edit would leave an artifact (a
sentence cut in half, a `- 1.` hybrid marker, a filler loop): `tenet.runtime.naturalness` is the
standard their output is held to.
"""

from __future__ import annotations

import re
from typing import Callable

from tenet.runtime import naturalness

NUMBERED = re.compile(r"^([ \t]*)\d+[.)][ \t]+")
BULLETED = re.compile(r"^([ \t]*)[-*\u2022][ \t]+")
# An item's headline: a few words (bold or not) before a colon, then the rest of the item.
HEADLINE = re.compile(r"^([^:.!?\n]{1,60}?):(\*\*)?[ \t]+\S")
HEADLINE_WORDS = 6
# A sentence ends at . ! ? (with any closing quote or markup) followed by space and a capital,
# a digit, a quote or markup; abbreviations stay whole whatever follows them ("e.g. this",
# "e.g. 20%", "Dr. Lee": `naturalness.ABBREVIATIONS`).
NOT_AFTER_ABBREVIATION = "".join(rf"(?<!\b{re.escape(a)}\.)" for a in naturalness.ABBREVIATIONS)
SENTENCE_BREAK = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019*_)]))" + NOT_AFTER_ABBREVIATION
                            + r"[ \t]+(?=[A-Z0-9\"'\u201c*(])")


def cut_points(text: str) -> list[int]:
    """Offsets where a prefix of `text` ends a whole line or a whole sentence, ascending."""
    points = set()
    offset = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if body.strip():
            points.add(offset + len(body.rstrip()))
            if not BULLETED.match(body) and not NUMBERED.match(body):
                points.update(offset + m.start() for m in SENTENCE_BREAK.finditer(body))
        offset += len(line)
    return sorted(p for p in points if p > 0)


def shorten(text: str, fits: Callable[[str], bool], min_units: int = 1,
            whole_lists: bool = True) -> str | None:
    """The best shorter version of `text` that `fits` and reads as a whole answer; None if none.

    Candidates are prefixes cut at a sentence or item boundary, of the text itself, of the text
    with each list item condensed to its first sentence, and with each item cut to its headline
    (`headline_items`). A list cut to its first items teaches a model to stop lists early
    (one-bullet answers to list requests), so with `whole_lists` no candidate ends
    inside a list (`stops_a_list`); without it (limits on lines or items, where the list is
    what must get shorter) one may. A candidate that keeps every item of the answer's lists
    wins, since five short items are what a reviewer wants; of those, the longest. Otherwise
    the one with the most sentences or items. A candidate keeps at least `min_units`
    sentences or items (fewer only if the text has fewer): with 2, a cut meant to keep an
    answer within a limit never leaves just an opener like "Thanks for asking!".
    """
    floor = min(min_units, len(cut_points(text)))
    items = list_items(text)
    found = []
    for variant in {text, condense_items(text), headline_items(text)}:
        for point in reversed(cut_points(variant)):
            prefix = strip_trailing_intro(variant[:point].rstrip())
            inside_a_list = whole_lists and stops_a_list(variant, point)
            if (prefix and prefix != text.strip() and len(cut_points(prefix)) >= floor and fits(prefix)
                    and not inside_a_list and naturalness.is_natural(prefix)):
                found.append(prefix)
                break
    if not found:
        return None

    def rank(prefix: str) -> tuple:
        if list_items(prefix) == items:
            return (1, len(prefix), prefix)  # the whole list: the one that says the most
        return (0, len(cut_points(prefix)), len(prefix), prefix)

    return max(found, key=rank)


def stops_a_list(text: str, point: int) -> bool:
    """Cutting `text` at `point` ends it on a list item while the list goes on after it.

    What is left reads as a whole answer only by its markup: a "how to" answer of two of its
    five steps, or of the steps before the generation cap cut the third, teaches a model to stop
    its lists early (guides that end after step one). An item
    may go on in indented lines (sub-points, a wrapped sentence): a cut there stops the list too.
    """
    before = [line for line in text[:point].splitlines() if line.strip()]
    after = [line for line in text[point:].splitlines() if line.strip()]
    goes_on = bool(after) and (is_list_item(after[0]) or naturalness.indent(after[0]) > 0)
    return bool(before) and goes_on and ends_in_item(before)


# A capped list keeps its finished items only if there are at least this many: two or three
# steps before the cap is the "stopped early" list that `stops_a_list` keeps out of pairs.
FINISHED_ITEMS_MIN = 4


def finished_items(text: str, min_items: int = FINISHED_ITEMS_MIN) -> str | None:
    """A capped answer without the list item the cap fell in, if `min_items` finished items precede it.

    A small model answers "What are the steps to…" with a numbered list longer than any
    generation cap, so the cap always falls inside an item and every shorter prefix stops the
    list (`stops_a_list`): none of these answers would be a base, and a policy's list rule
    would get no pairs on steps requests. Dropped with its sub-points, the unfinished item
    leaves a list of the steps the model did finish, which a length limit may then condense
    (`shorten`). None if the text does not end inside a top-level item (its last line is an
    item or an indented line of one) or too few precede it.
    """
    lines = text.rstrip().splitlines()
    top = [k for k, line in enumerate(lines) if line.strip() and not naturalness.indent(line)]
    if not top or not is_list_item(lines[top[-1]]) or not ends_in_item(lines):
        return None
    finished = 0  # items of the same list before the last one, back to its intro
    for k in reversed(top[:-1]):
        if not is_list_item(lines[k]):
            break
        finished += 1
    kept = "\n".join(lines[:top[-1]]).rstrip()
    return kept if finished >= min_items and naturalness.is_natural(kept) else None


def ends_in_item(lines: list[str]) -> bool:
    """The last line is a list item, or an indented line of one ("1. Unplug it." then "   Wait.")."""
    for line in reversed(lines):
        if is_list_item(line):
            return True
        if not naturalness.indent(line):
            return False
    return False


def is_list_item(line: str) -> bool:
    """The line is a bulleted or numbered list item."""
    return bool(BULLETED.match(line) or NUMBERED.match(line))


def list_items(text: str) -> int:
    """How many lines of `text` are list items."""
    return sum(is_list_item(line) for line in text.splitlines())


def condense_items(text: str) -> str:
    """Each list item cut to its first sentence ("1. Unplug it. Then wait an hour." -> "1. Unplug it.")."""
    out = []
    for line in text.splitlines():
        marker = BULLETED.match(line) or NUMBERED.match(line)
        if marker:
            body = line[marker.end():]
            line = line[:marker.end()] + SENTENCE_BREAK.split(body, maxsplit=1)[0].rstrip()
        out.append(line)
    return "\n".join(out)


def headline_items(text: str) -> str:
    """Each list item cut to its headline ("- **Buy in bulk**: It saves…" -> "- **Buy in bulk**").

    A headline is a few words before a colon; items without one keep their first sentence.
    """
    out = []
    for line in condense_items(text).splitlines():
        marker = BULLETED.match(line) or NUMBERED.match(line)
        if marker:
            head = HEADLINE.match(line[marker.end():])
            if head and len(head.group(1).split()) <= HEADLINE_WORDS:
                line = line[:marker.end()] + head.group(1).rstrip() + (head.group(2) or "")
        out.append(line)
    return "\n".join(out)


def strip_trailing_intro(text: str) -> str:
    """Drop a last line that introduces what was cut ("Here are the steps:")."""
    lines = text.splitlines()
    while lines and lines[-1].rstrip().endswith(":"):
        lines.pop()
    return "\n".join(lines).rstrip()


def to_bullets(text: str, lead_in: bool = True) -> str | None:
    """Numbered items become `- item` lines; with none, the sentences of a prose answer do.

    In prose, the sentences up to the last one that ends with a colon stay a lead-in line,
    and with `lead_in`, so does the first sentence when two or more follow it: a trained
    model copies the form it is shown, and one shown every sentence bulleted bulleted its own
    lead-ins too ("- The steps to bake bread are:" above the steps).
    """
    lines = text.splitlines()
    if any(NUMBERED.match(line) for line in lines):
        return "\n".join(NUMBERED.sub(lambda m: m.group(1) + "- ", line) for line in lines)
    sentences = [s.strip() for line in lines for s in SENTENCE_BREAK.split(line.strip()) if s.strip()]
    colons = [k for k, sentence in enumerate(sentences) if sentence.endswith(":")]
    lead = colons[-1] + 1 if colons else int(lead_in and len(sentences) >= 3)
    items = sentences[lead:]
    if len(items) < 2:
        return None
    return "\n".join(([" ".join(sentences[:lead])] if lead else []) + [f"- {s}" for s in items])


def from_bullets(text: str) -> str | None:
    """Bullet items become a numbered list (numbering restarts after any other line)."""
    out, number, changed = [], 0, False
    for line in text.splitlines():
        match = BULLETED.match(line)
        if match:
            number += 1
            changed = True
            out.append(f"{match.group(1)}{number}. {line[match.end():]}")
        else:
            number = 0 if line.strip() else number
            out.append(line)
    return "\n".join(out) if changed else None


def sentences_to_lines(text: str) -> str | None:
    """Put each sentence of the prose on its own line (a paragraph per sentence)."""
    out = []
    for line in text.splitlines():
        if BULLETED.match(line) or NUMBERED.match(line):
            out.append(line)
        else:
            out.extend(s.strip() for s in SENTENCE_BREAK.split(line) if s.strip())
    result = "\n".join(out)
    return result if result != text else None


def list_to_prose(text: str) -> str | None:
    """Each list item becomes a sentence on the line before it ("Steps:\n1. Unplug it" ->
    "Steps: Unplug it."): fewer lines, without a list cut to one item."""
    out: list[str] = []
    for line in text.splitlines():
        if not is_list_item(line):
            out.append(line)
            continue
        sentence = _as_sentence(line, BULLETED if BULLETED.match(line) else NUMBERED).strip()
        if out and out[-1].strip():
            out[-1] = f"{out[-1].rstrip()} {sentence}"
        else:
            out.append(sentence)
    result = "\n".join(out)
    return result if result != text else None


def drop_units(text: str, contains: Callable[[str], bool]) -> str | None:
    """`text` without the sentences and list items for which `contains` holds; None if nothing is left."""
    kept_lines: list[str] = []
    dropped = False  # a whole line went since the last kept one
    for line in text.splitlines():
        kept = _kept_part(line, contains)
        if kept is None:
            dropped = True
        elif kept:
            if dropped and not is_list_item(kept):
                _drop_orphan_intro(kept_lines)
            kept_lines.append(kept)
            dropped = False
        else:
            kept_lines.append("")
    result = re.sub(r"\n{3,}", "\n\n", "\n".join(unlist_lone_bullet(renumber(kept_lines)))).strip()
    result = strip_trailing_intro(result)
    return result or None


def _kept_part(line: str, contains: Callable[[str], bool]) -> str | None:
    """The line without its units for which `contains` holds; None if none is left, "" for a blank line."""
    if not line.strip():
        return ""
    if is_list_item(line):
        return None if contains(line) else line
    kept = [s.strip() for s in SENTENCE_BREAK.split(line) if s.strip() and not contains(s)]
    return " ".join(kept) if kept else None


def _drop_orphan_intro(lines: list[str]) -> None:
    """Drop the sentence that introduced what was just dropped ("I can offer a general guideline:"),
    when prose follows it instead: as a chosen side it teaches a model to say it and then nothing."""
    last = max((k for k, line in enumerate(lines) if line.strip()), default=None)
    if last is None or is_list_item(lines[last]) or not lines[last].rstrip().endswith(":"):
        return
    sentences = [s.strip() for s in SENTENCE_BREAK.split(lines[last]) if s.strip()]
    lines[last] = " ".join(sentences[:-1])
    if not lines[last]:
        del lines[last]


def renumber(lines: list[str]) -> list[str]:
    """Number each run of numbered items 1, 2, 3, … again (after items were dropped); a run
    left with one item becomes a plain sentence, since a list of one reads as a cut-off list."""
    out, run = [], []

    def close() -> None:
        if len(run) == 1:
            out[run[0]] = _as_sentence(out[run[0]], NUMBERED)
        run.clear()

    for line in lines:
        match = NUMBERED.match(line)
        if match:
            run.append(len(out))
            out.append(f"{match.group(1)}{len(run)}. {line[match.end():]}")
            continue
        if line.strip() and not BULLETED.match(line):
            close()
        out.append(line)
    close()
    return out


def unlist_lone_bullet(lines: list[str]) -> list[str]:
    """The one bullet left in an answer without a numbered list becomes a plain sentence: a
    list of one reads as cut off (`naturalness.has_lone_item`)."""
    bullets = [k for k, line in enumerate(lines) if BULLETED.match(line)]
    if len(bullets) != 1 or any(NUMBERED.match(line) for line in lines):
        return lines
    k = bullets[0]
    return lines[:k] + [_as_sentence(lines[k], BULLETED)] + lines[k + 1:]


def _as_sentence(line: str, marker: re.Pattern) -> str:
    """A list item without its marker; an item needs no full stop, a sentence does, or it reads as cut off."""
    line = marker.sub(lambda m: m.group(1), line).rstrip()
    return line if re.search(r"[.!?:)\"']$", line) else line + "."
