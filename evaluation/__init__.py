"""Evaluation: any causal LM (plus adapter) through lm-eval on the fcbench tasks."""
