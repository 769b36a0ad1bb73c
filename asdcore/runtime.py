"""What training and evaluation both need, below both of them: the device, the data splits, the
waveform cache, the model built from a run's config, mixed precision, and the run folder's weight
files.  asdcore.training.loop and asdcore.evaluation.evaluate import from here, and analysis never imports train.
"""
from __future__ import annotations

import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import RunConfig
from .data import load_clip, scan_dataset
from .data.audio_cache import AudioCache
from .data.check import no_training_normals
from .data.classes import assign_classes, check_classes, choose_class_mode
from .data.dataset import Problem
from .data.records import ClipRecord
from .features import LogMelConfig
from .models.output import ModelOutput
from .registry import create_model, model_kind
from .runs import resolve_root


CHECKPOINT = "checkpoint.pt"
SELECTED = "model.pt"
SNAPSHOTS = "snapshots"  # snapshots/epoch-NNN.pt: weights kept every train.snapshot_every epochs

# --- devices ------------------------------------------------------------------------------------

def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' asked for, but torch sees no CUDA device here")
    return torch.device(name)


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


# --- data ---------------------------------------------------------------------------------------

@dataclass
class Splits:
    train: list[ClipRecord]  # training normals used for gradient steps
    val: list[ClipRecord]  # held-out training normals (model selection)
    test: list[ClipRecord]  # labelled test clips
    classes: list[tuple[str, str]]
    roots: list[str]
    class_mode: str = "section"  # what a class is (asdcore.data.classes)
    unlabelled: list[ClipRecord] = field(default_factory=list)  # test clips without a label (evaluation sets)
    # test clips of machine IDs / sections with no training normal: no model learnt them, so they
    # are neither classes nor scored, and the evaluation names them (untrained_counts)
    untrained: list[ClipRecord] = field(default_factory=list)
    # files of the roots that cannot be used (not audio, empty, truncated, NaN samples, a name no
    # layout knows): skipped, so the good clips still train, and named in train.log and metrics.json
    skipped: list[Problem] = field(default_factory=list)

    def untrained_counts(self) -> dict[str, int]:
        """{"fan id_00": test clips, ...} of the machine IDs / sections left out as untrained."""
        out: dict[str, int] = {}
        for r in self.untrained:
            key = f"{r.machine_type} {r.machine_id}"
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))

    def skipped_lines(self) -> list[str]:
        """["<path>: <why it cannot be used>", ...] of the skipped files."""
        return [str(p) for p in self.skipped]


def split_train_val(records: list[ClipRecord], fraction: float, seed: int,
                    max_per_class: int | None = None, mode: str = "per_class"
                    ) -> tuple[list[ClipRecord], list[ClipRecord]]:
    """Hold out a seeded random `fraction` of the training normals for validation.

    mode "per_class": that fraction of every class (at least one clip of each class with 2+), so
    every machine ID is validated; "random": that fraction of all clips at random, as the
    Noisy-ArcMix code's random_split does (a class may then have no validation clip).
    `max_per_class` caps what is used at all (per class, before the split)."""
    rng = random.Random(seed)
    by_class: dict[int, list[ClipRecord]] = {}
    for r in sorted(records, key=lambda r: (r.root, r.relpath)):
        by_class.setdefault(r.class_index, []).append(r)
    kept = []
    for k in sorted(by_class):
        clips = by_class[k][:]
        rng.shuffle(clips)
        kept.append(clips[:max_per_class] if max_per_class else clips)
    if mode == "random":
        clips = [r for group in kept for r in group]
        rng.shuffle(clips)
        n_val = round(fraction * len(clips)) if len(clips) >= 2 else 0
        return clips[n_val:], clips[:n_val]
    train, val = [], []
    for clips in kept:
        n_val = max(1, round(fraction * len(clips))) if len(clips) >= 2 and fraction > 0 else 0
        val += clips[:n_val]
        train += clips[n_val:]
    return train, val


