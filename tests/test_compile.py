"""train.compile (on in the paper preset): the compiled model trains, its weights save as plain
weights, and the EMA it is averaged into keeps its own forward."""
from __future__ import annotations

import pytest
import torch

from asdcore.features import LogMel
from asdcore.jobs.pipeline import train_run
from asdcore.recipes import resolve
from asdcore.runtime import SELECTED, feature_config, prepare_splits
from asdcore.training.loop import build_groups


def _config(root, **settings):
    return resolve("logmel-osscl", "tiny", {"data.roots": [str(root)], "device": "cpu", "train.compile": True,
                                            **settings})


def test_the_paper_preset_compiles_and_the_short_presets_do_not():
    assert resolve("tastgram-noisy-arcmix", "paper").train.compile
    assert not resolve("tastgram-noisy-arcmix", "quick").train.compile


def test_the_ema_of_a_compiled_model_computes_with_its_own_weights(tiny_toy_root):
    config = _config(tiny_toy_root)
    splits = prepare_splits(config)
    group = build_groups(config, splits, torch.device("cpu"), {"all": 10})[0]
    ema = group.ema.module.eval()
    wave = torch.randn(2, 32000) * 0.1
    mel = LogMel(feature_config(config))(wave)
    with torch.no_grad():
        before = ema(wave, mel).embedding
        for p in group.model.parameters():  # the trained weights move; the EMA's must not follow
            p.add_(1.0)
        after = ema(wave, mel).embedding
    torch.testing.assert_close(after, before)


@pytest.mark.slow
@pytest.mark.long  # torch.compile builds its kernels with g++: a minute and a half on 2 cores
def test_a_compiled_run_trains_and_saves_plain_weights(tiny_toy_root, tmp_path):
    run = train_run(_config(tiny_toy_root, **{"train.epochs": 1}), tmp_path / "run", progress=False, evaluate=False)
    weights = torch.load(run / SELECTED, weights_only=True)["groups"]["all"]["model"]
    assert weights and not any("_orig_mod" in k for k in weights)  # loadable by an uncompiled model
    assert (run / "metrics.jsonl").read_text().count("\n") == 1
