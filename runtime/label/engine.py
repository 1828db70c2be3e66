"""Label batches with compiled rules: the vote matrix, aggregate verdict and provenance.

Votes follow the Snorkel contract (1 GOOD, 0 BAD, -1 ABSTAIN). A vote that depends on a
model score with no verdict (a judge that gave no parsable answer) fails closed: BAD.
Shadowed rules abstain where a higher-precedence rule on the same condition voted. The
row verdict is BAD when any rule votes BAD (a violation is never outvoted), ABSTAIN when no
rule votes, else GOOD; the severity-weighted score and the reported violation (the BAD rule
of highest precedence) say how bad and why. `tenet.compiler.semantics.row_verdict` is the reference.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tenet.compiler import ir, semantics
from tenet.compiler.walk import atoms
from tenet.runtime.label.kernels import Columns, ScoreBatch, evaluate, spans_for_rows

SPAN_TYPE = pa.struct([("start", pa.int32()), ("end", pa.int32())])
# The code that decides a vote beyond the rule itself: built-in patterns (what "is a refusal"
# matches) and the engines that run them. Cached votes are keyed by its digest too, so a new
# built-in phrase is not read from votes the old pattern cast.
VOTE_CODE = ("compiler/semantics.py", "compiler/predicates", "runtime/predicates", "runtime/label")
_ROOT = Path(semantics.__file__).resolve().parents[1]  # where `compiler` and `runtime` are, installed or not


@functools.cache
def vote_code_digest() -> str:
    """The sha256 of the source files in `VOTE_CODE`, in path order."""
    digest = hashlib.sha256()
    for path in vote_code_files():
        digest.update(path.relative_to(_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def vote_code_files() -> list[Path]:
    """The source files of `VOTE_CODE`, in path order."""
    files = []
    for part in VOTE_CODE:
        root = _ROOT / part
        files += sorted(root.rglob("*.py")) if root.is_dir() else [root]
    return files


# Output columns are named for SQL engines and Spark: lowercase ASCII letters, digits and
# underscores, never a leading digit (the prefix sees to that), so no query needs quoting.
VOTE_PREFIX = "vote__"
SPAN_PREFIX = "span__"
SAFE_COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")
_UNSAFE_RUN = re.compile(r"[^a-z0-9]+")


def safe_name(rule_id: str) -> str:
    """A rule id in lowercase ASCII letters, digits and single underscores (`No-Emails` -> `no_emails`)."""
    folded = unicodedata.normalize("NFKD", rule_id).encode("ascii", "ignore").decode("ascii")
    return _UNSAFE_RUN.sub("_", folded.lower()).strip("_") or "rule"


def column_names(rule_ids: Sequence[str]) -> dict[str, str]:
    """Each rule id's safe name, unique among `rule_ids`, in the order given.

    Ids that are already safe keep their own name; the others follow in id order, and one whose
    name is taken gets the first free `_2`, `_3`, ... suffix. The result depends on the set of
    ids only, not on their order (`a_b` -> `a_b`, then `a-b` -> `a_b_2`).
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for rule_id in sorted(set(rule_ids), key=lambda r: (safe_name(r) != r, r)):
        base = name = safe_name(rule_id)
        suffix = 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        names[rule_id] = name
    return {rule_id: names[rule_id] for rule_id in rule_ids}


@dataclass(frozen=True)
class ColumnNames:
    """The vote and span columns of a set of rules (`vote__no_emails`, `span__no_emails`)."""

    safe: dict[str, str]  # rule id -> its unique safe name

    @classmethod
    def of(cls, rule_ids: Sequence[str]) -> "ColumnNames":
        """The columns of the rules `rule_ids`, which are labeled together."""
        return cls(column_names(rule_ids))

    def vote(self, rule_id: str) -> str:
        """The column holding a rule's votes."""
        return VOTE_PREFIX + self.safe[rule_id]

    def span(self, rule_id: str) -> str:
        """The column holding where a rule's condition matched (char offsets)."""
        return SPAN_PREFIX + self.safe[rule_id]

    def mapping(self, spans: bool = True) -> dict[str, str]:
        """Each rule column's name -> its rule id: vote columns, then span columns when written."""
        columns = {self.vote(rule_id): rule_id for rule_id in self.safe}
        if spans:
            columns.update({self.span(rule_id): rule_id for rule_id in self.safe})
        return columns


def vote_column(rule_id: str, rule_ids: Sequence[str]) -> str:
    """The column holding the votes of `rule_id` when the rules `rule_ids` are labeled together."""
    return ColumnNames.of(rule_ids).vote(rule_id)


def span_column(rule_id: str, rule_ids: Sequence[str]) -> str:
    """The column holding where `rule_id` matched when the rules `rule_ids` are labeled together."""
    return ColumnNames.of(rule_ids).span(rule_id)