def prepare_splits(config: RunConfig) -> Splits:
    roots = [str(resolve_root(r)) for r in config.data.roots]
    for root in roots:
        if not Path(root).is_dir():
            hint = " (run `make data` to make the default toy data set)" if root.endswith("data/toy") else ""
            raise FileNotFoundError(f"data root {root} does not exist{hint}")
    # every header is read (~0.5 ms a file), so that a bad file is skipped and named here rather
    # than ending the run when its batch comes
    d = config.data
    ds = scan_dataset(roots, mimii_test_normals=d.mimii_test_normals)
    normals = ds.select(split="train", label="normal")
    if not normals:
        # the data check's own text: the training-file pattern of the layout found, and what to add
        skipped = (f" {len(ds.problems)} file(s) were skipped as unusable, e.g. {ds.problems[0]}."
                   if ds.problems else "")
        split = "" if d.mimii_test_normals is None else f" --mimii-test-normals {d.mimii_test_normals}"
        raise ValueError(f"{no_training_normals(ds, d.mimii_test_normals)}{skipped} "
                         f"(run `python -m asdcore data check {' '.join(roots)}{split}`)")
    # a test clip of a machine ID / section without training normals: no model saw that machine, so
    # it is set aside (not a class, not scored) rather than scored as if it had been learnt
    trained = {(r.machine_type, r.machine_id) for r in normals}
    untrained = [r for r in ds.records if (r.machine_type, r.machine_id) not in trained]
    class_mode = choose_class_mode(normals, d.classes)
    records, classes = assign_classes([r for r in ds.records if (r.machine_type, r.machine_id) in trained],
                                      class_mode)
    normals = [r for r in records if r.split == "train" and r.label == "normal"]
    if model_kind(config.model.name) == "classifier":  # the autoencoder learns from one machine too
        check_classes(normals, classes, config.recipe or config.model.name)
    train, val = split_train_val(normals, d.val_fraction, config.seed, d.max_train_clips_per_class, d.val_split)
    test = [r for r in records if r.split == "test" and r.label is not None]
    # evaluation-set clips (no label in the name): scored, never counted in the metrics
    unlabelled = [r for r in records if r.split == "test" and r.label is None]
    if d.max_test_clips_per_class:  # tiny runs evaluate on a subset
        test = _cap_test(test, d.max_test_clips_per_class, config.seed)
        unlabelled = _cap_test(unlabelled, d.max_test_clips_per_class, config.seed)
    return Splits(train=train, val=val, test=test, classes=classes, roots=roots, class_mode=class_mode,
                  unlabelled=unlabelled, untrained=untrained, skipped=list(ds.problems))


def _cap_test(test: list[ClipRecord], per_class: int, seed: int) -> list[ClipRecord]:
    rng = random.Random(seed)
    out = []
    for key in sorted({(r.class_index, r.label) for r in test}):
        group = sorted((r for r in test if (r.class_index, r.label) == key), key=lambda r: r.relpath)
        rng.shuffle(group)
        out += group[:per_class]
    return out


