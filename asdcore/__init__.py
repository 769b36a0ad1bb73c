"""asdcore: margin-loss anomalous sound detection (ASD) — data, features, models, losses,
training, scoring and analysis.  No Streamlit here: usable from the CLI, a notebook or a server.
"""
__version__ = "0.1.0"
