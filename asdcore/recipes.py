"""Recipes: the seed papers' methods as plain data, each with tiny / quick / paper presets.

A recipe names the model, the loss, the mixup, the log-mel variant and the default scoring
back-end; a preset sets the training budget.  `resolve(recipe, preset, overrides)` merges
them into the run's configuration (saved as config.json and inside every checkpoint).

    tiny   seconds on a CPU: tests and demos (2 s clips, 2 epochs, at most 8 clips per class)
    quick  sized for the default toy data on a 2-core CPU (2 s clips, a few minutes a run)
    paper  the papers' settings: 10 s clips, batch 64, AdamW lr 1e-4, cosine schedule,
           300 epochs, s 30, m 0.7 (0.4 for OS-SCL TFSTgram), alpha 0.5, EMA 0.9999 for OS-SCL;
           the recipes of the Noisy-ArcMix paper follow its code (NOISY_ARCMIX_CODE below)

Overrides are dotted keys (`loss.m=0.5`, `train.epochs=3`); the short names m, s, alpha,
epochs, batch_size, lr, clip_seconds and seed are accepted too.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

from .melspec import LogMelConfig


@dataclass(frozen=True)
class Recipe:
    name: str
    label: str  # for tables and legends, in the papers' words
    description: str
    model: dict
    loss: dict
    mixup: str | None = None  # None, "waveform" or "waveform_and_logmel" (the reference codes' way)
    features: str = "stgram"  # "stgram" (HTK, n_fft 1024) or "noisy_arcmix" (slaney, n_fft 2048)
    backend: str = "softmax"  # default anomaly-score back-end
    ema: bool = False  # evaluate an exponential moving average of the weights (OS-SCL)
    per_preset: dict = field(default_factory=dict)  # preset -> overrides specific to this recipe


def _margin(name, s=30.0, m=0.7):
    return {"name": name, "s": s, "m": m}


# The Noisy-ArcMix code's training (../shared/REFERENCE.md, "Noisy-ArcMix training"): AdamW with
# torch's default weight decay 0.01, CosineAnnealingLR stepped once per epoch with T_max = epochs
# and eta_min = 0.1 x lr, a random 95/5 train/validation split of all training clips.  The paper
# preset of the recipes that paper trained follows it; their CPU presets keep the engine's choices.
NOISY_ARCMIX_CODE = {"train.weight_decay": 0.01, "train.schedule": "cosine_epoch", "train.eta_min_ratio": 0.1,
                     "data.val_split": "random", "data.val_fraction": 0.05}


def _noisy_arcmix_paper(name, label, description, model, loss, mixup=None):
    """A recipe the Noisy-ArcMix paper trained: its code's log-mel (n_fft 2048, slaney), its mixup
    (waveform and log-mel mixed separately) and its training settings in the paper preset."""
    return Recipe(name, label, description, model, loss, mixup="waveform_and_logmel" if mixup else None,
                  features="noisy_arcmix", per_preset={"paper": NOISY_ARCMIX_CODE})


_RECIPES = [
    Recipe("stgram-ce", "STgram-MFN (CE)", "STgram-MFN trained with cross-entropy on scaled cosines, no margin",
           {"name": "stgram_mfn"}, {"name": "ce", "s": 30.0}),
    Recipe("stgram-arcface", "STgram-MFN (ArcFace)", "STgram-MFN with ArcFace (Liu et al., ICASSP 2022)",
           {"name": "stgram_mfn"}, _margin("arcface")),
    Recipe("stgram-arcmix", "STgram-MFN (ArcMix)", "STgram-MFN with ArcMix: margins on both mixup partners",
           {"name": "stgram_mfn"}, _margin("arcmix"), mixup="waveform"),
    _noisy_arcmix_paper("stgram-noisy-arcmix", "STgram-MFN (Noisy-ArcMix)",
                        "STgram-MFN with Noisy-ArcMix (margin at y_a only; Noisy-ArcMix paper, Table 2)",
                        {"name": "stgram_mfn"}, _margin("noisy_arcmix"), mixup=True),
    _noisy_arcmix_paper("tastgram-ce", "TASTgram-MFN (CE)", "TASTgram-MFN trained with cross-entropy, no margin",
                        {"name": "tastgram_mfn"}, {"name": "ce", "s": 30.0}),
    _noisy_arcmix_paper("tastgram-arcface", "TASTgram-MFN (ArcFace)",
                        "TASTgram-MFN with ArcFace (Noisy-ArcMix paper, Table 2)",
                        {"name": "tastgram_mfn"}, _margin("arcface")),
    _noisy_arcmix_paper("tastgram-arcmix", "TASTgram-MFN (ArcMix)",
                        "TASTgram-MFN with ArcMix (Noisy-ArcMix paper, Table 1)",
                        {"name": "tastgram_mfn"}, _margin("arcmix"), mixup=True),
    _noisy_arcmix_paper("tastgram-noisy-arcmix", "TASTgram-MFN (Noisy-ArcMix)",
                        "TASTgram-MFN with Noisy-ArcMix, the Noisy-ArcMix paper's method",
                        {"name": "tastgram_mfn"}, _margin("noisy_arcmix"), mixup=True),
    Recipe("logmel-osscl", "Log-Mel (OS-SCL)", "OS-SCL on one log-mel channel with a LeakyReLU FPH",
           {"name": "logmel_mfn"}, _margin("osscl"), mixup="waveform", features="noisy_arcmix", ema=True),
    # its TFgram branch (1-D convolutions over the waveform) trains at a quarter of the others' speed
    # on a CPU: the quick preset sees fewer clips per machine ID to fit the same few minutes
    Recipe("tfstgram-osscl", "TFSTgram (OS-SCL)", "OS-SCL's TFSTgram-MFN with FPH, SupCon + Noisy-ArcMix, m 0.4",
           {"name": "tfstgram_mfn"}, _margin("osscl", m=0.4), mixup="waveform", features="noisy_arcmix", ema=True,
           per_preset={"quick": {"data.max_train_clips_per_class": 50, "train.epochs": 4}}),
    Recipe("dcase-ae", "DCASE 2020 AE baseline",
           "The DCASE 2020 official autoencoder baseline: one dense AE per machine type, reconstruction error",
           {"name": "dcase_autoencoder"}, {"name": "mse"}, backend="reconstruction",
           per_preset={"quick": {"train.epochs": 30, "train.batch_size": 64, "train.lr": 1e-3},
                       "paper": {"train.epochs": 100, "train.batch_size": 512, "train.lr": 1e-3,
                                 "train.optimizer": "adam", "train.schedule": "constant",
                                 "train.weight_decay": 0.0}}),
]
RECIPES: dict[str, Recipe] = {r.name: r for r in _RECIPES}

# Training budgets.  `max_train_clips_per_class` / `max_test_clips_per_class` cap the data (per
# machine ID and, for the test clips, per label); `select` picks the
# weights that are evaluated: "val_loss" (lowest loss on the held-out training normals) or "last".
PRESETS: dict[str, dict] = {
    "tiny": {"data.clip_seconds": 2.0, "data.max_train_clips_per_class": 8, "data.max_test_clips_per_class": 8,
             "train.epochs": 2, "train.batch_size": 16, "train.lr": 1e-3, "train.ema_decay": 0.9},
    "quick": {"data.clip_seconds": 2.0, "train.epochs": 7, "train.batch_size": 32, "train.lr": 1e-3,
              "train.ema_decay": 0.99},
    "paper": {"data.clip_seconds": 10.0, "train.epochs": 300, "train.batch_size": 64, "train.lr": 1e-4,
              "train.ema_decay": 0.9999},
}

# Learning-rate schedules: "cosine" anneals per batch from lr to eta_min_ratio x lr over the whole
# run; "cosine_epoch" is torch's CosineAnnealingLR stepped once per epoch with T_max = epochs (the
# Noisy-ArcMix code); "constant" keeps lr.
SCHEDULES = ("cosine", "cosine_epoch", "constant")
# Validation split of the training normals: "per_class" holds out val_fraction of every class
# (every machine ID is validated); "random" holds out val_fraction of all clips at random (the
# Noisy-ArcMix code's random_split).
VAL_SPLITS = ("per_class", "random")

SHORT_KEYS = {"m": "loss.m", "s": "loss.s", "alpha": "mixup.alpha", "epochs": "train.epochs",
              "batch_size": "train.batch_size", "lr": "train.lr", "clip_seconds": "data.clip_seconds",
              "seed": "seed", "device": "device"}


def base_config(recipe: Recipe) -> dict:
    """Every setting a run has, at the recipe's values before any preset."""
    features = LogMelConfig.stgram() if recipe.features == "stgram" else LogMelConfig.noisy_arcmix()
    backends = ["reconstruction"] if recipe.backend == "reconstruction" else ["softmax", "cosine", "gmm",
                                                                                 "knn", "lof"]
    return {
        "recipe": recipe.name, "label": recipe.label, "description": recipe.description,
        "preset": None, "seed": 0, "device": "auto",
        "data": {"roots": ["data/toy"], "clip_seconds": 2.0, "val_fraction": 0.1, "val_split": "per_class",
                 "max_train_clips_per_class": None, "max_test_clips_per_class": None, "pad_mode": "constant"},
        "features": {"variant": recipe.features, **features.to_dict()},
        "model": copy.deepcopy(recipe.model),
        "loss": copy.deepcopy(recipe.loss),
        "mixup": {"mode": recipe.mixup, "alpha": 0.5, "per_sample": False},
        "train": {"epochs": 10, "batch_size": 32, "lr": 1e-3, "weight_decay": 1e-4, "optimizer": "adamw",
                  "schedule": "cosine", "eta_min_ratio": 0.0,
                  "ema_decay": 0.9999 if recipe.ema else None, "select": "val_loss",
                  "bn_refresh_clips": 512 if recipe.ema else None,
                  "amp": "bf16", "channels_last": True, "num_workers": 0, "cache_gb": 3.0},
        "eval": {"backend": recipe.backend, "backends": backends, "knn_k": 1, "umap": True,
                 "umap_neighbors": 15, "batch_size": 64},
    }


