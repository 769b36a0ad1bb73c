"""Networks of the seed papers: front-ends, MobileFaceNet, heads, compositions and the DCASE autoencoder.

Every model takes forward(waveform (B, L), logmel (B, n_mels, T)) and returns a `ModelOutput`.
Create them by name with `asdcore.registry.create_model`.
"""
from .autoencoder import DCASEAutoencoder, frame_windows
from .compositions import (CHANNELS, SpectrogramMFN, logmel_mfn, stgram_mfn, tastgram_mfn,
                           tfstgram_mfn)
from .frontends import (TemporalAttention, TFgramNet, TgramNet, TimeLayerNorm, align_frames,
                        temporal_attention_weights)
from .heads import CosineHead, FeaturePerturbationHead
from .mobilefacenet import ASD_BOTTLENECKS, ORIGINAL_BOTTLENECKS, MobileFaceNet
from .output import ModelOutput
from .subcluster_resnet import SubclusterResNet, logmel_statistics

__all__ = [
    "ASD_BOTTLENECKS", "CHANNELS", "CosineHead", "DCASEAutoencoder", "FeaturePerturbationHead",
    "MobileFaceNet", "ModelOutput", "ORIGINAL_BOTTLENECKS", "SpectrogramMFN", "SubclusterResNet", "TFgramNet",
    "TemporalAttention", "TgramNet", "TimeLayerNorm", "align_frames", "frame_windows",
    "logmel_mfn", "logmel_statistics", "stgram_mfn", "tastgram_mfn", "temporal_attention_weights", "tfstgram_mfn",
]
