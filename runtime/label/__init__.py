"""The labeling engine: compiled rules over datasets, column at a time, with provenance."""