def parse_value(text: str):
    """`--set` values: JSON where it parses (numbers, true/false/null, lists), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def set_dotted(config: dict, key: str, value) -> None:
    """config["a"]["b"] = value for key "a.b"; unknown keys are an error (typos must not pass)."""
    key = SHORT_KEYS.get(key, key)
    parts = key.split(".")
    node = config
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise KeyError(f"unknown setting {key!r}")
        node = node[part]
    if parts[-1] not in node and not (parts[0] in ("model", "loss") and len(parts) == 2):
        raise KeyError(f"unknown setting {key!r}; known in {'.'.join(parts[:-1]) or 'top level'}: "
                       f"{', '.join(sorted(node))}")
    node[parts[-1]] = value


def resolve(recipe_name: str, preset: str = "quick", overrides: dict | None = None) -> dict:
    """The run configuration: recipe, then preset, then the recipe's own preset tweaks, then overrides."""
    if recipe_name not in RECIPES:
        raise KeyError(f"unknown recipe {recipe_name!r}; known: {', '.join(RECIPES)}")
    if preset not in PRESETS:
        raise KeyError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    recipe = RECIPES[recipe_name]
    config = base_config(recipe)
    config["preset"] = preset
    # a preset's EMA decay applies only to recipes that use an EMA
    preset_settings = {k: v for k, v in PRESETS[preset].items() if recipe.ema or k != "train.ema_decay"}
    for key, value in {**preset_settings, **recipe.per_preset.get(preset, {})}.items():
        set_dotted(config, key, value)
    for key, value in (overrides or {}).items():
        set_dotted(config, key, value)
    validate(config)
    return config