class Labeler:
    """Applies a policy's rules to normalized batches."""

    def __init__(self, rules: Sequence[ir.RuleIR], score: ScoreBatch | None = None, spans: bool = True,
                 cache=None):
        """Args:
            rules: The rules to apply, in column order.
            score: Batched model scores for model-backed predicates.
            spans: Also find where each condition matched (`label` only).
            cache: A `tenet.runtime.cache.Cache`: a text-only rule's votes on a batch are stored by the
                rule's semantic fingerprint, the batch's content and the vote code's digest
                (`vote_code_digest`), so an unchanged rule is not labeled again in a later cycle.
                Used when `spans` is off (spans need the search).
        """
        self.rules = tuple(rules)
        self.score = score
        self.spans = spans
        self.cache = cache if not spans else None
        self._ids = [r.id for r in self.rules]
        self.columns = ColumnNames.of(self._ids)
        self.timeouts: dict[str, int] = {}  # rule id -> rows left unlabeled by a regex time-out
        self._regex_stuck: dict[tuple[str, int], int] = {}  # fallback pattern -> rows it got stuck on

    def votes(self, table: pa.Table) -> np.ndarray:
        """Return the vote matrix (rows × rules, int8) for one normalized batch."""
        return self._votes(Columns(table, self._regex_stuck))

    def _votes(self, cols: Columns) -> np.ndarray:
        table = cols.table
        bad = pc.is_valid(table.column("bad")).to_numpy(zero_copy_only=False)
        matrix = np.empty((table.num_rows, len(self.rules)), dtype=np.int8)
        digest = _table_digest(table) if self.cache is not None else None
        for j, rule in enumerate(self.rules):
            key = None
            if digest is not None and not rule.runtime_only:  # model scores may change between cycles
                from tenet.runtime.cache import key_of

                key = key_of("votes", vote_code_digest(), rule.fingerprint.semantic, digest)
                cached = self.cache.get("votes", key)
                if cached is not None:
                    matrix[:, j] = cached
                    continue
            cols.timed_out.clear()
            matrix[:, j] = self._rule_votes(rule, cols)
            if key is not None and not cols.timed_out:
                self.cache.put("votes", key, matrix[:, j].tolist())
            if cols.timed_out:
                # A search that overran its time bound gives no verdict: abstain and report.
                stuck = np.logical_or.reduce(list(cols.timed_out.values())) & ~bad
                matrix[stuck, j] = ir.ABSTAIN
                self.timeouts[rule.id] = self.timeouts.get(rule.id, 0) + int(stuck.sum())
        matrix[bad, :] = ir.ABSTAIN
        index = {rid: j for j, rid in enumerate(self._ids)}
        for j, rule in enumerate(self.rules):
            for winner in rule.shadowed_by:
                if winner in index:  # a subset of the rules may be labeled on its own
                    matrix[matrix[:, index[winner]] != ir.ABSTAIN, j] = ir.ABSTAIN
        return matrix

    def label(self, table: pa.Table) -> tuple[pa.Table, np.ndarray]:
        """Label one batch: input columns, one vote (and span) column per rule, verdict, score.

        Returns:
            The labeled table and its vote matrix (rows × rules).
        """
        cols = Columns(table, self._regex_stuck)  # shared with the span search, which reuses where atoms held
        matrix = self._votes(cols)
        verdict, score = aggregate(matrix, self.rules)
        reported = reported_violations(matrix, self.rules)
        columns: dict[str, pa.Array] = {name: table.column(name) for name in table.column_names}
        for j, rule in enumerate(self.rules):
            columns[self.columns.vote(rule.id)] = pa.array(matrix[:, j], pa.int8())
            if self.spans:
                columns[self.columns.span(rule.id)] = self._spans(rule, cols, matrix[:, j])
        columns["verdict"] = pa.array(verdict, pa.int8())
        columns["score"] = pa.array(score, pa.float64(), mask=np.isnan(score))
        reasons = [self._ids[j] if j >= 0 else None for j in reported.tolist()]
        columns["reason"] = pa.array(reasons, pa.string())
        return pa.table(columns), matrix

    def scope(self, table: pa.Table) -> np.ndarray:
        """Where each rule applies (rows × rules, bool): its scope holds or is unknown.

        A bad row (an empty answer, say) is labeled by no rule, so no rule applies to it.
        """
        cols = Columns(table, self._regex_stuck)
        bad = pc.is_valid(table.column("bad")).to_numpy(zero_copy_only=False)
        applies = np.empty((table.num_rows, len(self.rules)), dtype=bool)
        for j, rule in enumerate(self.rules):
            applies[:, j] = pc.fill_null(self._scope(rule, cols), True).to_numpy(zero_copy_only=False)
        applies[bad, :] = False
        return applies

    def _scope(self, rule: ir.RuleIR, cols: Columns) -> pa.Array:
        """Kleene: the rule's `when` holds and none of its `unless` does (null: unknown)."""
        scope = pa.array(np.ones(cols.table.num_rows, dtype=bool))
        if rule.when is not None:
            scope = evaluate(rule.when, cols, self.score)
        for carve_out in rule.unless:
            scope = pc.and_kleene(scope, pc.invert(evaluate(carve_out, cols, self.score)))
        return scope

    def _rule_votes(self, rule: ir.RuleIR, cols: Columns) -> np.ndarray:
        scope = self._scope(rule, cols)
        holds = evaluate(rule.check, cols, self.score)
        out_of_scope = pc.fill_null(pc.invert(scope), False).to_numpy(zero_copy_only=False)
        unknown = pc.or_(pc.is_null(scope), pc.is_null(holds)).to_numpy(zero_copy_only=False)
        h = pc.fill_null(holds, False).to_numpy(zero_copy_only=False)
        votes = _verdict_votes(rule.verdict, h)
        votes[unknown] = ir.BAD  # fail closed: no verdict from a judge counts as a violation
        votes[out_of_scope] = ir.ABSTAIN
        return votes

    def _spans(self, rule: ir.RuleIR, cols: Columns, votes: np.ndarray) -> pa.StructArray:
        """The first place a text atom of the rule's condition matched, on rows that voted (null elsewhere)."""
        starts = np.full(len(votes), -1, dtype=np.int32)
        ends = np.full(len(votes), -1, dtype=np.int32)
        todo = votes != ir.ABSTAIN
        for atom in atoms(rule.check):
            hits = cols.atom_hits.get(id(atom))
            if hits is None or not semantics.locates(atom):
                continue
            rows = np.flatnonzero(todo & hits)
            starts[rows], ends[rows] = spans_for_rows(atom, cols, rows)
            todo[rows] = False
        missing = starts < 0
        return pa.StructArray.from_arrays([pa.array(starts), pa.array(ends)], fields=list(SPAN_TYPE),
                                          mask=pa.array(missing))


