"""Read a policy's update cycles back from MLflow: `tenet audit` and the data of `tenet report`.

Three layers, each its own module:

- `store.py` — `CycleStore`, the read-only MLflow client (cycles, artifacts, lineage, rule
  history), with `runs.py` building the read models from MLflow's run and model entities;
- `models.py` — the read models: frozen dataclasses of cycles, stages, datasets, lineage and
  rule history;
- `render.py` — text tables and JSON for `tenet audit` (`runtime/report.py` draws the HTML).

The names below are the package's public API (the CLI and tests import them from here).
"""

from tenet.runtime.audit.render import render_cycles, render_lineage, render_rule_history, to_json
from tenet.runtime.audit.store import AuditError, CycleStore, display_uri, resolve_tracking_uri

__all__ = ["AuditError", "CycleStore", "display_uri", "render_cycles", "render_lineage",
           "render_rule_history", "resolve_tracking_uri", "to_json"]
