"""Checks and lowering passes; each module exports one function of the same name."""
