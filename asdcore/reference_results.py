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


# Published DCASE 2021 and 2022 development-set results of the two domain-shift systems and their
# baselines (../shared/REFERENCE.md, "Domain-shift systems"), per machine type, in %.  The two reports
# give different things: the sub-cluster AdaCos report the harmonic means over sections and both
# domains of AUC and pAUC ("AUC / pAUC"); the JLESS report the harmonic means of the source and the
# target AUC ("source / target", no pAUC).  Measured on the real data with 10 s clips: a yardstick.
PUBLISHED_DOMAIN_SHIFT = [
    # (method, data set, what the cells hold, {machine type: (first, second)})
    ("Sub-cluster AdaCos system (ensemble)", "DCASE 2021 dev", "AUC / pAUC",
     {"ToyCar": (78.37, 66.64), "ToyTrain": (77.17, 60.71), "fan": (74.66, 67.34), "gearbox": (76.13, 56.00),
      "pump": (76.59, 63.00), "slider": (80.16, 63.86), "valve": (81.13, 64.92), "all": (77.69, 62.99)}),
    ("DCASE 2021 autoencoder baseline", "DCASE 2021 dev", "AUC / pAUC", {"all": (61.93, 53.27)}),
    ("DCASE 2021 MobileNetV2 baseline", "DCASE 2021 dev", "AUC / pAUC", {"all": (59.72, 56.37)}),
    ("JLESS, MFN log-mel (LOF for ToyCar, ToyTrain, gearbox; else log-softmax)", "DCASE 2022 dev",
     "AUC source / target",
     {"ToyCar": (75.09, 71.71), "ToyTrain": (68.78, 55.45), "bearing": (68.88, 76.52), "fan": (72.62, 48.59),
      "gearbox": (86.97, 86.56), "slider": (95.42, 78.04), "valve": (88.95, 85.71)}),
    ("JLESS, MFN STFT (cosine for bearing, gearbox, slider; else LOF)", "DCASE 2022 dev", "AUC source / target",
     {"ToyCar": (89.47, 75.52), "ToyTrain": (69.58, 59.46), "bearing": (66.70, 81.11), "fan": (75.92, 58.63),
      "gearbox": (66.00, 68.00), "slider": (89.60, 76.00), "valve": (93.81, 89.46)}),
    ("DCASE 2022 MobileNetV2 baseline", "DCASE 2022 dev", "AUC source / target",
     {"ToyCar": (59.12, 51.96), "ToyTrain": (57.26, 45.90), "bearing": (60.58, 59.94), "fan": (70.75, 48.22),
      "gearbox": (69.21, 56.19), "slider": (65.15, 38.23), "valve": (67.09, 57.22)}),
]
