"""Recipes: the seed papers' methods as typed run configs, each with tiny / quick / paper presets.

A recipe is a RunConfig (asdcore.config) with the model, the loss, the mixup, the log-mel
variant and the default scoring back-end of its method; a preset sets the training budget.
`resolve(recipe, preset, overrides)` applies the preset and the overrides to the recipe's
config and validates it: the run's configuration (saved as config.json and in every checkpoint).

    tiny   seconds on a CPU: tests and demos (2 s clips, 2 epochs, at most 8 clips per class)
    quick  sized for the default toy data on a 2-core CPU (2 s clips, a few minutes a run)
    paper  the papers' settings: 10 s clips, batch 64, AdamW lr 1e-4, cosine schedule,
           300 epochs, s 30, m 0.7 (0.4 for OS-SCL TFSTgram), alpha 0.5, EMA 0.9999 for OS-SCL;
           the recipes of the Noisy-ArcMix paper follow its code (NOISY_ARCMIX_CODE below)

Overrides are dotted keys (`loss.m=0.5`, `train.epochs=3`); the short names m, s, alpha,
epochs, batch_size, lr, clip_seconds and seed are accepted too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .config import (ENSEMBLE_BACKENDS, EnsembleConfig, EvalConfig, FeaturesConfig, MixupConfig, NamedConfig, RunConfig,
                     TrainConfig)


@dataclass(frozen=True)
class Recipe:
    """A method: its run configuration before any preset, and what it changes in some presets."""

    config: RunConfig
    per_preset: dict = field(default_factory=dict)  # preset -> {dotted key: value} for this recipe

    # what tables and the app show of a recipe
    name = property(lambda self: self.config.recipe)
    label = property(lambda self: self.config.label)  # in the papers' words
    description = property(lambda self: self.config.description)
    model = property(lambda self: self.config.model.to_dict())
    loss = property(lambda self: self.config.loss.to_dict())
    mixup = property(lambda self: self.config.mixup.mode)  # None, "waveform" or "waveform_and_logmel"
    features = property(lambda self: self.config.features.variant)  # "stgram", "noisy_arcmix" or "jless_stft"
    backend = property(lambda self: self.config.eval.backend)  # the default anomaly score
    ema = property(lambda self: self.config.train.ema_decay is not None)  # evaluates an EMA of the weights
    # tells classes apart (needs two or more, asdcore.data.classes); the autoencoder, scored by its
    # reconstruction error, learns from one machine
    classifier = property(lambda self: self.config.eval.backend != "reconstruction")


def recipe(name: str, label: str, description: str, model: dict, loss: dict, mixup: str | None = None,
           features: str = "stgram", backend: str = "softmax", ema: bool = False,
           per_preset: dict | None = None, settings: dict | None = None, extra_backends=(),
           ensemble=()) -> Recipe:
    """A recipe's config: the engine's defaults with the method's model, loss, mixup, log-mel
    variant and back-end, then `settings` ({dotted key: value}, in every preset).  OS-SCL's EMA:
    decay 0.9999, BatchNorm statistics from 512 clips."""
    config = RunConfig(
        recipe=name, label=label, description=description,
        model=NamedConfig.from_dict(model, "model"), loss=NamedConfig.from_dict(loss, "loss"),
        features=FeaturesConfig.of_variant(features), mixup=MixupConfig(mode=mixup),
        train=TrainConfig(ema_decay=0.9999 if ema else None, bn_refresh_clips=512 if ema else None),
        eval=EvalConfig(backend=backend, backends=["reconstruction"] if backend == "reconstruction" else
                        list(ENSEMBLE_BACKENDS) if ensemble else ["softmax", "cosine", "gmm", "knn", "lof",
                                                                   *extra_backends]),
        ensemble=EnsembleConfig(subclusters=list(ensemble)))
    config.validate()
    if settings:
        config = config.with_settings(settings)
    return Recipe(config, per_preset or {})


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
    return recipe(name, label, description, model, loss, mixup="waveform_and_logmel" if mixup else None,
                  features="noisy_arcmix", per_preset={"paper": NOISY_ARCMIX_CODE})


_RECIPES = [
    recipe("stgram-ce", "STgram-MFN (CE)", "STgram-MFN trained with cross-entropy on scaled cosines, no margin",
           {"name": "stgram_mfn"}, {"name": "ce", "s": 30.0}),
    recipe("stgram-arcface", "STgram-MFN (ArcFace)", "STgram-MFN with ArcFace (Liu et al., ICASSP 2022)",
           {"name": "stgram_mfn"}, _margin("arcface")),
    recipe("stgram-arcmix", "STgram-MFN (ArcMix)", "STgram-MFN with ArcMix: margins on both mixup partners",
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
    # OS-SCL's SupCon term slows a short run (docs/04-bundled-results.md, learning curves): the quick
    # preset gives Log-Mel (OS-SCL) 9 epochs: about 5.7 minutes at the 33 s per epoch of the 2026-12-03
    # bundling, 10.3 on the slower VM of 2026-12-05 (docs/04-bundled-results.md)
    recipe("logmel-osscl", "Log-Mel (OS-SCL)", "OS-SCL on one log-mel channel with a LeakyReLU FPH",
           {"name": "logmel_mfn"}, _margin("osscl"), mixup="waveform", features="noisy_arcmix", ema=True,
           per_preset={"quick": {"train.epochs": 9}}),
    # its TFgram branch (1-D convolutions over the waveform) trains at 2.5x the others' time per clip on
    # a CPU: the quick preset trains 4 epochs (about 8 minutes estimated at 2026-12-03's speed; not yet timed)
    recipe("tfstgram-osscl", "TFSTgram (OS-SCL)", "OS-SCL's TFSTgram-MFN with FPH, SupCon + Noisy-ArcMix, m 0.4",
           {"name": "tfstgram_mfn"}, _margin("osscl", m=0.4), mixup="waveform", features="noisy_arcmix", ema=True,
           per_preset={"quick": {"train.epochs": 4}}),
    # The sub-cluster AdaCos system (Wilkinghoff, DCASE 2021; ../shared/REFERENCE.md, "Domain-shift
    # systems"): its ResNet on the standardised log-mel (window 1024, hop 512, 128 bins), a section
    # head and an attribute head of sub-cluster AdaCos with equal weights, mixup of the log-mels with
    # lam ~ U(0, 1) = Beta(1, 1) per clip, Adam; scored by eqs. 2-3 on data with domains (elsewhere by
    # a GMM per class, the sub-cluster AdaCos back-end of DCASE 2020).  Four sub-clusters per class:
    # one member of the report's 2^0..2^4 ensemble (subcluster-adacos-ensemble, below).  Eq. 4's valve
    # term is an option (--set 'eval.tmax_types=["valve"]'), off: on the toy valves it drowns eq. 2
    # (source AUC 95 -> 36, README).
    recipe("subcluster-adacos", "Sub-cluster AdaCos system (DCASE 2021)",
           "Wilkinghoff's DCASE 2021 system: ResNet, section + attribute sub-cluster AdaCos heads, GMM scores "
           "per section and domain (eqs. 2-3)",
           {"name": "subcluster_resnet", "num_subcentres": 4, "attribute_head": True},
           {"name": "subcluster_adacos_two_heads", "num_subclusters": 4}, mixup="waveform_and_logmel",
           backend="subcluster",
           settings={"mixup.alpha": 1.0, "mixup.per_sample": True, "train.optimizer": "adam",
                     "train.weight_decay": 0.0},
           # its ResNet trains at ~400 clips/s on 2 s clips on 2 CPU cores (10x MobileFaceNet): the
           # quick preset affords 20 epochs in the same few minutes (7 left its validation loss falling)
           per_preset={"quick": {"train.epochs": 20},
                       "paper": {"train.epochs": 400, "train.batch_size": 64, "train.lr": 1e-3,
                                 "train.schedule": "constant"}}),
    # The same system's ensemble (the report's final systems; asdcore.jobs.ensemble and
    # asdcore.evaluation.ensemble): one network per number of sub-clusters 2^0..2^4, each scored at
    # snapshots of its weights (every 100 of 400 epochs in the report; every 10 of the quick preset's
    # 20, the single network's budget, so it costs five single runs), the scores of eqs. 2-3 summed;
    # per machine type the report kept the better of "both heads" and "sections head only".
    recipe("subcluster-adacos-ensemble", "Sub-cluster AdaCos ensemble (DCASE 2021)",
           "Wilkinghoff's DCASE 2021 ensemble: sub-cluster AdaCos networks with 1, 2, 4, 8 and 16 sub-clusters, "
           "scored at snapshots of their weights, the scores of eqs. 2-3 summed (angles and maps: its "
           "4-sub-cluster member)",
           {"name": "subcluster_resnet", "num_subcentres": 4, "attribute_head": True},
           {"name": "subcluster_adacos_two_heads", "num_subclusters": 4}, mixup="waveform_and_logmel",
           backend="ensemble", ensemble=[1, 2, 4, 8, 16],
           settings={"mixup.alpha": 1.0, "mixup.per_sample": True, "train.optimizer": "adam",
                     "train.weight_decay": 0.0, "train.snapshot_every": 10},
           per_preset={"tiny": {"ensemble.subclusters": [1, 2], "train.snapshot_every": 1},
                       "quick": {"train.epochs": 20},
                       "paper": {"train.epochs": 400, "train.batch_size": 64, "train.lr": 1e-3,
                                 "train.schedule": "constant", "train.snapshot_every": 100}}),
    # The JLESS system (DCASE 2022): MobileFaceNet with the original table on the log-mel alone,
    # ArcFace, batches holding both domains, mixup or FMix of the log-mels; scored by log-softmax with
    # a gamma-fitted threshold, LOF with 4 neighbours and the cosine distance to the section's mean.
    # Segments of 64 frames (128 x 64): training crops one per batch, evaluation averages the
    # embedding and the cosines over a clip's segments (a 2 s clip, 63 frames, is one segment).
    recipe("jless-mfn", "JLESS system (DCASE 2022)",
           "The JLESS DCASE 2022 system: log-mel MobileFaceNet, ArcFace, batch mixing of the domains, "
           "mixup/FMix; log-softmax, LOF (k 4) and mean-cosine scores",
           {"name": "logmel_mfn", "feature_perturbation_head": None, "bottlenecks": "original"},
           # ArcFace on mixed batches: lam CE(y_a) + (1 - lam) CE(y_b), margins at both labels, which
           # is the arcmix loss here (plain arcface refuses mixup partners)
           _margin("arcmix"), mixup="logmel_or_fmix", extra_backends=("mean_cosine",),
           settings={"mixup.alpha": 1.0, "train.batch_mixing": True, "eval.lof_neighbors": 4,
                     "eval.threshold_rule": "gamma", "data.segment_frames": 64}),
    # The same system on its other input (the JLESS report's second row): the STFT's 512 lowest bins
    # in dB, segments of 32 frames (512 x 32); the MobileFaceNet's GDC kernel follows the input size.
    recipe("jless-mfn-stft", "JLESS system, STFT input (DCASE 2022)",
           "The JLESS DCASE 2022 system on its STFT input (512 bins x 32 frames) instead of the log-mel",
           {"name": "logmel_mfn", "feature_perturbation_head": None, "bottlenecks": "original"},
           _margin("arcmix"), mixup="logmel_or_fmix", extra_backends=("mean_cosine",), features="jless_stft",
           settings={"mixup.alpha": 1.0, "train.batch_mixing": True, "eval.lof_neighbors": 4,
                     "eval.threshold_rule": "gamma", "data.segment_frames": 32}),
    recipe("dcase-ae", "DCASE 2020 AE baseline",
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
             "train.epochs": 2, "train.batch_size": 16, "train.lr": 1e-3, "train.ema_decay": 0.9,
             "train.ema_warmup": True},
    # the EMA (OS-SCL's recipes): at 0.99 the average of a run of a few hundred steps trailed the
    # weights it averages by 2-5 AUC points at the end, at 0.95 by 1 (learning curves, docs/04)
    "quick": {"data.clip_seconds": 2.0, "train.epochs": 7, "train.batch_size": 32, "train.lr": 1e-3,
              "train.ema_decay": 0.95, "train.ema_warmup": True, "train.fused_prelu": True},
    "paper": {"data.clip_seconds": 10.0, "train.epochs": 300, "train.batch_size": 64, "train.lr": 1e-4,
              "train.ema_decay": 0.9999, "train.compile": True},
}

# What each preset is for, as the app and the CLI say it; the numbers come from PRESETS itself.
PRESET_PURPOSES = {
    "tiny": "seconds on a CPU: a smoke test, at most 8 clips per class",
    "quick": "a few minutes on a 2-core CPU with the default toy data",
    "paper": "the papers' settings: hours on a GPU, days on a CPU",
}


def describe_preset(preset: str) -> str:
    """One line: what the preset is for and its training budget (clip length, epochs, batch, lr)."""
    p = PRESETS[preset]
    return (f"{PRESET_PURPOSES[preset]} ({p['data.clip_seconds']:g} s clips, {p['train.epochs']} epochs, "
            f"batch {p['train.batch_size']}, lr {p['train.lr']:g}; some recipes differ: `asdcore recipes`)")

def resolve(recipe_name: str, preset: str = "quick", overrides: dict | None = None) -> RunConfig:
    """The run configuration: recipe, then preset, then the recipe's own preset tweaks, then
    overrides (dotted keys or short names), validated."""
    if recipe_name not in RECIPES:
        raise KeyError(f"unknown recipe {recipe_name!r}; known: {', '.join(RECIPES)}")
    if preset not in PRESETS:
        raise KeyError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    recipe = RECIPES[recipe_name]
    # a preset's EMA settings apply only to recipes that use an EMA
    preset_settings = {k: v for k, v in PRESETS[preset].items()
                       if recipe.ema or k not in ("train.ema_decay", "train.ema_warmup")}
    return recipe.config.with_settings({"preset": preset, **preset_settings, **recipe.per_preset.get(preset, {}),
                                        **(overrides or {})})


def recipes_table() -> str:
    """`python -m asdcore recipes`: each recipe's model, loss, mixup, log-mel and score, then each
    preset's training settings per recipe (where a recipe's preset differs from the others, it shows)."""
    rows = [(r.name, r.model["name"], r.loss["name"], r.mixup or "-", r.features, r.backend, r.description)
            for r in RECIPES.values()]
    header = ("recipe", "model", "loss", "mixup", "log-mel", "score", "description")
    lines = _table(header, rows)
    lines += ["", "mixup: waveform = features of the mixed waveform; waveform_and_logmel = waveform and log-mel "
              "mixed separately (the Noisy-ArcMix code).",
              "log-mel: stgram = n_fft 1024, HTK, no filter norm (STgram-MFN code); jless_stft = the 512 lowest "
              "STFT bins of n_fft 1024 in dB, no mel bands (the JLESS system's STFT input); noisy_arcmix = n_fft 2048, "
              "slaney scale and norm, 10*log10(x + eps) (Noisy-ArcMix / OS-SCL code).",
              "classes (every recipe but dcase-ae): one per machine type x machine ID (DCASE 2020, MIMII) or "
              "section (DCASE 2021-2022: both domains of a section share its class); where every machine type "
              "has a single section (DCASE 2023), one per attribute combination of the training normals "
              "(data.classes=auto|section|attributes). Data with a single class is refused: train dcase-ae.", ""]
    header = ("recipe", "preset", "clip s", "epochs", "batch", "optimizer", "lr", "weight decay", "schedule",
              "eta_min", "validation", "EMA")
    rows = []
    for name in RECIPES:
        for preset in PRESETS:
            c = resolve(name, preset)
            d, t = c.data, c.train
            rows.append((name, preset, f"{d.clip_seconds:g}", t.epochs, t.batch_size, t.optimizer,
                         f"{t.lr:g}", f"{t.weight_decay:g}", t.schedule,
                         f"{t.eta_min_ratio:g} x lr" if t.schedule != "constant" else "-",
                         f"{d.val_split} {100 * d.val_fraction:g} %",
                         f"{t.ema_decay:g}" + (" warm-up" if t.ema_warmup else "") if t.ema_decay else "-"))
    lines += _table(header, rows)
    lines += ["", "schedule: cosine = annealed per batch over the run; cosine_epoch = CosineAnnealingLR stepped "
              "once per epoch, T_max = epochs (the Noisy-ArcMix code); validation: per_class = that share of each "
              "machine ID's training normals, random = of all training clips (the Noisy-ArcMix code); EMA: the decay of "
              "the evaluated moving average of the weights; warm-up = decay min(d, (1 + t) / (10 + t)) after t "
              "updates, so that a short run's average forgets its random start."]
    return "\n".join(lines)


def _table(header, rows) -> list[str]:
    widths = [max(len(str(x[i])) for x in list(rows) + [header]) for i in range(len(header))]

    def fmt(row):
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()

    return [fmt(header), fmt(tuple("-" * w for w in widths))] + [fmt(r) for r in rows]
