"""A run's configuration, typed: one frozen dataclass per section, one `validate()`.

    RunConfig
      recipe, label, description, preset, seed, device
      data      DataConfig      which clips, how long, how validation is held out
      features  FeaturesConfig  the log-mel front end (a LogMelConfig) and its variant's name
      model     NamedConfig     {"name": registered model, **constructor options}
      loss      NamedConfig     {"name": registered loss, **constructor options}
      mixup     MixupConfig
      train     TrainConfig
      eval      EvalConfig

`to_dict()` gives the plain nested dict written to config.json and into every checkpoint;
`RunConfig.from_dict` reads it back (round-trip tested), refusing unknown keys by name.
Settings are changed by dotted keys (`config.with_settings({"train.epochs": 3})`, the CLI's
`--set train.epochs=3`), which returns a new, validated config; short names (m, s, alpha,
epochs, batch_size, lr, clip_seconds, seed, device) stand for their full keys.  asdcore.recipes
builds each recipe's config from these classes.
"""
from __future__ import annotations

import copy
import json
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields

from .data.classes import CLASS_MODES
from .data.mimii import check_test_normals
from .evaluation.scoring import BACKENDS
from .melspec import LogMelConfig

# Learning-rate schedules: "cosine" anneals per batch from lr to eta_min_ratio x lr over the whole
# run; "cosine_epoch" is torch's CosineAnnealingLR stepped once per epoch with T_max = epochs (the
# Noisy-ArcMix code); "constant" keeps lr.
SCHEDULES = ("cosine", "cosine_epoch", "constant")
# Validation split of the training normals: "per_class" holds out val_fraction of every class
# (every machine ID is validated); "random" holds out val_fraction of all clips at random (the
# Noisy-ArcMix code's random_split).
VAL_SPLITS = ("per_class", "random")
# None, "waveform" (features of the mixed waveform) or "waveform_and_logmel" (waveform and log-mel
# mixed separately, the reference codes' way)
MIXUP_MODES = (None, "waveform", "waveform_and_logmel", "logmel_or_fmix")
THRESHOLD_RULES = ("percentile", "gamma")  # asdcore.alarms (kept here: the config must not import pandas)
OPTIMIZERS = ("adamw", "adam")
SELECTIONS = ("val_loss", "last")  # which weights are evaluated: lowest validation loss, or the last
FEATURE_VARIANTS = {"stgram": LogMelConfig.stgram, "noisy_arcmix": LogMelConfig.noisy_arcmix,
                    "jless_stft": LogMelConfig.jless_stft}

SHORT_KEYS = {"m": "loss.m", "s": "loss.s", "alpha": "mixup.alpha", "epochs": "train.epochs",
              "batch_size": "train.batch_size", "lr": "train.lr", "clip_seconds": "data.clip_seconds",
              "seed": "seed", "device": "device"}


@dataclass(frozen=True)
class DataConfig:
    roots: list[str] = field(default_factory=lambda: ["data/toy"])
    clip_seconds: float = 2.0
    val_fraction: float = 0.1
    val_split: str = "per_class"
    # caps per machine ID (and, for the test clips, per label): tiny runs train and test on a subset
    max_train_clips_per_class: int | None = None
    max_test_clips_per_class: int | None = None
    pad_mode: str = "constant"  # how a short clip is padded to clip_seconds
    channel: int = 0  # which channel of a multi-channel file (MIMII has 8; DCASE 2020 used channel 0)
    # MIMII folders have no train/test split: normal clips per machine ID that go to test (the other
    # normals train); None: as many as its abnormal clips, as DCASE 2020 did (asdcore.data.mimii)
    mimii_test_normals: int | None = None
    # what a classifier's class is: "section" (machine type x ID / section), "attributes" (x attribute
    # values: DCASE 2023, one section per type) or "auto" (asdcore.data.classes says when)
    classes: str = "auto"
    # models that see short log-mel segments (the JLESS system: 64 frames): training crops one random
    # segment per batch, evaluation averages the model's output over a clip's consecutive segments;
    # None: whole clips.  Only for models that read the log-mel alone
    segment_frames: int | None = None
    # read the clips from the root's int16 audio cache (asdcore.data.audio_cache: decoded once for
    # every run, bounded memory); False: decode them into RAM as float32 (train.cache_gb)
    audio_cache: bool = True


