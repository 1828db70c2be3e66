"""tenet runtime: labeling, pair synthesis, training with TRL, tracking in MLflow, and the CLI."""
