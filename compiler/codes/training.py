"""The pages of the codes about examples, training settings and prompts (E140–W176)."""

from __future__ import annotations

from tenet.compiler.codes.page import Page, policy

PAGES: dict[str, Page] = {
    # --- examples -------------------------------------------------------------------------
    "E140": Page(
        "rule contradicts its own example",
        "The compiler runs each rule on its examples: a good response must pass and a bad one "
        "fail. Here the rule votes the other way.",
        policy("""
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
        policy("""
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
        policy("""
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
        policy("""
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
        policy("""
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
        policy("""
            training:
              lr = 1e-5
            """),
        "Write the setting's full name: `learning_rate = 1e-5`. Fields of TRL's or peft's "
        "configs are written `trainer.FIELD` and `lora.FIELD`."),
    "E161": Page(
        "training setting of the wrong type or out of range",
        "The value does not fit the setting: text where a number is needed, a fraction for a "
        "whole number, a value outside the setting's range, or an unknown choice.",
        policy("""
            training:
              batch_size = 2.5
            """),
        "Give a value of the type and range the hint describes: `batch_size = 4`."),
    "E163": Page(
        "gate names an unknown rule",
        "`gate rule ID` must name a rule of the policy or its imports.",
        policy(with_rule=True, body="""
            training:
              gate rule no-tod >= 0.9
            """),
        "Correct the rule id (the hint suggests a close one)."),
    "W164": Page(
        "gated rule can never be measured",
        "`gate rule ID` measures the rule on held-out prompts in its scope, but none of the "
        "held-out prompts is, so the gate will fail.",
        policy("""
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
        policy(with_rule=True, body="""
            training:
              gate critical >= 99
            """),
        "Write rates as fractions (`gate critical >= 0.99` for 99%); write `gate regression <= "
        "0.02`."),
    "E166": Page(
        "not a field of the method's TRL config or of LoraConfig",
        "`trainer.FIELD` passes a value to the TRL config of the training method, and "
        "`lora.FIELD` to peft's LoraConfig; this field is in neither.",
        policy(with_rule=True, body="""
            training:
              trainer.warmup_ratio = 0.1
            """),
        "Use the field the hint names (`trainer.warmup_steps = 0.1`: below 1 it is a share of "
        "the steps), or set `method` to the method whose config has the field."),
    "E167": Page(
        "value a trainer or LoRA field cannot take",
        "The value has the wrong type, is not one of the field's choices, is not a whole number, "
        "or is outside the range tenet allows for the field.",
        policy(with_rule=True, body="""
            training:
              trainer.lr_scheduler_type = cosin
            """),
        "Give one of the values the hint lists: `trainer.lr_scheduler_type = cosine`."),
    "W168": Page(
        "`lora.*` settings without `lora = true`",
        "`lora.FIELD` settings configure a LoRA adapter, but this policy trains all the weights.",
        policy(with_rule=True, body="""
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
        policy(with_rule=True, body="""
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
        policy(with_rule=True, body="""
            prompts:
              template "How do I {action} my {product}?"
                slot action = "reset"
            """),
        'Add the slot (`slot product = "kettle", "toaster"`) or remove the placeholder.'),
    "E171": Page(
        "prompt file not allowed",
        "A prompt file must be `.jsonl`, `.csv` or `.parquet`, named by a relative path inside "
        "the policy root; an `hf://` data set reference must be well formed.",
        policy(with_rule=True, body="""
            prompts:
              file "traffic.txt"
            """),
        "Convert the file to JSON Lines or CSV with a `prompt` column, and keep it beside the "
        "policy: `file \"traffic.jsonl\"`."),
    "W172": Page(
        "prompt file does not exist yet",
        "The policy compiles, but synthesis and training will fail until the file exists.",
        policy(with_rule=True, body="""
            prompts:
              file "traffic.jsonl"
            """),
        "Create the file (one JSON object with a `prompt` per line), or fix its path."),
    "E173": Page(
        "no held-out prompts to evaluate a trained model on",
        "A trained model is evaluated on prompts held out from training, and rule example "
        "prompts always train. This policy has no other prompts, or its seeded split holds "
        "none out.",
        policy(with_rule=True, body="""
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
        policy(with_rule=True, body="""
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
        policy(with_rule=True, body="""
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
        policy(with_rule=True, body="""
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
        policy(with_rule=True, body="""
            prompts:
              prompt "Where is my order?"

            training:
              eval_split = 0.9
              gate rule no-todo >= 0.99
            """),
        "Lower the threshold, raise `tempt_prompts`, or add held-out prompts in the rules' scope."),
}
