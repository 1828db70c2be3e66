"""Text edits: whole-unit changes to an answer that the predicate kinds and pair synthesis share.

A layer below both: `tenet.runtime.predicates` (each kind's perturb edit) and
`tenet.runtime.synthesize` import it; it imports neither, nor labeling.
"""
