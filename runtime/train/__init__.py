"""Training: one small module per method, each mapping a plan's train stage onto TRL."""