class Waveforms:
    """Clips as float32 batches (N, samples).

    With `audio_cache` (data.audio_cache, the default) every batch is read from the data root's
    int16 audio cache (asdcore.data.audio_cache), decoded once for every run on that root: the
    process holds no copy of the data set, whatever its size.  Without it, the clips are decoded
    into RAM as float32 when they fit in `cache_gb` (the reference codes' way), else decoded from
    their files batch by batch."""

    def __init__(self, records: list[ClipRecord], clip_seconds: float, pad_mode: str = "constant",
                 cache_gb: float = 3.0, channel: int = 0, audio_cache: bool = False, on_clip=None):
        self.records = records
        self.clip_seconds = clip_seconds
        self.pad_mode = pad_mode
        self.channel = channel
        self.n_samples = int(round(clip_seconds * 16000))
        self._data = None
        self._caches: dict[str, AudioCache] = {}
        if audio_cache:
            try:
                for root in dict.fromkeys(r.root for r in records):
                    cache = AudioCache.for_root(root, channel)
                    cache.ensure([r for r in records if r.root == root], on_clip)
                    self._caches[root] = cache
                self.cached = False
                return
            except OSError as exc:  # no room or no right to write the cache: decode into RAM instead
                warnings.warn(f"the audio cache cannot be used ({exc}); decoding the clips into RAM instead "
                              f"(ASD_CACHE moves the cache to a writable folder)", RuntimeWarning, stacklevel=2)
                self._caches = {}
        size_gb = len(records) * self.n_samples * 4 / 1e9
        self.cached = size_gb <= cache_gb
        if self.cached and records:
            self._data = torch.from_numpy(np.stack([load_clip(r.path, clip_seconds, pad_mode=pad_mode, channel=channel)
                                                    for r in records]))

    @classmethod
    def of(cls, records: list[ClipRecord], config: RunConfig, on_clip=None) -> "Waveforms":
        """The waveforms of `records` as the run's config says to read them."""
        d = config.data
        return cls(records, d.clip_seconds, d.pad_mode, config.train.cache_gb, d.channel, d.audio_cache, on_clip)

    def __len__(self) -> int:
        return len(self.records)

    def domains(self) -> np.ndarray:
        """Each clip's domain ("source", "target", or "" where its name gives none)."""
        return np.array([r.domain or "" for r in self.records])

    def batch(self, index) -> torch.Tensor:
        if self._data is not None:
            return self._data[index]
        index = index.tolist() if hasattr(index, "tolist") else list(index)
        if self._caches:
            return torch.from_numpy(np.stack([self._caches[self.records[i].root].read(
                self.records[i], self.n_samples, self.pad_mode) for i in index]))
        # larger sets (dcase-scale) are read from disk batch by batch
        return torch.from_numpy(np.stack([load_clip(self.records[i].path, self.clip_seconds,
                                                    pad_mode=self.pad_mode, channel=self.channel)
                                          for i in index]))


# --- the model a run config describes ----------------------------------------------------------

def n_frames_for(config: RunConfig) -> int:
    cfg = feature_config(config)
    return cfg.n_frames(int(round(config.data.clip_seconds * cfg.sample_rate)))


def feature_config(config: RunConfig) -> LogMelConfig:
    return config.features.logmel()


def attribute_classes(config: RunConfig, splits: Splits) -> list[tuple[str, str, str]]:
    """The attribute classes of a model with a second, attribute head (model option attribute_head,
    the sub-cluster AdaCos system): one per (machine type, section, attribute values) of the
    training normals, both domains; empty for other models and on data whose names carry no
    attributes (DCASE 2020, MIMII: the second head would repeat the first)."""
    if not config.model.to_dict().get("attribute_head"):
        return []
    records = splits.train + splits.val
    if not any(r.attributes_text for r in records):
        return []
    return sorted({(r.machine_type, r.machine_id, r.attributes_text) for r in records})


def attribute_labels(records: list[ClipRecord], classes: list[tuple[str, str, str]]) -> np.ndarray:
    """Each record's attribute class index (-1 where its values are not among `classes`)."""
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get((r.machine_type, r.machine_id, r.attributes_text), -1) for r in records],
                    dtype=np.int64)


def build_model(config: RunConfig, num_classes: int, num_attribute_classes: int = 0) -> torch.nn.Module:
    cfg = feature_config(config)
    extra = {"num_attribute_classes": num_attribute_classes} if num_attribute_classes else {}
    model = create_model({**config.model.to_dict(), "num_classes": num_classes, "n_mels": cfg.n_mels,
                          "n_frames": n_frames_for(config), **extra})
    if config.train.channels_last:
        # the 2-D convolutions (MobileFaceNet) in channels-last layout: the same numbers, and on a
        # 2-core CPU 1.4x the training clips per second (TASTgram-MFN, 2 s clips, batch 32:
        # 64 -> 90 clips/s, measured with the machine otherwise idle)
        model = model.to(memory_format=torch.channels_last)
    if config.train.fused_prelu and not config.train.compile:
        from asdcore.models.fused_prelu import use_fused_prelu

        use_fused_prelu(model)  # a training step on a CPU 1.2x as fast (train.fused_prelu)
    return model


