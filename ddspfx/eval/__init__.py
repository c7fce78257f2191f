"""Evaluation: per-example metrics and the runner behind evaluate.py."""
