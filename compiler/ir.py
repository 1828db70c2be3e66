"""The IR: resolved, executable labeling rules and the data specs derived from a policy.

Names are resolved (keyword sets and regexes inlined), every node keeps its source span,
and each rule carries fingerprints of its semantic content separate from its metadata.
The runtime consumes only these models (through the compiled artifact).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from tenet.compiler.ast import SEVERITIES, Comparison, CountOp, SeverityLevel, Subject, VerdictKind
from tenet.compiler.diagnostics import Span
from tenet.compiler.settings import DEVICES, GATE_TARGETS, GENERATION_ENGINES, METHODS, PRECISIONS

GOOD, BAD, ABSTAIN = 1, 0, -1
SEVERITY_WEIGHT: dict[str, float] = dict(zip(SEVERITIES, (8.0, 4.0, 2.0, 1.0), strict=True))
SEVERITY_RANK: dict[str, int] = {severity: rank for rank, severity in enumerate(SEVERITIES)}
SOFT_VERDICTS = ("prefer", "avoid")


class IrNode(BaseModel):
    """Base of IR nodes: frozen, strict, positioned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    span: Span


class RegexPred(IrNode):
    """Regex search; `engine` says whether RE2 can run it or Python `re` must."""

    kind: Literal["regex"] = "regex"
    subject: Subject
    pattern: str
    flags: str = ""
    engine: Literal["re2", "python"] = "re2"


class KeywordsPred(IrNode):
    """Any of `terms` as a whole word or phrase."""

    kind: Literal["keywords"] = "keywords"
    subject: Subject
    terms: tuple[str, ...]
    exact: bool = False


class TextPred(IrNode):
    """Literal containment, prefix or suffix (case-sensitive, outer whitespace ignored)."""

    kind: Literal["text"] = "text"
    subject: Subject
    op: Literal["contains", "starts_with", "ends_with"]
    text: str


class CountPred(IrNode):
    """A count of words / sentences / lines / bullets / characters against bounds."""

    kind: Literal["count"] = "count"
    subject: Subject
    unit: Literal["words", "sentences", "lines", "bullets", "characters"]
    op: CountOp
    value: int
    high: int | None = None


class JsonPred(IrNode):
    """The whole text is a JSON object or array."""

    kind: Literal["json"] = "json"
    subject: Subject


class PiiPred(IrNode):
    """The text contains an email address, a link or a phone number."""

    kind: Literal["pii"] = "pii"
    subject: Subject
    pii: Literal["email", "link", "phone_number"]


class RefusalPred(IrNode):
    """The text declines the request."""

    kind: Literal["refusal"] = "refusal"
    subject: Subject


class ScorePred(IrNode):
    """A model-backed score compared with a threshold; evaluated only at run time."""

    kind: Literal["score"] = "score"
    subject: Subject
    fn: Literal["sentiment", "similarity", "classifier", "judge"]
    op: Comparison
    threshold: float
    exemplars: tuple[str, ...] = ()
    model: str | None = None
    label: str | None = None
    rubric: str | None = None


class AndPred(IrNode):
    """Both hold."""

    kind: Literal["and"] = "and"
    left: "PredIR"
    right: "PredIR"


class OrPred(IrNode):
    """Either holds."""

    kind: Literal["or"] = "or"
    left: "PredIR"
    right: "PredIR"


class NotPred(IrNode):
    """The operand does not hold."""

    kind: Literal["not"] = "not"
    operand: "PredIR"


PredIR = Annotated[
    Union[RegexPred, KeywordsPred, TextPred, CountPred, JsonPred, PiiPred, RefusalPred,
          ScorePred, AndPred, OrPred, NotPred],
    Field(discriminator="kind"),
]
TEXT_KINDS = ("regex", "keywords", "text", "count", "json", "pii", "refusal")

for _model in (AndPred, OrPred, NotPred):
    _model.model_rebuild()