def _verdict_votes(verdict: str, holds: np.ndarray) -> np.ndarray:
    # The same table as the reference `semantics.verdict_vote`, applied to a whole column.
    when_holds, otherwise = semantics.VERDICT_VOTES[verdict]
    return np.where(holds, np.int8(when_holds), np.int8(otherwise))


def aggregate(matrix: np.ndarray, rules: Sequence[ir.RuleIR]) -> tuple[np.ndarray, np.ndarray]:
    """Row verdicts (BAD if any rule voted BAD, -1 if none voted, else GOOD) and weighted scores (NaN: none)."""
    weights = np.array([r.weight for r in rules], dtype=np.float64)
    voted = matrix != ir.ABSTAIN
    total = voted.astype(np.float64) @ weights
    good = (matrix == ir.GOOD).astype(np.float64) @ weights
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(total > 0, good / total, np.nan)
    broken = (matrix == ir.BAD).any(axis=1)
    verdict = np.where(broken, ir.BAD, np.where(voted.any(axis=1), ir.GOOD, ir.ABSTAIN))
    return verdict.astype(np.int8), score


def reported_violations(matrix: np.ndarray, rules: Sequence[ir.RuleIR]) -> np.ndarray:
    """Per row, the column of the BAD-voting rule of highest precedence (-1 when none voted BAD)."""
    if matrix.shape[1] == 0:
        return np.full(matrix.shape[0], -1, dtype=np.int64)
    order = np.argsort([r.precedence for r in rules], kind="stable")  # highest precedence first
    bad = matrix[:, order] == ir.BAD
    first = order[bad.argmax(axis=1)]
    return np.where(bad.any(axis=1), first, -1)


def rules_metadata(rules: Sequence[ir.RuleIR], policy_hash: str, spans: bool = True) -> dict[bytes, bytes]:
    """Provenance stored in the output's schema: each column's rule, fingerprint and source.

    `columns` maps every rule column written (span columns only with `spans`) to its rule id.
    """
    names = ColumnNames.of([r.id for r in rules])
    payload = {
        "policy_hash": policy_hash,
        "columns": names.mapping(spans),
        "rules": [{"id": r.id, "column": names.vote(r.id), "span_column": names.span(r.id) if spans else None,
                   "fingerprint": r.fingerprint.semantic, "severity": r.severity, "verdict": r.verdict,
                   "source": f"{r.span.file}:{r.span.line}"} for r in rules],
    }
    return {b"tenet.provenance": json.dumps(payload, sort_keys=True).encode()}


def _table_digest(table: pa.Table) -> str:
    """sha256 of a batch's content (Arrow IPC bytes), the input half of a vote-cache key."""
    import hashlib

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
