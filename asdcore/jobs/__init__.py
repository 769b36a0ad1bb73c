"""Jobs: one run folder from queued to trained to evaluated (pipeline.py), and the background
training processes the app starts, queues and cancels (launcher.py).

The only modules that import both training and evaluation; the run folder itself is
asdcore.runs, below all of them.
"""
