"""tenet compiler: policy source → AST → checked policy → IR → plan (pure: no ML imports)."""

from tenet import __version__

__all__ = ["__version__"]