def validate(config: dict) -> None:
    """Clear errors for values that cannot work."""
    t = config["train"]
    if int(t["epochs"]) < 1:
        raise ValueError(f"train.epochs must be >= 1, got {t['epochs']}")
    if int(t["batch_size"]) < 2:
        raise ValueError(f"train.batch_size must be >= 2 (mixup and SupCon need pairs), got {t['batch_size']}")
    if float(t["lr"]) <= 0:
        raise ValueError(f"train.lr must be > 0, got {t['lr']}")
    if float(config["data"]["clip_seconds"]) <= 0.1:
        raise ValueError(f"data.clip_seconds must be > 0.1 s, got {config['data']['clip_seconds']}")
    if config["mixup"]["mode"] not in (None, "waveform", "waveform_and_logmel"):
        raise ValueError(f"mixup.mode must be null, 'waveform' or 'waveform_and_logmel', "
                         f"got {config['mixup']['mode']!r}")
    if t["schedule"] not in SCHEDULES:
        raise ValueError(f"train.schedule must be one of {', '.join(SCHEDULES)}, got {t['schedule']!r}")
    if not 0 <= float(t["eta_min_ratio"]) <= 1:
        raise ValueError(f"train.eta_min_ratio must be in [0, 1], got {t['eta_min_ratio']}")
    if config["data"]["val_split"] not in VAL_SPLITS:
        raise ValueError(f"data.val_split must be one of {', '.join(VAL_SPLITS)}, "
                         f"got {config['data']['val_split']!r}")
    if not 0 <= float(config["data"]["val_fraction"]) < 1:
        raise ValueError(f"data.val_fraction must be in [0, 1), got {config['data']['val_fraction']}")
    if config["train"]["select"] not in ("val_loss", "last"):
        raise ValueError(f"train.select must be 'val_loss' or 'last', got {config['train']['select']!r}")
    if "m" in config["loss"] and not 0 <= float(config["loss"]["m"]) < 3.1416:
        raise ValueError(f"loss.m must be an angle in radians in [0, pi), got {config['loss']['m']}")


