"""tenet compiler: policy source → AST → checked policy → IR → plan (pure: no ML imports)."""

__version__ = "0.1.0"
