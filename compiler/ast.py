"""The policy AST: frozen pydantic nodes built by `parse`, each carrying its source span."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from tenet.compiler.diagnostics import Span

# The one list of severities, most severe first: precedence, weights, gates and compliance
# reports all follow this order (the grammar's `severity` rule spells the same words).
SEVERITIES = ("critical", "high", "medium", "low")

Subject = Literal["prompt", "response", "conversation", "any_prompt", "any_response"]
SeverityLevel = Literal[SEVERITIES]
VerdictKind = Literal["require", "forbid", "prefer", "avoid"]
Comparison = Literal[">=", "<=", ">", "<"]
CountOp = Literal["at_most", "at_least", "exactly", "more_than", "fewer_than", "between"]
CountUnit = Literal["words", "sentences", "lines", "bullets", "characters"]
PiiKind = Literal["email", "link", "phone_number"]


class Node(BaseModel):
    """Base of every AST node: immutable, strict, positioned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    span: Span


class Name(Node):
    """An identifier as written, e.g. a rule id or a reference to a `let`."""

    kind: Literal["name"] = "name"
    text: str


# --- values ------------------------------------------------------------------


class WordsLit(Node):
    """A keyword set: whole words or phrases, case-insensitive unless `exact`."""

    kind: Literal["words"] = "words"
    terms: tuple[str, ...]
    exact: bool = False


class ExemplarsLit(Node):
    """Exemplar texts for semantic similarity."""

    kind: Literal["exemplars"] = "exemplars"
    texts: tuple[str, ...]


class RegexLit(Node):
    """A regular expression literal `/pattern/flags`."""

    kind: Literal["regex"] = "regex"
    pattern: str
    flags: str = ""


class StringTerm(Node):
    """A single quoted phrase used as a keyword set of one."""

    kind: Literal["string_term"] = "string_term"
    text: str


Value = Annotated[Union[WordsLit, ExemplarsLit, RegexLit], Field(discriminator="kind")]
RegexRef = Annotated[Union[RegexLit, Name], Field(discriminator="kind")]
TermRef = Annotated[Union[WordsLit, StringTerm, Name], Field(discriminator="kind")]
ExemplarRef = Annotated[Union[ExemplarsLit, Name], Field(discriminator="kind")]


# --- scores (model-backed, compared against a threshold) ----------------------


class Sentiment(Node):
    """Sentiment of a text in [-1, 1] (VADER compound by default)."""

    kind: Literal["sentiment"] = "sentiment"
    subject: Subject


class Similarity(Node):
    """Maximum cosine similarity of a text to exemplar texts."""

    kind: Literal["similarity"] = "similarity"
    subject: Subject
    exemplars: ExemplarRef


class Classifier(Node):
    """Probability of `label` from a text classifier at a model path."""

    kind: Literal["classifier"] = "classifier"
    subject: Subject
    model: str
    label: str


class Judge(Node):
    """An LLM judge's score in [0, 1] for a rubric; no parsable verdict counts as 0."""

    kind: Literal["judge"] = "judge"
    subject: Subject
    rubric: str
    model: str | None = None


Score = Annotated[Union[Sentiment, Similarity, Classifier, Judge], Field(discriminator="kind")]


# --- predicates ---------------------------------------------------------------


class Matches(Node):
    """`S matches /re/`: the regex finds a match in the text."""

    kind: Literal["matches"] = "matches"
    subject: Subject
    regex: RegexRef


class Mentions(Node):
    """`S mentions terms`: any term occurs as a whole word or phrase."""

    kind: Literal["mentions"] = "mentions"
    subject: Subject
    terms: TermRef


class TextOp(Node):
    """`contains`, `starts with` or `ends with` a literal string (case-sensitive)."""

    kind: Literal["text_op"] = "text_op"
    subject: Subject
    op: Literal["contains", "starts_with", "ends_with"]
    text: str


class Count(Node):
    """`S has at most N words` and the other count forms."""

    kind: Literal["count"] = "count"
    subject: Subject
    op: CountOp
    value: float
    high: float | None = None
    unit: str
    unit_span: Span


class IsJson(Node):
    """`S is json`: the whole text parses as JSON."""

    kind: Literal["is_json"] = "is_json"
    subject: Subject


class Pii(Node):
    """`S contains email|link|phone number`."""

    kind: Literal["pii"] = "pii"
    subject: Subject
    pii: PiiKind


class Refusal(Node):
    """`S is a refusal`: the text declines the request."""

    kind: Literal["refusal"] = "refusal"
    subject: Subject


