"""Contrastive pair synthesis: strategies, verification by the labeler, quality gates, TRL output."""
