"""The sub-cluster AdaCos system's network (Wilkinghoff, DCASE 2021, Table 1) and its input
standardisation by the training set's temporal mean and std."""
from __future__ import annotations

import torch

from asdcore.models import SubclusterResNet, logmel_statistics
from asdcore.recipes import resolve
from asdcore.jobs.pipeline import train_run
from asdcore.features import LogMel
from asdcore.runtime import Waveforms, feature_config, prepare_splits


def test_the_maps_have_table_1s_sizes_for_a_10_s_clip():
    model = SubclusterResNet(num_classes=42, num_subcentres=16).eval()
    sizes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(tuple(out.shape[1:])))
             for m in (model.stem[0], model.stem[3], *model.stages)]
    out = model(None, torch.randn(2, 128, 313))
    for h in hooks:
        h.remove()
    # (channels, time, frequency): 157x64x16 -> 78x31x16 -> 78x31x16 -> 39x16x32 -> 20x8x64 -> 10x4x128
    assert sizes == [(16, 157, 64), (16, 78, 31), (16, 78, 31), (32, 39, 16), (64, 20, 8), (128, 10, 4)]
    assert model.embed.in_features == 512 and out.embedding.shape == (2, 128)
    assert out.subcentre_cosine.shape == (2, 42, 16)  # 16 sub-clusters per class


def test_any_clip_length_gives_the_same_embedding_size():
    model = SubclusterResNet(num_classes=3).eval()
    assert model(None, torch.randn(1, 128, 63)).embedding.shape == (1, 128)  # 2 s clips


def test_statistics_are_each_mel_bins_mean_and_std_over_all_frames():
    batches = [torch.randn(3, 8, 20) * 2 + 5, torch.randn(2, 8, 7) - 1]
    mean, std = logmel_statistics(batches)
    frames = torch.cat([b.transpose(1, 2).reshape(-1, 8) for b in batches])
    assert torch.allclose(mean, frames.mean(0), atol=1e-5)
    assert torch.allclose(std, frames.std(0, unbiased=False), atol=1e-5)


def test_the_model_standardises_its_input_with_the_statistics_it_was_given():
    model = SubclusterResNet(num_classes=3, n_mels=8).eval()
    logmel = torch.randn(4, 8, 30) * 3 + 7
    model.fit_standardisation(*logmel_statistics([logmel]))
    seen = {}
    model.stem.register_forward_pre_hook(lambda _m, args: seen.setdefault("x", args[0]))
    model(None, logmel)
    x = seen["x"]  # (B, 1, T, F): standardised per mel bin over every frame
    assert torch.allclose(x.mean(dim=(0, 1, 2)), torch.zeros(8), atol=1e-5)
    assert torch.allclose(x.std(dim=(0, 1, 2), unbiased=False), torch.ones(8), atol=1e-4)


def test_training_sets_the_standardisation_from_the_training_normals(tiny_toy_root, tmp_path):
    config = resolve("tastgram-arcface", "tiny", {"data.roots": [str(tiny_toy_root)], "model.name": "subcluster_resnet",
                                                  "train.epochs": 1, "eval.umap": False})
    run_dir = train_run(config, tmp_path / "run", progress=False)
    state = torch.load(run_dir / "model.pt", weights_only=True)["groups"]["all"]["model"]
    splits = prepare_splits(config)
    waves = Waveforms(splits.train, config.data.clip_seconds)
    front = LogMel(feature_config(config))
    mean, std = logmel_statistics([front(waves.batch(torch.arange(len(waves))))])
    assert torch.allclose(state["input_mean"], mean, atol=1e-3)
    assert torch.allclose(state["input_std"], std, atol=1e-3)


def test_the_attribute_head_gives_cosines_to_each_attribute_classs_subclusters():
    model = SubclusterResNet(num_classes=5, num_subcentres=3, attribute_head=True, num_attribute_classes=11)
    out = model(None, torch.randn(2, 128, 63))
    assert out.subcentre_cosine.shape == (2, 5, 3) and out.attribute_subcentre_cosine.shape == (2, 11, 3)
    # without attribute classes (data whose names carry none) the second head is not built
    assert SubclusterResNet(num_classes=5, attribute_head=True).attribute_head is None