@dataclass(frozen=True)
class FeaturesConfig(LogMelConfig):
    """The log-mel settings plus the name of the variant they came from ("stgram": n_fft 1024,
    HTK; "noisy_arcmix": n_fft 2048, slaney scale and norm; "jless_stft": the 512 lowest STFT bins,
    no mel bands)."""

    variant: str = "stgram"

    @classmethod
    def of_variant(cls, variant: str) -> FeaturesConfig:
        if variant not in FEATURE_VARIANTS:
            raise ValueError(f"unknown log-mel variant {variant!r}; known: {', '.join(FEATURE_VARIANTS)}")
        return cls(variant=variant, **FEATURE_VARIANTS[variant]().to_dict())

    def logmel(self) -> LogMelConfig:
        return LogMelConfig.from_dict({k: v for k, v in self.to_dict().items() if k != "variant"})


@dataclass(frozen=True)
class NamedConfig:
    """A registered model or loss: its name and its constructor's keyword arguments."""

    name: str
    options: dict = field(default_factory=dict)

    def get(self, key: str, default=None):
        return self.options.get(key, default)

    def to_dict(self) -> dict:
        return {"name": self.name, **copy.deepcopy(self.options)}

    @classmethod
    def from_dict(cls, d: dict, section: str) -> NamedConfig:
        if not isinstance(d, dict) or "name" not in d:
            raise ValueError(f"{section} must be a mapping with a 'name', got {d!r}")
        return cls(d["name"], {k: v for k, v in d.items() if k != "name"})


@dataclass(frozen=True)
class MixupConfig:
    mode: str | None = None
    alpha: float = 0.5  # lambda ~ Beta(alpha, alpha)
    per_sample: bool = False  # one lambda per sample instead of one per batch
    fmix_decay: float = 3.0  # logmel_or_fmix: FMix's frequency decay (higher = smoother, blobbier masks)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    schedule: str = "cosine"
    eta_min_ratio: float = 0.0
    ema_decay: float | None = None  # evaluate an exponential moving average of the weights (OS-SCL)
    # the EMA's decay after t updates is min(ema_decay, (1 + t) / (10 + t)) (TensorFlow's
    # ExponentialMovingAverage with num_updates): a run of a few hundred steps then averages its
    # recent weights; at a fixed 0.99 an EMA of 144 steps still holds 0.99^144 = 24 % of its first
    ema_warmup: bool = False
    select: str = "val_loss"
    bn_refresh_clips: int | None = None  # training clips that refresh the EMA's BatchNorm statistics
    amp: str | None = "bf16"  # autocast on CUDA
    channels_last: bool = True
    num_workers: int = 0
    cache_gb: float = 3.0  # decoded waveforms kept in RAM (data.audio_cache off only)
    # torch.compile the model (in place): on a 2-core CPU a training step of TASTgram-MFN is 1.4x
    # (2 s clips) to 2.4x (10 s clips) as fast after about a minute of compiling (make bench); the
    # paper preset turns it on, the short presets do not (the minute is most of their gain)
    compile: bool = False
    # PReLU's training backward on a CPU as one compiled pass (asdcore/models/fused_prelu.py): torch's
    # own kernel was 30 % of a TASTgram-MFN step; 77 -> 94 clips/s for seconds of compiling once per
    # process, so the quick preset turns it on and tiny does not (unused under train.compile, which
    # fuses the whole model)
    fused_prelu: bool = False
    # each process's share of a batch trained in this many pieces, their gradients accumulated:
    # one process with micro_batches = N steps as N processes under torchrun do
    # (asdcore.training.distributed), and a large batch fits a small GPU
    micro_batches: int = 1
    # every batch holds clips of both the source and the target domain (the JLESS system), the few
    # target clips drawn again as often as needed; off: plain shuffling
    batch_mixing: bool = False
    # also keep the weights of every N-th epoch (and the last) in snapshots/epoch-NNN.pt: the
    # sub-cluster AdaCos ensemble sums the scores of snapshots taken every 100 of 400 epochs
    snapshot_every: int | None = None


