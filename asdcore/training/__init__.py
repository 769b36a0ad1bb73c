"""Training: the loop that fits a run's networks (loop.py) and mixup (mixup.py).

Reads asdcore.runtime (data, models, devices) and writes the run folder's weights and
metrics.jsonl; it never imports evaluation.
"""
