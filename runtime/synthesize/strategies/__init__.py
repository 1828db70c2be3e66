"""One module per pair strategy; `STRATEGIES` maps the policy's names to them.

What else tenet knows about a strategy (whether it needs the model, how it ranks, ...) is its
record in compiler/strategies.py.
"""

from tenet.runtime.synthesize.strategies.contrast import contrast
from tenet.runtime.synthesize.strategies.examples import examples
from tenet.runtime.synthesize.strategies.feedback import feedback
from tenet.runtime.synthesize.strategies.perturb import perturb
from tenet.runtime.synthesize.strategies.revise import revise
from tenet.runtime.synthesize.strategies.sample import sample

STRATEGIES = {"examples": examples, "perturb": perturb, "sample": sample, "revise": revise,
              "contrast": contrast, "feedback": feedback}