@dataclass(frozen=True)
class EvalConfig:
    backend: str = "softmax"  # the default anomaly score
    backends: list[str] = field(default_factory=lambda: list(BACKENDS))
    knn_k: int = 1
    lof_neighbors: int = 20  # LOF's n_neighbors (sklearn's default; the JLESS system uses 4)
    # how the app's false-alarm thresholds are set by default: "percentile" (empirical) or "gamma"
    # (the percentile of a gamma fitted to the reference scores: the DCASE baselines, JLESS)
    threshold_rule: str = "percentile"
    # machine types whose source clips get eq. 4's term in the subcluster back-end: a Gaussian per
    # attribute class on the clip's temporal maximum of the log-mel (the sub-cluster AdaCos system: valve)
    tmax_types: list[str] = field(default_factory=list)
    umap: bool = True
    umap_neighbors: int = 15
    batch_size: int = 64


ENSEMBLE_BACKENDS = ("ensemble", "ensemble_sections", "ensemble_choice")  # asdcore.ensemble's scores


@dataclass(frozen=True)
class EnsembleConfig:
    """The sub-cluster AdaCos system's ensemble (asdcore.ensemble): one member network per number of
    sub-clusters (the report's 2^0..2^4), each scored at its snapshots (train.snapshot_every), the
    scores summed.  Empty: a single network (every other recipe)."""

    subclusters: list[int] = field(default_factory=list)


SECTIONS = {"data": DataConfig, "features": FeaturesConfig, "model": NamedConfig, "loss": NamedConfig,
            "mixup": MixupConfig, "train": TrainConfig, "eval": EvalConfig, "ensemble": EnsembleConfig}


