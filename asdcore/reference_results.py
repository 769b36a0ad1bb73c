"""Published DCASE 2020 Task 2 development-set results (one source of truth for the app's reference rows).

Figures from ../shared/REFERENCE.md: averages over the six machine types, AUC / pAUC in %, pAUC
being sklearn's McClish-standardised partial AUC at FPR 0.1; mAUC where the paper gives it.
They were measured on the real DCASE 2020 data with 10 s clips and 300 epochs, so they are a
yardstick, not something a run on the toy data should reproduce.
"""
from __future__ import annotations

PUBLISHED = [
    # (method, source, AUC, pAUC, mAUC or None)
    ("IDNN", "Noisy-ArcMix paper, Table 1", 76.96, 62.57, None),
    ("MobileNetV2", "Noisy-ArcMix paper, Table 1", 84.34, 77.74, None),
    ("Glow-Aff", "Noisy-ArcMix paper, Table 1", 85.20, 73.90, None),
    ("STgram-MFN (ArcFace)", "Noisy-ArcMix paper, Table 1 / 3", 92.36, 86.34, 84.86),
    ("CLP-SCF", "Noisy-ArcMix paper, Table 1 / 3", 93.75, 88.48, 87.62),
    ("TASTgram-MFN (ArcMix)", "Noisy-ArcMix paper, Table 1", 92.38, 87.10, None),
    ("TASTgram-MFN (Noisy-ArcMix)", "Noisy-ArcMix paper, Table 1 / 3", 94.65, 89.31, 89.78),
    ("Log-Mel (OS-SCL)", "OS-SCL paper, Table II", 94.64, 88.42, 89.24),
    ("TFSTgram (OS-SCL)", "OS-SCL paper, Table II", 95.71, 90.23, 91.23),
]