def group_names(config: RunConfig, splits: Splits) -> list[str]:
    if config.model.name == "dcase_autoencoder":
        return list(dict.fromkeys(t for t, _ in splits.classes if any(r.machine_type == t for r in splits.train)))
    return ["all"]


# --- mixed precision and the weight files -------------------------------------------------------

def autocast(device: torch.device, config: RunConfig):
    if device.type == "cuda" and config.train.amp == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def check_segments(config: RunConfig, model: torch.nn.Module) -> None:
    """data.segment_frames cuts the log-mel only: a model that also reads the waveform cannot use it."""
    if config.data.segment_frames and getattr(model, "needs_waveform", False):
        raise ValueError(f"data.segment_frames ({config.data.segment_frames}) cuts the log-mel into segments, but "
                         f"model {config.model.name!r} also reads the waveform: use a log-mel-only model")


def random_segment(mel: torch.Tensor, frames: int | None, generator: torch.Generator) -> torch.Tensor:
    """One random `frames`-long stretch of a batch of log-mels (B, n_mels, T), the same for the whole
    batch; the log-mels as they are when they are no longer than that."""
    if not frames or mel.shape[-1] <= frames:
        return mel
    start = int(torch.randint(0, mel.shape[-1] - frames + 1, (1,), generator=generator, device=generator.device))
    return mel[..., start:start + frames]


def segment_output(model: torch.nn.Module, waveform: torch.Tensor, mel: torch.Tensor, frames: int | None):
    """The model's output for whole clips seen as `frames`-long segments (the JLESS system): the clip's
    log-mel cut into its consecutive full segments, each embedded, and per clip the mean over them of
    the embedding and of the cosines (so the cosine score is the mean over segments).  Without
    segments, or for clips no longer than one: the model on the whole clip."""
    if not frames or mel.shape[-1] <= frames:
        return model(waveform, mel)
    b, n_mels, t = mel.shape
    n = t // frames
    segments = mel[..., :n * frames].reshape(b, n_mels, n, frames).permute(0, 2, 1, 3).reshape(b * n, n_mels, frames)
    out = model(None, segments)

    def per_clip(x):
        return None if x is None else x.view(b, n, *x.shape[1:]).mean(dim=1)

    return ModelOutput(embedding=per_clip(out.embedding), cosine=per_clip(out.cosine),
                       subcentre_cosine=per_clip(out.subcentre_cosine),
                       attribute_subcentre_cosine=per_clip(out.attribute_subcentre_cosine))


def float_output(out):
    """Loss maths in float32 even when the forward ran in bf16."""
    for name in ("embedding", "cosine", "subcentre_cosine", "reconstruction_error", "attribute_subcentre_cosine"):
        value = getattr(out, name)
        if value is not None and value.dtype != torch.float32:
            setattr(out, name, value.float())
    return out


class CheckpointError(ValueError):
    """A weight file that cannot be used; the message names the file and why."""


def load_checkpoint(path: Path) -> dict:
    """A checkpoint.pt or model.pt, loaded with weights_only=True: tensors and plain containers only,
    so a tampered file can run no code (a pickled object is refused before anything of it runs).
    A damaged, truncated or foreign file raises CheckpointError naming it."""
    import pickle

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path}: refused: it holds more than weights (a pickled object, which could run "
                              f"code when loaded); asdcore loads weights only and ran none of it") from exc
    except Exception as exc:  # torch raises RuntimeError, OSError or EOFError for a damaged zip
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: damaged or truncated weight file, not readable ({reason}); retrain "
                              f"the run or resume it from an intact checkpoint.pt") from exc
    if not isinstance(state, dict) or "groups" not in state or "config" not in state:
        raise CheckpointError(f"{path}: not a weight file written by asdcore (no 'groups' and 'config')")
    return state