@dataclass(frozen=True)
class RunConfig:
    recipe: str
    model: NamedConfig
    loss: NamedConfig
    label: str = ""
    description: str = ""
    preset: str | None = None
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda" or "cuda:N"
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    mixup: MixupConfig = field(default_factory=MixupConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)

    # --- plain data: config.json and checkpoints ------------------------------------------------
    def to_dict(self) -> dict:
        out = {"recipe": self.recipe, "label": self.label, "description": self.description,
               "preset": self.preset, "seed": self.seed, "device": self.device}
        for name in SECTIONS:
            section = getattr(self, name)
            out[name] = section.to_dict() if isinstance(section, (NamedConfig, LogMelConfig)) else asdict(section)
        return copy.deepcopy(out)

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """The config of a dict as to_dict writes it; an unknown key is an error naming it.  Keys
        missing from the dict take their defaults (a run written before they existed)."""
        if not isinstance(d, dict):
            raise ValueError(f"a run config is a mapping, got {type(d).__name__}")
        top = {f.name for f in fields(cls)} - set(SECTIONS)
        _refuse_unknown(d, top | set(SECTIONS), "top level")
        kwargs = {k: copy.deepcopy(v) for k, v in d.items() if k in top}
        for name, section in SECTIONS.items():
            if section is NamedConfig:
                if name not in d:
                    raise ValueError(f"the run config has no {name!r} section")
                kwargs[name] = NamedConfig.from_dict(copy.deepcopy(d[name]), name)
            elif name in d:
                values = d[name]
                if not isinstance(values, dict):
                    raise ValueError(f"{name} must be a mapping, got {values!r}")
                _refuse_unknown(values, {f.name for f in fields(section)}, name)
                kwargs[name] = section(**copy.deepcopy(values))
        return cls(**kwargs)

    # --- changes by dotted key ----------------------------------------------------------------
    def with_settings(self, settings: dict | None) -> RunConfig:
        """A new config with {dotted key: value} applied in order, validated.  Where the settings
        touch the model or the loss, their names and options are checked against the registry."""
        d = self.to_dict()
        before = {section: d[section].get("name") for section in ("model", "loss")}
        for key, value in (settings or {}).items():
            set_dotted(d, key, value)
        _drop_options_of_the_replaced(d, before, settings or {})
        config = RunConfig.from_dict(d)
        config.validate()
        sections = {SHORT_KEYS.get(key, key).split(".")[0] for key in settings or {}}
        if sections & {"model", "loss"}:
            config.check_model_and_loss()
        return config

    def get(self, key: str):
        """The value at a dotted key (short names accepted)."""
        node = self.to_dict()
        for part in SHORT_KEYS.get(key, key).split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(f"unknown setting {key!r}")
            node = node[part]
        return node

    # --- the one validation ------------------------------------------------------------------
    def validate(self) -> None:
        """Clear errors for values of the wrong type or that cannot work, naming the setting."""
        for name, hint in typing.get_type_hints(RunConfig).items():
            if name not in SECTIONS:
                _check_type(name, getattr(self, name), hint)
        for name in SECTIONS:
            section = getattr(self, name)
            if isinstance(section, NamedConfig):
                continue
            for key, hint in typing.get_type_hints(type(section)).items():
                _check_type(f"{name}.{key}", getattr(section, key), hint)
        d, t, e = self.data, self.train, self.eval
        if t.epochs < 1:
            raise ValueError(f"train.epochs must be >= 1, got {t.epochs}")
        if t.batch_size < 2:
            raise ValueError(f"train.batch_size must be >= 2 (mixup and SupCon need pairs), got {t.batch_size}")
        if not isinstance(t.micro_batches, int) or t.micro_batches < 1 or t.batch_size < 2 * t.micro_batches:
            raise ValueError(f"train.micro_batches must be an integer from 1 to batch_size / 2 (each piece needs "
                             f"two clips for BatchNorm), got {t.micro_batches} with batch_size {t.batch_size}")
        if t.lr <= 0:
            raise ValueError(f"train.lr must be > 0, got {t.lr}")
        if t.snapshot_every is not None and t.snapshot_every < 1:
            raise ValueError(f"train.snapshot_every must be >= 1 epoch (or null: no snapshots), got {t.snapshot_every}")
        if d.channel < 0:
            raise ValueError(f"data.channel counts from 0, got {d.channel}")
        check_test_normals(d.mimii_test_normals)
        if d.clip_seconds <= 0.1:
            raise ValueError(f"data.clip_seconds must be > 0.1 s, got {d.clip_seconds}")
        _check_choice("mixup.mode", self.mixup.mode, MIXUP_MODES)
        _check_choice("train.schedule", t.schedule, SCHEDULES)
        _check_choice("train.optimizer", t.optimizer, OPTIMIZERS)
        if not 0 <= t.eta_min_ratio <= 1:
            raise ValueError(f"train.eta_min_ratio must be in [0, 1], got {t.eta_min_ratio}")
        _check_choice("data.val_split", d.val_split, VAL_SPLITS)
        _check_choice("data.classes", d.classes, CLASS_MODES)
        if d.segment_frames is not None and d.segment_frames < 8:
            raise ValueError(f"data.segment_frames must be at least 8 frames (or null), got {d.segment_frames}")
        if not 0 <= d.val_fraction < 1:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {d.val_fraction}")
        _check_choice("train.select", t.select, SELECTIONS)
        if "m" in self.loss.options and not 0 <= float(self.loss.options["m"]) < math.pi:
            raise ValueError(f"loss.m must be an angle in radians in [0, pi), got {self.loss.options['m']}")
        if t.ema_decay is not None and not 0 < t.ema_decay < 1:
            raise ValueError(f"train.ema_decay must be in (0, 1) or null, got {t.ema_decay}")
        if self.features.variant not in FEATURE_VARIANTS:
            raise ValueError(f"features.variant must be one of {', '.join(FEATURE_VARIANTS)}, "
                             f"got {self.features.variant!r}")
        known_backends = (*BACKENDS, "reconstruction", "subcluster", *ENSEMBLE_BACKENDS)
        for b in [e.backend, *e.backends]:
            _check_choice("eval.backend(s)", b, known_backends)
        _check_choice("eval.threshold_rule", e.threshold_rule, THRESHOLD_RULES)
        k = self.ensemble.subclusters
        if any(not isinstance(n, int) or n < 1 for n in k) or len(set(k)) != len(k):
            raise ValueError(f"ensemble.subclusters must be distinct whole numbers >= 1 (the report's 1, 2, 4, 8, 16), "
                             f"got {k}")
        if k and "num_subclusters" not in self.loss.options:
            raise ValueError(f"ensemble.subclusters needs a sub-cluster AdaCos loss (loss.num_subclusters), "
                             f"got loss {self.loss.name!r}")
        if (e.backend in ENSEMBLE_BACKENDS) != bool(k):
            raise ValueError(f"eval.backend {e.backend!r} and ensemble.subclusters {k} do not go together: the "
                             f"ensemble back-ends ({', '.join(ENSEMBLE_BACKENDS)}) score ensembles only")
        if e.lof_neighbors < 1:
            raise ValueError(f"eval.lof_neighbors must be >= 1, got {e.lof_neighbors}")
        if e.knn_k < 1 or e.batch_size < 1 or e.umap_neighbors < 2:
            raise ValueError(f"eval.knn_k and eval.batch_size must be >= 1 and eval.umap_neighbors >= 2, got "
                             f"{e.knn_k}, {e.batch_size}, {e.umap_neighbors}")

    def check_model_and_loss(self) -> None:
        """The model and the loss are registered and take the options given (a typo is named).
        Separate from validate(): it imports the registry, hence torch, which the app's pages
        that only read recipes must not wait for; building a run's model checks them anyway."""
        from .registry import LOSSES, MODELS  # torch: only when a model or loss setting changed

        _check_named(self.model, "model", MODELS)
        _check_named(self.loss, "loss", LOSSES)


