"""Evaluation: the anomaly scores (scoring.py), the DCASE metrics (metrics.py) and the
evaluation of a trained run folder (evaluate.py).

Reads asdcore.runtime and the run folder's weights; it never imports training.
"""