class ExampleIR(BaseModel):
    """A rule's worked example: context turns, a prompt, good and bad responses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    span: Span
    context: tuple[tuple[Literal["user", "assistant"], str], ...] = ()
    prompt: str
    good: tuple[str, ...] = ()
    bad: tuple[str, ...] = ()


class Fingerprint(BaseModel):
    """Content hashes of a rule: what it checks, its examples, and its metadata."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    semantic: str
    examples: str
    metadata: str


class RuleIR(BaseModel):
    """An executable labeling rule (Snorkel contract: votes GOOD / BAD / ABSTAIN)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    module: str
    span: Span
    severity: SeverityLevel
    verdict: VerdictKind
    check: PredIR
    when: PredIR | None = None
    unless: tuple[PredIR, ...] = ()
    description: str | None = None
    because: str | None = None
    tags: tuple[str, ...] = ()
    examples: tuple[ExampleIR, ...] = ()
    authority: int
    precedence: int
    shadowed_by: tuple[str, ...] = ()
    runtime_only: bool = False
    fingerprint: Fingerprint

    @property
    def soft(self) -> bool:
        """Soft rules abstain where a hard rule would vote the other way."""
        return self.verdict in SOFT_VERDICTS

    @property
    def weight(self) -> float:
        """Severity weight in aggregation; soft rules count half."""
        return SEVERITY_WEIGHT[self.severity] * (0.5 if self.soft else 1.0)


class TemplateIR(BaseModel):
    """A prompt template and its slot fillers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["template"] = "template"
    span: Span
    text: str
    slots: tuple[tuple[str, tuple[str, ...]], ...] = ()


class PromptFileIR(BaseModel):
    """A prompt file, by path relative to the policy root, and its column."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["file"] = "file"
    span: Span
    path: str
    column: str = "prompt"


class LiteralPromptIR(BaseModel):
    """A single prompt written in the policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["literal"] = "literal"
    span: Span
    text: str


PromptSourceIR = Annotated[Union[TemplateIR, PromptFileIR, LiteralPromptIR],
                           Field(discriminator="kind")]


class PairSpec(BaseModel):
    """What pair synthesis should produce for one rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    severity: SeverityLevel
    budget: int
    strategies: tuple[str, ...]
    seeds: int


class GateIR(BaseModel):
    """A promotion gate: a compliance target compared with a threshold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: Literal[GATE_TARGETS]
    rule: str | None = None
    op: Comparison
    threshold: float
    default: bool = False


# A `trainer.*` / `lora.*` value, converted to the field's type (a list is a tuple).
OverrideValue = Union[bool, int, float, str, tuple[Union[int, float, str], ...], None]


class TrainingIR(BaseModel):
    """Training settings with every default filled in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_model: str
    revision: str
    method: Literal[METHODS]
    learning_rate: float
    epochs: float
    max_steps: int
    batch_size: int
    grad_accum: int
    beta: float
    sft_weight: float
    sft_epochs: float
    sft_rows: int
    lora: bool
    lora_r: int
    lora_alpha: int
    max_length: int
    precision: Literal[PRECISIONS]
    device: Literal[DEVICES]
    generation: Literal[GENERATION_ENGINES] = "local"  # older artifacts generated locally
    seed: int
    pairs: int
    eval_split: float
    eval_prompts: int
    tempt_prompts: int = 0  # older artifacts wrote none
    max_new_tokens: int
    eval_max_new_tokens: int
    length_ratio_max: float
    artifact_pairs: float = 0.0  # older artifacts made none
    scope_pairs: float = 0.0  # older artifacts made none
    strategies: tuple[str, ...]
    save_steps: int
    replay: float
    rounds: int = 1  # older artifacts trained one round
    gates: tuple[GateIR, ...]
    # (`trainer.<field>` or `lora.<field>`, value) in policy order; applied last by the runtime.
    overrides: tuple[tuple[str, OverrideValue], ...] = ()


class PolicyIR(BaseModel):
    """Everything the runtime needs from a policy, minus the plan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_id: str
    version: str
    description: str | None
    rules: tuple[RuleIR, ...]
    prompts: tuple[PromptSourceIR, ...]
    pair_specs: tuple[PairSpec, ...]
    training: TrainingIR