def set_dotted(config: dict, key: str, value) -> None:
    """config["a"]["b"] = value for key "a.b" in a config's plain dict; unknown keys are an error
    (typos must not pass).  model.* and loss.* take any option name: validate() checks it
    against the registered constructor."""
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


def parse_value(text: str):
    """`--set` values: JSON where it parses (numbers, true/false/null, lists), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _drop_options_of_the_replaced(d: dict, before: dict, settings: dict) -> None:
    """Where the settings replace the model or the loss (`--set loss.name=focal` on a margin recipe),
    the old one's options that the new one does not take (ArcFace's m) go with it; an option named
    in the same settings stays, and is checked against the new one."""
    replaced = [section for section in ("model", "loss") if d[section].get("name") != before[section]]
    if not replaced:
        return  # the registry imports torch (seconds): only a replacement needs it
    from .registry import LOSSES, MODELS, accepted_options  # see check_model_and_loss

    given = {SHORT_KEYS.get(k, k) for k in settings}
    for section in replaced:
        registry = MODELS if section == "model" else LOSSES
        name = d[section].get("name")
        if name not in registry:
            continue  # unknown: check_model_and_loss names the problem
        accepted = accepted_options(registry[name])
        for option in [k for k in d[section] if k != "name"]:
            if option not in accepted and f"{section}.{option}" not in given:
                del d[section][option]


def _refuse_unknown(values: dict, known: set, where: str) -> None:
    unknown = sorted(set(values) - known)
    if unknown:
        raise KeyError(f"unknown setting(s) {', '.join(unknown)} in {where}; known: {', '.join(sorted(known))}")


def _check_choice(key: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{key} must be one of {', '.join(map(str, choices))}, got {value!r}")


def _check_type(key: str, value, hint) -> None:
    """value fits the annotation: int for int (not bool), int or float for float, a list of the
    element type, None where Optional."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return
    for option in options:
        origin = typing.get_origin(option)
        if origin is list and isinstance(value, list):
            (element,) = typing.get_args(option)
            if all(isinstance(v, element) for v in value):
                return
        elif option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return
        elif option is int and isinstance(value, int) and not isinstance(value, bool):
            return
        elif option in (str, bool) and isinstance(value, option):
            return
    wanted = " or ".join("null" if o is type(None) else getattr(o, "__name__", str(o)) for o in options)
    raise ValueError(f"{key} must be {wanted}, got {value!r}")


def _check_named(section: NamedConfig, key: str, registry: dict) -> None:
    from .registry import accepted_options  # see check_model_and_loss

    if section.name not in registry:
        raise ValueError(f"unknown {key} {section.name!r}; known: {', '.join(registry)}")
    accepted = accepted_options(registry[section.name])
    unknown = sorted(set(section.options) - accepted)
    if unknown:
        raise KeyError(f"unknown setting(s) {', '.join(f'{key}.{u}' for u in unknown)} for {key} "
                       f"{section.name!r}; known: {', '.join(sorted(accepted))}")

