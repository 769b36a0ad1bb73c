"""Batched evaluation: the scores do not depend on the batch size, and a batch that runs out of
device memory is halved rather than ending the evaluation."""
from __future__ import annotations

import numpy as np
import torch

from asdcore.evaluation import evaluate
from asdcore.features import LogMel
from asdcore.recipes import resolve
from asdcore.registry import create_loss
from asdcore.runtime import Waveforms, build_model, feature_config, prepare_splits


def _setup(root):
    config = resolve("stgram-arcface", "tiny", {"data.roots": [str(root)], "device": "cpu"})
    splits = prepare_splits(config)
    torch.manual_seed(0)
    model, loss = build_model(config, len(splits.classes)), create_loss(config.loss.to_dict())
    records = splits.test[:20]
    labels = np.array([r.class_index for r in records])
    return config, model, loss, Waveforms.of(records, config), labels, LogMel(feature_config(config))


def test_batched_and_one_at_a_time_give_the_same_scores(tiny_toy_root):
    config, model, loss, waves, labels, front = _setup(tiny_toy_root)
    batched = evaluate.embed(model, loss, waves, labels, front, config, torch.device("cpu"))
    single = evaluate.embed(model, loss, waves, labels, front, config.with_settings({"eval.batch_size": 1}),
                            torch.device("cpu"))
    for key in ("embedding", "cosine", "logits"):
        np.testing.assert_allclose(batched[key], single[key], rtol=1e-4, atol=1e-5)


def test_a_batch_out_of_device_memory_is_halved_and_every_clip_still_scored(tiny_toy_root, monkeypatch):
    config, model, loss, waves, labels, front = _setup(tiny_toy_root)
    expected = evaluate.embed(model, loss, waves, labels, front, config, torch.device("cpu"))
    real, sizes = evaluate._embed_batch, []

    def small_device(model, loss, waves, labels, front, config, device, batch):
        sizes.append(len(batch))
        if len(batch) > 6:  # as a GPU with room for six clips would fail
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, loss, waves, labels, front, config, device, batch)

    monkeypatch.setattr(evaluate, "_embed_batch", small_device)
    got = evaluate.embed(model, loss, waves, labels, front, config.with_settings({"eval.batch_size": 16}),
                         torch.device("cpu"))
    assert sizes[:3] == [16, 8, 4] and max(sizes[3:]) == 4
    np.testing.assert_allclose(got["embedding"], expected["embedding"], rtol=1e-4, atol=1e-5)
    assert len(got["embedding"]) == 20