def recipes_table() -> str:
    """`python -m asdcore recipes`: each recipe's model, loss, mixup, log-mel and score, then each
    preset's training settings per recipe (where a recipe's preset differs from the others, it shows)."""
    rows = [(r.name, r.model["name"], r.loss["name"], r.mixup or "-", r.features, r.backend, r.description)
            for r in RECIPES.values()]
    header = ("recipe", "model", "loss", "mixup", "log-mel", "score", "description")
    lines = _table(header, rows)
    lines += ["", "mixup: waveform = features of the mixed waveform; waveform_and_logmel = waveform and log-mel "
              "mixed separately (the Noisy-ArcMix code).",
              "log-mel: stgram = n_fft 1024, HTK, no filter norm (STgram-MFN code); noisy_arcmix = n_fft 2048, "
              "slaney scale and norm, 10*log10(x + eps) (Noisy-ArcMix / OS-SCL code).", ""]
    header = ("recipe", "preset", "clip s", "epochs", "batch", "optimizer", "lr", "weight decay", "schedule",
              "eta_min", "validation", "EMA")
    rows = []
    for name in RECIPES:
        for preset in PRESETS:
            c = resolve(name, preset)
            d, t = c["data"], c["train"]
            rows.append((name, preset, f"{d['clip_seconds']:g}", t["epochs"], t["batch_size"], t["optimizer"],
                         f"{t['lr']:g}", f"{t['weight_decay']:g}", t["schedule"],
                         f"{t['eta_min_ratio']:g} x lr" if t["schedule"] != "constant" else "-",
                         f"{d['val_split']} {100 * d['val_fraction']:g} %", t["ema_decay"] or "-"))
    lines += _table(header, rows)
    lines += ["", "schedule: cosine = annealed per batch over the run; cosine_epoch = CosineAnnealingLR stepped "
              "once per epoch, T_max = epochs (the Noisy-ArcMix code); validation: per_class = that share of each "
              "machine ID's training normals, random = of all training clips (the Noisy-ArcMix code)."]
    return "\n".join(lines)


def _table(header, rows) -> list[str]:
    widths = [max(len(str(x[i])) for x in list(rows) + [header]) for i in range(len(header))]

    def fmt(row):
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()

    return [fmt(header), fmt(tuple("-" * w for w in widths))] + [fmt(r) for r in rows]