class ScoreCmp(Node):
    """A model-backed score compared against a threshold."""

    kind: Literal["score_cmp"] = "score_cmp"
    score: Score
    op: Comparison
    threshold: float


class ScoreBare(Node):
    """A model-backed score with no threshold; always rejected by the checker."""

    kind: Literal["score_bare"] = "score_bare"
    score: Score


class And(Node):
    """Both sides hold."""

    kind: Literal["and"] = "and"
    left: "Pred"
    right: "Pred"


class Or(Node):
    """Either side holds."""

    kind: Literal["or"] = "or"
    left: "Pred"
    right: "Pred"


class Not(Node):
    """The operand does not hold."""

    kind: Literal["not"] = "not"
    operand: "Pred"


Pred = Annotated[
    Union[
        Matches, Mentions, TextOp, Count, IsJson, Pii, Refusal, ScoreCmp, ScoreBare, And, Or, Not
    ],
    Field(discriminator="kind"),
]

# --- rules ----------------------------------------------------------------------


class Verdict(Node):
    """`require|forbid|prefer|avoid PRED`."""

    kind: Literal["verdict"] = "verdict"
    verdict: VerdictKind
    pred: Pred


class ExampleItem(Node):
    """One line of an example block: a role and its text."""

    kind: Literal["example_item"] = "example_item"
    role: Literal["prompt", "good", "bad", "user", "assistant"]
    text: str


class Example(Node):
    """An `example:` block: optional context turns, a prompt, good and bad responses."""

    kind: Literal["example"] = "example"
    items: tuple[ExampleItem, ...]


class Rule(Node):
    """A rule as written; clause lists keep duplicates so the checker can report them."""

    kind: Literal["rule"] = "rule"
    id: Name
    severity: SeverityLevel
    override: bool = False
    description: str | None = None
    whens: tuple[Pred, ...] = ()
    unlesses: tuple[Pred, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    becauses: tuple[str, ...] = ()
    tags: tuple[Name, ...] = ()
    examples: tuple[Example, ...] = ()


# --- top-level items ----------------------------------------------------------


class Import(Node):
    """`import "path"`: bring another policy's rules and names in."""

    kind: Literal["import"] = "import"
    path: str


class Extends(Node):
    """`extends "path"`: inherit everything from a parent policy."""

    kind: Literal["extends"] = "extends"
    path: str


class Taxonomy(Node):
    """`taxonomy a, b`: declare tags usable besides the built-in S1–S14."""

    kind: Literal["taxonomy"] = "taxonomy"
    tags: tuple[Name, ...]


class Let(Node):
    """`let name = value`."""

    kind: Literal["let"] = "let"
    name: Name
    value: Value


class Slot(Node):
    """A template slot and its fillers."""

    kind: Literal["slot"] = "slot"
    name: Name
    values: tuple[str, ...]


class Template(Node):
    """A prompt template with `{slot}` placeholders."""

    kind: Literal["template"] = "template"
    text: str
    slots: tuple[Slot, ...] = ()


class PromptFile(Node):
    """A JSONL / CSV / Parquet file of prompts inside the policy root."""

    kind: Literal["prompt_file"] = "prompt_file"
    path: str
    column: str = "prompt"


class LiteralPrompt(Node):
    """A single prompt written inline."""

    kind: Literal["literal_prompt"] = "literal_prompt"
    text: str


PromptSource = Annotated[Union[Template, PromptFile, LiteralPrompt], Field(discriminator="kind")]


class Prompts(Node):
    """A `prompts:` block."""

    kind: Literal["prompts"] = "prompts"
    sources: tuple[PromptSource, ...]


class Setting(Node):
    """`key = value` inside a `training:` block."""

    kind: Literal["setting"] = "setting"
    key: Name
    value: str | float
    value_kind: Literal["string", "number", "name"]


class Gate(Node):
    """`gate TARGET CMP NUMBER` inside a `training:` block."""

    kind: Literal["gate"] = "gate"
    target: str
    rule: Name | None = None
    op: Comparison
    threshold: float


class Training(Node):
    """A `training:` block."""

    kind: Literal["training"] = "training"
    settings: tuple[Setting, ...] = ()
    gates: tuple[Gate, ...] = ()


Item = Annotated[
    Union[Import, Extends, Taxonomy, Let, Rule, Prompts, Training], Field(discriminator="kind")
]


class PolicyAst(Node):
    """One parsed `.policy` file."""

    kind: Literal["policy"] = "policy"
    path: str
    dsl_version: float
    policy_id: Name
    version: str
    description: str | None = None
    items: tuple[Item, ...] = ()


for _model in (And, Or, Not):
    _model.model_rebuild()
