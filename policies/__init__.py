"""tenet: compile brand and safety policies into labeling rules, verified pairs and aligned models.

The package root holds the standard policy library (`std/`, imported as `std/…`) and the
public Python API, loaded on first use so that `import tenet` stays as light as the
compiler: see docs/api.md.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

__version__ = "0.1.0"
STD_DIR = Path(__file__).resolve().parent / "std"

_API = ("load", "check", "train", "audit", "CompiledPolicy")
__all__ = ["STD_DIR", "__version__", *_API]


def __getattr__(name: str) -> Any:
    """The API's names, imported when first used (the runtime's extras may not be installed)."""
    if name in _API:
        return getattr(importlib.import_module("tenet.runtime.api"), name)
    raise AttributeError(f"module 'tenet' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names with the API's, for completion in notebooks and shells."""
    return sorted({*globals(), *_API})
