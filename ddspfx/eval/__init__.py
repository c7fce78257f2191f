"""Evaluation: the runner behind evaluate.py (`runner`), how a metrics file was made (`provenance`)
and the results tables of any task (`tables`, used by evaluate.py and scripts/results.py)."""
