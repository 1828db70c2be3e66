"""One module per pair strategy; `STRATEGIES` maps the policy's names to them."""

from runtime.synthesize.strategies.contrast import contrast
from runtime.synthesize.strategies.examples import examples
from runtime.synthesize.strategies.feedback import feedback
from runtime.synthesize.strategies.perturb import perturb
from runtime.synthesize.strategies.revise import revise
from runtime.synthesize.strategies.sample import sample

STRATEGIES = {"examples": examples, "perturb": perturb, "sample": sample, "revise": revise,
              "contrast": contrast, "feedback": feedback}
NEEDS_MODEL = ("sample", "revise", "contrast")
READS_SAMPLES = ("sample", "perturb", "revise")  # strategies that work from the model's sampled answers
