"""Cached reads of a run's eval/ files (the clips tables and the arrays), keyed by the file's
modification time so that a re-evaluated run is read again."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from asdcore.runs import Run


def modified(path: Path) -> float:
    """The file's modification time (0 when it does not exist): the cache key that changes with it."""
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_data(show_spinner=False, max_entries=64)
def _clips(run_path: str, stamp: float) -> pd.DataFrame:
    return Run(run_path).clips()


@st.cache_data(show_spinner=False, max_entries=64)
def _train_clips(run_path: str, stamp: float) -> pd.DataFrame:
    return Run(run_path).train_clips()


@st.cache_data(show_spinner=False, max_entries=32)
def _array(run_path: str, name: str, stamp: float):
    return Run(run_path).array(name)


def clips(run: Run) -> pd.DataFrame:
    return _clips(str(run.path), modified(run.path / "eval" / "clips.parquet"))


def train_clips(run: Run) -> pd.DataFrame:
    return _train_clips(str(run.path), modified(run.path / "eval" / "train_clips.parquet"))


def array(run: Run, name: str):
    """An eval/ array (embeddings.npy, train_embeddings.npy, attention.npy, centres.npy) or None."""
    return _array(str(run.path), name, modified(run.path / "eval" / name))
