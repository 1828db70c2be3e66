"""The prompts a cycle evaluates on, read from the policy's prompt sources (never used for pairs)."""

from __future__ import annotations

from pathlib import Path

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.diagnostics import CompileError
from tenet.compiler.passes.check_heldout import no_heldout_prompts
from tenet.compiler.plan import EvaluateStage, SynthesizeStage, stage_of
from tenet.runtime.evaluate import EvalPrompt


def require_heldout(artifact: CompiledArtifact, root: Path) -> int:
    """The number of held-out prompts the policy's prompt sources give; none is a policy error (E173).

    The compiler counts templates and literal prompts itself (`tenet.compiler.heldout`); this also
    reads the prompt files, whose rows it cannot see.
    """
    from tenet.runtime.synthesize.prompts import build_pool

    synth = stage_of(artifact.plan, SynthesizeStage)
    count = len(build_pool(artifact.ir, root, synth.eval_split, synth.seed).eval)
    if count == 0:
        where = artifact.ir.prompts[0].span if artifact.ir.prompts else None
        raise CompileError([no_heldout_prompts(artifact.ir, where)])
    return count


def heldout_prompts(artifact: CompiledArtifact, root: Path, limit: int | None = None) -> list[EvalPrompt]:
    """The held-out and temptation prompts a cycle of `artifact` measures on (never used for pairs)."""
    from tenet.runtime.evaluate import eval_prompts
    from tenet.runtime.synthesize.prompts import build_pool

    synth, evaluate = stage_of(artifact.plan, SynthesizeStage), stage_of(artifact.plan, EvaluateStage)
    pool = build_pool(artifact.ir, root, synth.eval_split, synth.seed)
    return eval_prompts(artifact.ir, pool.eval, limit or evaluate.prompts, evaluate.tempt_prompts, evaluate.seed)
