# %% [markdown]
# # tenet from Python
#
# The `tenet` command is a thin layer over this API: load a policy, check it, read its
# training plan, explain a verdict, label a DataFrame, make training pairs, then train and
# audit. Run it from the repository root, cell by cell in an editor that reads `# %%` cells
# (VS Code, PyCharm, Jupytext), or as a script:
#
#     .venv/bin/python examples/notebook.py
#
# Labeling needs `pip install "tenet[label]"`, pairs and training `"tenet[label,train]"`.
# Training takes a few minutes on a laptop CPU, so the last cell runs only with
# `TENET_NOTEBOOK_TRAIN=1`. docs/api.md describes every call.

# %%
import os

import pandas as pd

import tenet

policy = tenet.load("policies/acme-support.policy")
print(policy)

# %% [markdown]
# ## Check
#
# `tenet.load` raises `CompileError` (its message is the rendered diagnostics) when the
# policy has errors; what a loaded policy still has to say are warnings and notes.

# %%
check = policy.check()
print(f"ok: {check.ok}, {len(check.warnings)} warnings, {len(check.notes)} notes")
print(check.render() or "(no diagnostics)")

# %% [markdown]
# ## The training plan
#
# The typed stages `tenet compile-and-train` runs, in order (frozen pydantic models;
# `describe_stage` is the line `tenet plan` prints for each).

# %%
from tenet.compiler.plan import TrainStage, describe_stage

plan = policy.plan()
for stage in plan.stages:
    print(describe_stage(stage))
train_stage = next(stage for stage in plan.stages if isinstance(stage, TrainStage))
print(train_stage.method, train_stage.base_model, train_stage.settings.learning_rate)

# %% [markdown]
# ## Why is this answer BAD?

# %%
explanation = policy.explain(prompt="List the steps to return a blender.",
                             response="Just ship it back, or try Globex, they are cheaper.")
print(explanation.verdict, "-", explanation.reason)
for vote in explanation.votes:
    if vote.vote != "ABSTAIN":
        print(f"  {vote.vote:<4} {vote.rule:<28} {vote.reason}  ({vote.source})")

# %% [markdown]
# ## Label a DataFrame
#
# `label` hands back the kind it was given: a DataFrame here, a `datasets.Dataset` for a
# Dataset, a pyarrow Table for a Table or a file path. There is one vote column per rule
# (1 GOOD, 0 BAD, -1 ABSTAIN), the verdict and its score.

# %%
chats = pd.DataFrame({
    "prompt": ["Where is my order?", "Can I return a kettle?", "Which blender should I buy?"],
    "response": ["Thanks for reaching out! Your order ships tomorrow.",
                 "Sure, but honestly Globex has better kettles.",
                 "The Acme Pro 500 suits most kitchens; it is in stock now."],
})
labeled = policy.label(chats, spans=False)
print(labeled[["prompt", "verdict", "score"]])

# %% [markdown]
# ## Training pairs
#
# Verified (prompt, chosen, rejected) pairs in the conversational form TRL's DPO trainer
# reads. `examples` and `perturb` need no model; `sample` asks the base model.

# %%
pairs = policy.pairs(strategies=["examples", "perturb"])
print(pairs)
print(pairs[0]["chosen"], "\n  over\n", pairs[0]["rejected"])

# %% [markdown]
# ## Train and audit
#
# One update cycle with the embedded SmolLM2-135M on CPU, recorded in MLflow under
# `work/notebook`, then read back.

# %%
if os.environ.get("TENET_NOTEBOOK_TRAIN"):
    cycle = tenet.train("examples/demo/acme-chat.policy", work_dir="work/notebook")
    print(f"model version {cycle.model_version}: {'promoted' if cycle.promoted else 'not promoted'}")
    for gate in cycle.gates:
        print(f"  gate {'PASS' if gate.passed else 'FAIL'}  {gate.detail}")
    for recorded in tenet.audit("acme-chat", work_dir="work/notebook").cycles():
        print(recorded.policy_version, recorded.run_id[:8], recorded.model_version, recorded.gates)
