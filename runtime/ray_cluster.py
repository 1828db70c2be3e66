"""The Ray cluster tenet runs on: the operator's (`--ray-address`, else `RAY_ADDRESS`) or a local one.

A policy never names a cluster: its `generation = ray` setting only picks the back-end.
"""

from __future__ import annotations

import logging
import os


def connect(address: str | None, num_cpus: int | None = None) -> bool:
    """Join the operator's cluster (`address`, else `RAY_ADDRESS`) or start a local one; True if started here.

    A local cluster gets `num_cpus` CPUs (default: every core) and no dashboard.
    """
    # Ray reports usage statistics to its makers unless told not to: nothing leaves this machine
    # or the operator's cluster.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        return False
    quiet = dict(logging_level=logging.ERROR, log_to_driver=False)
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address or None, **quiet)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **quiet)
    from ray.data import DataContext

    context = DataContext.get_current()  # tenet reports progress itself
    context.enable_progress_bars, context.print_on_execution_start = False, False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    return True
