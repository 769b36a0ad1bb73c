"""Create every model and loss by name from plain data, so a recipe is a dict (or YAML).

    create_model({"name": "tastgram_mfn", "num_classes": 41, "n_mels": 128, "n_frames": 313})
    create_loss({"name": "noisy_arcmix", "s": 30, "m": 0.7})

The config's other keys are the constructor's keyword arguments; an unknown key is an error.
Models carry their resolved config as `model.config` and their kind as `model.kind`
(a class attribute, checked against the registry's entry):
"classifier" (a cosine head, trained with a margin loss on class labels) or "autoencoder"
(no labels, trained with "mse", scored by `anomaly_score`).  A loss says which kind it trains
in `loss.model_kind`.  AdaCos keeps its scale in a buffer that updates in training mode only:
call loss.train() / loss.eval() together with the model.

Registering something here puts it under test: tests/test_models.py walks both registries.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from torch import nn

from . import losses
from .models import (DCASEAutoencoder, SpectrogramMFN, SubclusterResNet, logmel_mfn, stgram_mfn, tastgram_mfn,
                     tfstgram_mfn)


@dataclass(frozen=True)
class Entry:
    name: str
    build: Callable[..., nn.Module]
    kind: str          # "classifier" or "autoencoder" (for losses: the kind of model they train)
    description: str
    # where defaults not in build's own signature live (build passes **kwargs on to it)
    defaults_from: Callable | None = None


MODELS: dict[str, Entry] = {e.name: e for e in [
    Entry("stgram_mfn", stgram_mfn, "classifier",
          "STgram-MFN: [log-mel, Tgram] -> MobileFaceNet", SpectrogramMFN),
    Entry("tastgram_mfn", tastgram_mfn, "classifier",
          "TASTgram-MFN: [Tgram, log-mel, TAgram] -> MobileFaceNet", SpectrogramMFN),
    Entry("tfstgram_mfn", tfstgram_mfn, "classifier",
          "OS-SCL TFSTgram: [log-mel, Tgram, TFgram] -> MFN -> FPH", SpectrogramMFN),
    Entry("logmel_mfn", logmel_mfn, "classifier",
          "OS-SCL Log-Mel: [log-mel] -> MobileFaceNet -> FPH", SpectrogramMFN),
    Entry("subcluster_resnet", SubclusterResNet, "classifier",
          "sub-cluster AdaCos system (DCASE 2021): standardised log-mel -> modified ResNet"),
    Entry("dcase_autoencoder", DCASEAutoencoder, "autoencoder",
          "DCASE 2020 baseline: dense AE on 5-frame windows"),
]}

LOSSES: dict[str, Entry] = {e.name: e for e in [
    Entry("ce", losses.CrossEntropy, "classifier", "cross-entropy on s*cos, no margin"),
    Entry("arcface", losses.ArcFace, "classifier", "ArcFace: s*cos(theta_y + m)"),
    Entry("arcmix", losses.ArcMix, "classifier", "ArcFace on both mixup partners"),
    Entry("noisy_arcmix", losses.NoisyArcMix, "classifier", "Noisy-ArcMix eq. 4: margin at y_a only"),
    Entry("supcon", losses.SupCon, "classifier", "OS-SCL eq. 1: noisy supervised contrastive, tau 0.02"),
    Entry("osscl", losses.OSSCL, "classifier", "OS-SCL: SupCon + Noisy-ArcMix"),
    Entry("adacos", losses.AdaCos, "classifier", "AdaCos: adaptive scale, no margin"),
    Entry("subcluster_adacos", losses.SubclusterAdaCos, "classifier", "sub-cluster AdaCos: C x S centres"),
    Entry("subcluster_adacos_two_heads", losses.SubclusterAdaCosTwoHeads, "classifier",
          "sub-cluster AdaCos on the section and attribute heads, equal weights"),
    Entry("focal", losses.FocalLoss, "classifier", "focal loss on s*cos"),
    Entry("mse", losses.ReconstructionMSE, "autoencoder", "autoencoder reconstruction MSE"),
]}


def _lookup(registry: dict[str, Entry], config: dict, what: str) -> tuple[Entry, dict]:
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"a {what} config is a dict with a 'name', got {config!r}")
    kwargs = dict(config)
    name = kwargs.pop("name")
    if name not in registry:
        raise KeyError(f"unknown {what} {name!r}; known: {', '.join(registry)}")
    return registry[name], kwargs


def _defaults(fn: Callable | None) -> dict:
    if fn is None:
        return {}
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


def accepted_options(entry: Entry) -> set[str]:
    """The keyword arguments an entry's constructor takes (through **kwargs: defaults_from's too)."""
    params = inspect.signature(entry.build).parameters
    names = {k for k, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    if entry.defaults_from is not None and any(p.kind == p.VAR_KEYWORD for p in params.values()):
        names |= set(inspect.signature(entry.defaults_from).parameters) - {"self"}
    return names


def _resolved_config(entry: Entry, kwargs: dict) -> dict:
    """The full config: every default of the constructor, overridden by the given keys."""
    return {"name": entry.name, **_defaults(entry.defaults_from), **_defaults(entry.build), **kwargs}


def create_model(config: dict) -> nn.Module:
    """A model from {"name": ..., "num_classes": ..., **options}; sets model.config (its full config)."""
    entry, kwargs = _lookup(MODELS, config, "model")
    model = entry.build(**kwargs)
    model.config = _resolved_config(entry, kwargs)
    if getattr(model, "kind", None) != entry.kind:
        raise TypeError(f"{entry.name!r} is registered as {entry.kind!r} but builds a {getattr(model, 'kind', None)!r}")
    return model


def create_loss(config: dict) -> losses.ASDLoss:
    """A loss from {"name": ..., **options}, e.g. {"name": "arcface", "s": 30, "m": 0.7}."""
    entry, kwargs = _lookup(LOSSES, config, "loss")
    loss = entry.build(**kwargs)
    loss.config = _resolved_config(entry, kwargs)
    if not isinstance(loss, losses.ASDLoss):
        raise TypeError(f"loss {entry.name!r} must be an asdcore.losses.ASDLoss, got {type(loss).__name__}")
    if loss.model_kind != entry.kind:
        raise TypeError(f"{entry.name!r} is registered for {entry.kind!r} models but trains {loss.model_kind!r}")
    return loss


def list_models() -> list[str]:
    return list(MODELS)


def list_losses() -> list[str]:
    return list(LOSSES)


def model_kind(name: str) -> str:
    """"classifier" or "autoencoder"."""
    return MODELS[name].kind


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def models_table(n_mels: int = 128, n_frames: int = 313, num_classes: int = 41) -> str:
    """A printable table of every registered model and its parameter count at n_mels x n_frames."""
    rows = []
    for name, entry in MODELS.items():
        model = create_model({"name": name, "num_classes": num_classes, "n_mels": n_mels, "n_frames": n_frames})
        rows.append((name, entry.kind, f"{count_parameters(model):,}", entry.description))
    header = ("model", "kind", f"params @ {n_mels}x{n_frames}", "description")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    line = lambda r: "  ".join(  # noqa: E731
        (c.rjust(w) if i == 2 else c.ljust(w)) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    title = f"Models ({num_classes} classes, input {n_mels} mels x {n_frames} frames)"
    return "\n".join([title, line(header), line(tuple("-" * w for w in widths))] + [line(r) for r in rows])
