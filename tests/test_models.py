"""Models: the registry walk (every model and loss trains one step), parameter counts against
REFERENCE.md, the papers' channel orders, TAgram's formula, and length-agnostic front-ends."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from asdcore.features import LogMel
from asdcore.models import (CosineHead, DCASEAutoencoder, FeaturePerturbationHead, ModelOutput, TemporalAttention,
                            TFgramNet, TgramNet, align_frames, frame_windows)
from asdcore.losses import ASDLoss
from asdcore.registry import (count_parameters, create_loss, create_model, list_losses, list_models, model_kind,
                              models_table)

SAMPLE_RATE = 16000
# (frames, samples): a 10 s clip gives 128 x 313, a 2 s clip 128 x 63
SIZES = [pytest.param(313, 10 * SAMPLE_RATE, id="128x313"), pytest.param(63, 2 * SAMPLE_RATE, id="128x63")]
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                              reason="CUDA is not available on this machine")),
]
CLASSIFIER_LOSS = {"name": "osscl"}  # SupCon + Noisy-ArcMix: uses both the cosines and the embedding


def batch(n_samples: int, batch_size: int = 2, seed: int = 0, device: str = "cpu"):
    g = torch.Generator().manual_seed(seed)
    waveform = (0.1 * torch.randn(batch_size, n_samples, generator=g)).to(device)
    logmel = LogMel().to(device)(waveform)
    return waveform, logmel


def train_step(model: nn.Module, waveform, logmel, device: str) -> torch.Tensor:
    labels = torch.arange(waveform.shape[0], device=device) % model.config.get("num_classes", 1)
    if model.kind == "autoencoder":
        loss_fn = create_loss({"name": "mse"})
        loss = loss_fn.from_output(model(waveform, logmel))
    else:
        loss_fn = create_loss(CLASSIFIER_LOSS)
        loss = loss_fn.from_output(model(waveform, logmel), labels, labels.flip(0), 0.7)
    loss.backward()
    return loss


# --- the registry walk -------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n_frames,n_samples", SIZES)
@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_one_step(name, n_frames, n_samples, device):
    torch.manual_seed(0)
    model = create_model({"name": name, "num_classes": 3, "n_mels": 128, "n_frames": n_frames}).to(device).train()
    waveform, logmel = batch(n_samples, batch_size=2, device=device)
    assert logmel.shape == (2, 128, n_frames)
    out = model(waveform, logmel)
    assert isinstance(out, ModelOutput)
    assert out.embedding.shape[0] == 2 and out.embedding.dim() == 2
    if model.kind == "classifier":
        assert out.cosine.shape == (2, 3) and out.subcentre_cosine.shape == (2, 3, 1)
        assert (out.cosine.abs() <= 1 + 1e-5).all()
    else:
        assert out.cosine is None and out.reconstruction_error.shape == (2,)
    if out.attention is not None:
        assert out.attention.shape == (2, n_frames)
    loss = train_step(model, waveform, logmel, device)
    assert torch.isfinite(loss)
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient at {pname}"
        assert p.grad.abs().sum() > 0, f"{name}: zero gradient at {pname}"


@pytest.mark.parametrize("name", list_losses())
def test_every_loss_gives_a_finite_loss_and_gradient(name):
    torch.manual_seed(0)
    if name == "mse":
        model = DCASEAutoencoder()
        out = model(None, torch.randn(4, 128, 12))
        params = list(model.parameters())
    else:
        sub = 3 if name == "subcluster_adacos" else 1
        head = CosineHead(16, num_classes=4, num_subcentres=sub)
        embedding = torch.randn(6, 16, requires_grad=True)
        cosine, subcentre_cosine = head(embedding)
        out = ModelOutput(embedding=embedding, cosine=cosine, subcentre_cosine=subcentre_cosine)
        params = [embedding] if name == "supcon" else [embedding, head.weight]  # SupCon sees no centres
    loss_fn = create_loss({"name": name})
    y_a, y_b = torch.tensor([0, 1, 2, 3, 0, 1]), torch.tensor([1, 1, 3, 0, 2, 0])
    loss = loss_fn.from_output(out) if name == "mse" else (
        loss_fn.from_output(out, y_a, y_b, 0.6) if loss_fn.supports_mixup else loss_fn.from_output(out, y_a))
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in params)


@pytest.mark.parametrize("name", list_losses())
def test_every_loss_declares_the_loss_interface(name):
    """The training loop and the evaluation use only what ASDLoss declares: a loss that says it
    has class logits gives (B, C) logits for scoring; one that says it has none refuses clearly."""
    loss_fn = create_loss({"name": name})
    assert isinstance(loss_fn, ASDLoss) and loss_fn.model_kind in ("classifier", "autoencoder")
    cosine, labels = torch.rand(5, 4) * 2 - 1, torch.tensor([0, 1, 2, 3, 0])
    if loss_fn.has_logits:
        assert loss_fn.logits(cosine, labels).shape == (5, 4)
    else:
        with pytest.raises(TypeError, match="no class logits"):
            loss_fn.logits(cosine, labels)
    assert loss_fn.has_logits == (name not in ("supcon", "mse"))


def test_registry_distinguishes_kinds_and_rejects_unknown_names():
    assert model_kind("dcase_autoencoder") == "autoencoder"
    assert {model_kind(n) for n in list_models() if n != "dcase_autoencoder"} == {"classifier"}
    assert create_loss({"name": "mse"}).model_kind == "autoencoder"
    with pytest.raises(KeyError):
        create_model({"name": "no_such_model", "num_classes": 2})
    with pytest.raises(TypeError):
        create_model({"name": "stgram_mfn", "num_classes": 2, "n_frame": 313})  # typo: unknown key
    for name in ["stgram_mfn", "tastgram_mfn", "tfstgram_mfn", "logmel_mfn", "dcase_autoencoder"]:
        assert name in list_models()
    for name in ["ce", "arcface", "arcmix", "noisy_arcmix", "supcon", "osscl", "adacos", "subcluster_adacos",
                 "focal"]:
        assert name in list_losses()


def test_model_config_is_resolved_plain_data():
    model = create_model({"name": "tfstgram_mfn", "num_classes": 41})
    assert model.config["name"] == "tfstgram_mfn" and model.config["num_classes"] == 41
    assert model.config["n_frames"] == 313 and model.config["feature_perturbation_head"] == "relu"
    rebuilt = create_model(model.config)
    assert count_parameters(rebuilt) == count_parameters(model)


# --- parameter counts (REFERENCE.md, 128 x 313, 41 classes) -------------------------------------
@pytest.mark.parametrize("name,reference", [
    ("stgram_mfn", 1.16e6), ("tastgram_mfn", 1.16e6), ("tfstgram_mfn", 1.38e6), ("logmel_mfn", 0.88e6)])
def test_parameter_counts_match_reference(name, reference):
    model = create_model({"name": name, "num_classes": 41, "n_mels": 128, "n_frames": 313})
    assert count_parameters(model) == pytest.approx(reference, rel=0.02)


def test_original_mobilefacenet_table_gives_the_stgram_paper_figure():
    # The ICASSP-2022 STgram paper's ~1.35 M is STgram-MFN with the original MobileFaceNet table.
    model = create_model({"name": "stgram_mfn", "num_classes": 41, "bottlenecks": "original"})
    assert count_parameters(model) == pytest.approx(1.35e6, rel=0.02)
    assert len(model.mobilefacenet.blocks) == 5 + 1 + 6 + 1 + 2


def test_component_parameter_counts():
    assert count_parameters(TgramNet(128, 313)) == pytest.approx(280e3, rel=0.02)
    assert count_parameters(TFgramNet(128)) == pytest.approx(199e3, rel=0.02)
    # FPH: Linear(128->64) + BN(64) + Linear(64->128) + BN(128)
    assert count_parameters(FeaturePerturbationHead(128, 64)) == (128 * 64 + 64) + 128 + (64 * 128 + 128) + 256


def test_global_depthwise_conv_covers_the_remaining_map():
    for n_frames, expected in [(313, (8, 20)), (63, (8, 4))]:
        model = create_model({"name": "stgram_mfn", "num_classes": 2, "n_frames": n_frames})
        assert model.mobilefacenet.gdc_size == expected
        assert model.mobilefacenet.gdc.conv.kernel_size == expected


def test_models_table_lists_every_model_with_its_count():
    table = models_table(128, 313)
    assert "128x313" in table
    rows = {line.split()[0]: line for line in table.splitlines()}
    for name in list_models():
        count = count_parameters(create_model({"name": name, "num_classes": 41, "n_frames": 313}))
        assert f"{count:,}" in rows[name].split()  # printed with thousands separators


# --- channel orders and front-ends ------------------------------------------------------------
def test_channel_orders_of_the_papers():
    waveform, logmel = batch(SAMPLE_RATE)  # 1 s: 32 frames
    tagram, _ = TemporalAttention()(logmel)
    expected = {"stgram_mfn": {0: logmel}, "tastgram_mfn": {1: logmel, 2: tagram},
                "tfstgram_mfn": {0: logmel}, "logmel_mfn": {0: logmel}}
    for name, planes in expected.items():
        model = create_model({"name": name, "num_classes": 2, "n_frames": 32}).eval()
        x, _ = model.frontend(waveform, logmel)
        assert x.shape[1] == {"stgram_mfn": 2, "tastgram_mfn": 3, "tfstgram_mfn": 3, "logmel_mfn": 1}[name]
        for index, plane in planes.items():
            torch.testing.assert_close(x[:, index], plane)
    assert create_model({"name": "stgram_mfn", "num_classes": 2}).channels == ("logmel", "tgram")
    assert create_model({"name": "tastgram_mfn", "num_classes": 2}).channels == ("tgram", "logmel", "tagram")
    assert create_model({"name": "tfstgram_mfn", "num_classes": 2}).channels == ("logmel", "tgram", "tfgram")


def test_temporal_attention_formula_on_a_hand_made_input():
    # 3 mel bands x 4 frames, values in dB; per frame: sigma(max over mels + mean over mels)
    x = torch.tensor([[[0.0, 1.0, -4.0, -1.0],
                       [0.0, 2.0, -4.0, 0.0],
                       [0.0, 3.0, -4.0, 4.0]]])
    sigma = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    weights = torch.tensor([[sigma(0 + 0), sigma(3 + 2), sigma(-4 - 4), sigma(4 + 1)]])
    tagram, got_weights = TemporalAttention()(x)
    torch.testing.assert_close(got_weights, weights)
    torch.testing.assert_close(tagram, weights[:, None, :] * x)
    assert got_weights[0, 0] == 0.5
    assert sum(p.numel() for p in TemporalAttention().parameters()) == 0


def test_tagram_model_exposes_the_attention_it_applied():
    waveform, logmel = batch(SAMPLE_RATE)
    model = create_model({"name": "tastgram_mfn", "num_classes": 2, "n_frames": 32}).eval()
    x, attention = model.frontend(waveform, logmel)
    torch.testing.assert_close(x[:, 2], attention[:, None, :] * logmel)


@pytest.mark.parametrize("n_samples", [SAMPLE_RATE, 10 * SAMPLE_RATE, 37_000, 513])
def test_tgram_and_tfgram_frames_follow_the_logmel(n_samples):
    waveform = torch.randn(2, n_samples)
    n_frames = LogMel()(waveform).shape[-1]
    tgram = TgramNet(128, 313)
    assert tgram.extractor(waveform.unsqueeze(1)).shape[-1] == n_frames  # same framing as the STFT
    assert tgram(waveform, n_frames).shape == (2, 128, n_frames)
    assert TFgramNet(128)(waveform, n_frames).shape == (2, 128, n_frames)


def test_align_frames_crops_or_repeats_the_last_frame():
    x = torch.arange(5.0).view(1, 1, 5)
    assert align_frames(x, 3).tolist() == [[[0.0, 1.0, 2.0]]]
    assert align_frames(x, 7).tolist() == [[[0.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0]]]


def test_a_model_built_for_10s_scores_other_lengths():
    model = create_model({"name": "tastgram_mfn", "num_classes": 3, "n_frames": 313}).eval()
    for seconds in (2, 4):
        waveform, logmel = batch(seconds * SAMPLE_RATE)
        with torch.no_grad():
            out = model(waveform, logmel)
        assert out.cosine.shape == (2, 3) and out.attention.shape == (2, logmel.shape[-1])


def test_other_mel_counts_build_and_run():
    model = create_model({"name": "stgram_mfn", "num_classes": 3, "n_mels": 64, "n_frames": 32}).eval()
    waveform = torch.randn(2, SAMPLE_RATE)
    with torch.no_grad():
        out = model(waveform, torch.randn(2, 64, 32))
    assert out.cosine.shape == (2, 3)


# --- heads -------------------------------------------------------------------------------------
def test_cosine_head_sub_centres_reduce_by_max():
    head = CosineHead(8, num_classes=3, num_subcentres=4)
    x = torch.randn(5, 8)
    cosine, sub = head(x)
    w = head.weight / head.weight.norm(dim=1, keepdim=True)
    manual = (x / x.norm(dim=1, keepdim=True)) @ w.T  # row k*S + j is sub-centre j of class k
    torch.testing.assert_close(sub, manual.view(5, 3, 4))
    torch.testing.assert_close(cosine, manual.view(5, 3, 4).max(dim=2).values)


def test_fph_models_emit_unit_norm_embeddings():
    waveform, logmel = batch(SAMPLE_RATE, batch_size=3)
    for name, activation in [("tfstgram_mfn", "relu"), ("logmel_mfn", "leaky_relu")]:
        model = create_model({"name": name, "num_classes": 2, "n_frames": 32})
        assert model.fph.activation == activation
        out = model(waveform, logmel)
        torch.testing.assert_close(out.embedding.norm(dim=1), torch.ones(3))


def test_sub_centre_model_feeds_subcluster_adacos():
    waveform, logmel = batch(SAMPLE_RATE, batch_size=3)
    model = create_model({"name": "logmel_mfn", "num_classes": 4, "n_frames": 32, "num_subcentres": 5})
    out = model(waveform, logmel)
    assert out.subcentre_cosine.shape == (3, 4, 5)
    loss = create_loss({"name": "subcluster_adacos", "num_subclusters": 5})
    value = loss.from_output(out, torch.tensor([0, 1, 3]), torch.tensor([2, 1, 0]), torch.tensor([0.2, 0.5, 0.9]))
    assert torch.isfinite(value)


# --- the DCASE 2020 autoencoder -----------------------------------------------------------------
def test_autoencoder_layer_list():
    ae = DCASEAutoencoder()
    linears = [m for m in ae.modules() if isinstance(m, nn.Linear)]
    widths = [(m.in_features, m.out_features) for m in linears]
    assert widths == [(640, 128), (128, 128), (128, 128), (128, 128), (128, 8),
                      (8, 128), (128, 128), (128, 128), (128, 128), (128, 640)]
    layers = list(ae.encoder) + list(ae.decoder)
    for i, layer in enumerate(layers[:-1]):  # every hidden Dense is followed by BatchNorm and ReLU
        if isinstance(layer, nn.Linear):
            assert isinstance(layers[i + 1], nn.BatchNorm1d) and isinstance(layers[i + 2], nn.ReLU)
    assert isinstance(layers[-1], nn.Linear)


def test_autoencoder_windows_are_five_consecutive_frames():
    logmel = torch.arange(2 * 3 * 7, dtype=torch.float32).view(2, 3, 7)  # 3 mels, 7 frames
    windows = frame_windows(logmel, 5)
    assert windows.shape == (2, 3, 15)
    # window w, frame t of the window occupies entries t*F .. t*F + F-1 and holds frame w + t
    for w in range(3):
        for t_ in range(5):
            torch.testing.assert_close(windows[1, w, t_ * 3:(t_ + 1) * 3], logmel[1, :, w + t_])


def test_autoencoder_score_is_mean_window_mse_and_needs_no_labels():
    torch.manual_seed(0)
    ae = create_model({"name": "dcase_autoencoder", "num_classes": 1}).eval()
    logmel = torch.randn(2, 128, 20)
    with torch.no_grad():
        score = ae.anomaly_score(logmel)
        x = frame_windows(logmel)
        recon = ae.decoder(ae.encoder(x.reshape(-1, 640))).view_as(x)
    expected = torch.stack([((recon[i] - x[i]) ** 2).mean(dim=1).mean() for i in range(2)])
    torch.testing.assert_close(score, expected)
    assert score.shape == (2,)
