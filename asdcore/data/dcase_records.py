"""Where the official DCASE 2020-2025 Task 2 data sets are published: one entry per name that
`python -m asdcore data download NAME` accepts.

Every URL below was read from the organisers' own download scripts and README in the baseline
repository https://github.com/nttcslab/dcase2023_task2_baseline_ae (the DCASE 2023-2025 Task 2
baseline, which also downloads the 2020-2022 data):

    tools/data_download_2020.sh ... tools/data_download_2025.sh, datasets/download_path_legacy.yaml,
    datasets/download_path_2025.yaml, README.md ("1. Download datasets"), tools/rename_eval_wav.py

The Zenodo record of each set is cited next to its entry (DOI 10.5281/zenodo.<record>).  URLs are
written in Zenodo's current form `https://zenodo.org/records/<record>/files/<file>` (the scripts'
older `/record/` form redirects to it).

Checksums.  Zenodo publishes each archive's md5 on its record page.  The md5s of the 18 DCASE 2020
archives (dev, additional, eval) are those of soundata's DCASE 2020 Task 2 loader
(https://github.com/soundata/soundata, soundata/datasets/dcase2020task2.py, REMOTES), which downloads
the same files of the same three records.  NOT VERIFIED: the byte sizes of every archive and the md5s
of 2021-2025: no source read for this table quoted them, so they are None here rather than guessed;
the download then verifies what the server announces (Content-Length) and every zip member's CRC
(zipfile.ZipFile.testzip).  Fill `size` and `md5` in from the record pages when they are known:
the downloader checks them as soon as they are set.
"""
from __future__ import annotations

from dataclasses import dataclass

ZENODO = "https://zenodo.org"
# The organisers keep the evaluation ground truth (file name -> normal/anomaly) of every year as
# datasets/eval_data_list_<year>.csv in the baseline repository (README.md, "Ground truth";
# tools/rename_eval_wav.py reads them).  NOT VERIFIED: the branch name `main` in this URL.
GROUND_TRUTH = "https://raw.githubusercontent.com/nttcslab/dcase2023_task2_baseline_ae/main/datasets"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: a zip archive in the DCASE layout (`<machine_type>/train|test/...`
    inside), unpacked into the data-set folder, or a plain file (the ground-truth list) copied there."""

    url: str
    machine_type: str | None  # None: not one machine type's (the ground truth of all of them)
    size: int | None = None  # bytes, when the record's size is known (None: not verified)
    md5: str | None = None  # hex, as Zenodo publishes it (None: not verified)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def is_zip(self) -> bool:
        return self.filename.lower().endswith(".zip")


@dataclass(frozen=True)
class DataSetEntry:
    """A name the downloader accepts: what it is, where it comes from, and its files."""

    name: str
    description: str
    source: str  # the record / DOI the files come from, for --list and error messages
    files: tuple[RemoteFile, ...]


def _zenodo(record: int, pattern: str, machine_types, renames: dict | None = None,
            md5: dict | None = None) -> tuple[RemoteFile, ...]:
    """One archive per machine type of a Zenodo record; `pattern` names the file with {t} for the
    type; `renames` gives a type a file name that breaks the pattern (2024's re-uploaded `_r2` files);
    `md5` the published checksum per type, where known."""
    renames, md5 = renames or {}, md5 or {}
    return tuple(RemoteFile(f"{ZENODO}/records/{record}/files/{renames.get(t, pattern.format(t=t))}", t,
                            md5=md5.get(t))
                 for t in machine_types)


# md5 per machine type of the DCASE 2020 archives (see the module docstring for the source)
_MD5_2020_DEV = {"fan": "649bdfc06263ae7a838963f43b6641e6", "pump": "90e7091ef722b7238a7f1009365779cd",
                 "slider": "da24a757719f0d94d5aa2d646bbfdc86", "ToyCar": "4dec75ca8d9f666aa9e4c1894a740501",
                 "ToyConveyor": "03b6aa1bfd09a39d53af0ba39f71fa91", "valve": "34d2672f55bb041589ef79c10dc89934"}
_MD5_2020_ADD = {"fan": "567798854130c8019df8b664c095ed1e", "pump": "4e33ae9c0db5cc88437675f5e317caee",
                 "slider": "f84f186f4295fc23754abcdd1b0580a7", "ToyCar": "a5d4ccd498af70b04dd74b644b820006",
                 "ToyConveyor": "0e808ac0b761e9fb13d5e0c65caff00d", "valve": "057cdd560caffb8305449541afd28c6d"}
_MD5_2020_EVAL = {"fan": "1eb9356a768cadfd0f2e59a5c57e578b", "pump": "23a8f8f924be218c69df67fe07360348",
                  "slider": "0193c769073840332ce3aad84b1ccaa2", "ToyCar": "bea2bdd612f616be8f2b8eb087b32c7c",
                  "ToyConveyor": "ccfcc9847c7d3404d7ee9d6d9e0b2ba2", "valve": "f69c551d2088691050d20cccca9d631c"}


def _ground_truth(year: int) -> RemoteFile:
    return RemoteFile(f"{GROUND_TRUTH}/eval_data_list_{year}.csv", None)


# Machine types per year, in the order of the organisers' download scripts.
_TYPES_2020 = ("ToyCar", "ToyConveyor", "fan", "valve", "slider", "pump")
_TYPES_2021 = ("fan", "gearbox", "pump", "slider", "ToyCar", "ToyTrain", "valve")
_TYPES_2022_DEV = ("bearing", "fan", "gearbox", "slider", "ToyCar", "ToyTrain", "valve")  # also 2023-2025 dev
_TYPES_2023_EVAL = ("bandsaw", "grinder", "shaker", "ToyDrone", "ToyNscale", "ToyTank", "Vacuum")
_TYPES_2024_EVAL = ("3DPrinter", "AirCompressor", "Scanner", "ToyCircuit", "HoveringDrone", "HairDryer",
                    "ToothBrush", "RoboticArm", "BrushlessMotor")
_TYPES_2025_EVAL = ("ToyRCCar", "ToyPet", "HomeCamera", "AutoTrash", "Polisher", "ScrewFeeder", "BandSealer",
                    "CoffeeGrinder")

_DEV = "development set: training normals and labelled test clips"
_ADD = "additional training set: training normals of the evaluation set's {what}"
_EVAL = "evaluation set: unlabelled test clips, plus the organisers' ground-truth list"


def _entries() -> tuple[DataSetEntry, ...]:
    return (
        # DCASE 2020: dev 10.5281/zenodo.3678171, additional 10.5281/zenodo.3727685, eval 10.5281/zenodo.3841772
        # (tools/data_download_2020.sh, datasets/download_path_legacy.yaml).
        DataSetEntry("dcase2020-dev", f"DCASE 2020 Task 2 {_DEV}", "Zenodo record 3678171",
                     _zenodo(3678171, "dev_data_{t}.zip", _TYPES_2020, md5=_MD5_2020_DEV)),
        DataSetEntry("dcase2020-add", f"DCASE 2020 Task 2 {_ADD.format(what='machine IDs')}",
                     "Zenodo record 3727685", _zenodo(3727685, "eval_data_train_{t}.zip", _TYPES_2020, md5=_MD5_2020_ADD)),
        DataSetEntry("dcase2020-eval", f"DCASE 2020 Task 2 {_EVAL}", "Zenodo record 3841772",
                     _zenodo(3841772, "eval_data_test_{t}.zip", _TYPES_2020, md5=_MD5_2020_EVAL) + (_ground_truth(2020),)),
        # DCASE 2021: dev 10.5281/zenodo.4562016, additional 10.5281/zenodo.4660992, eval 10.5281/zenodo.4884786
        # (tools/data_download_2021.sh).  The zips hold source_test/ and target_test/ folders, read as test.
        DataSetEntry("dcase2021-dev", f"DCASE 2021 Task 2 {_DEV}", "Zenodo record 4562016",
                     _zenodo(4562016, "dev_data_{t}.zip", _TYPES_2021)),
        DataSetEntry("dcase2021-add", f"DCASE 2021 Task 2 {_ADD.format(what='sections')}",
                     "Zenodo record 4660992", _zenodo(4660992, "eval_data_{t}_train.zip", _TYPES_2021)),
        DataSetEntry("dcase2021-eval", f"DCASE 2021 Task 2 {_EVAL}", "Zenodo record 4884786",
                     _zenodo(4884786, "eval_data_{t}_test.zip", _TYPES_2021) + (_ground_truth(2021),)),
        # DCASE 2022: dev 10.5281/zenodo.6355122, additional 10.5281/zenodo.6462969, eval 10.5281/zenodo.6586456
        # (tools/data_download_2022.sh).
        DataSetEntry("dcase2022-dev", f"DCASE 2022 Task 2 {_DEV}", "Zenodo record 6355122",
                     _zenodo(6355122, "dev_{t}.zip", _TYPES_2022_DEV)),
        DataSetEntry("dcase2022-add", f"DCASE 2022 Task 2 {_ADD.format(what='sections')}",
                     "Zenodo record 6462969", _zenodo(6462969, "eval_data_{t}_train.zip", _TYPES_2022_DEV)),
        DataSetEntry("dcase2022-eval", f"DCASE 2022 Task 2 {_EVAL}", "Zenodo record 6586456",
                     _zenodo(6586456, "eval_data_{t}_test.zip", _TYPES_2022_DEV) + (_ground_truth(2022),)),
        # DCASE 2023: dev 10.5281/zenodo.7882613 (the README's "Updated on 2023/05/01" upload with fixed
        # attributes; it replaced records 7690148 and 7690157), additional 10.5281/zenodo.7830345,
        # eval 10.5281/zenodo.7860847 (tools/data_download_2023.sh, README.md).
        DataSetEntry("dcase2023-dev", f"DCASE 2023 Task 2 {_DEV}", "Zenodo record 7882613",
                     _zenodo(7882613, "dev_{t}.zip", _TYPES_2022_DEV)),
        DataSetEntry("dcase2023-add", f"DCASE 2023 Task 2 {_ADD.format(what='machine types')}",
                     "Zenodo record 7830345", _zenodo(7830345, "eval_data_{t}_train.zip", _TYPES_2023_EVAL)),
        DataSetEntry("dcase2023-eval", f"DCASE 2023 Task 2 {_EVAL}", "Zenodo record 7860847",
                     _zenodo(7860847, "eval_data_{t}_test.zip", _TYPES_2023_EVAL) + (_ground_truth(2023),)),
        # DCASE 2024: dev 10.5281/zenodo.10902294, additional 10.5281/zenodo.11259435 (which replaced 11183284;
        # 3DPrinter and RoboticArm were re-uploaded as `_train_r2`), eval 10.5281/zenodo.11363076
        # (tools/data_download_2024.sh, README.md).
        DataSetEntry("dcase2024-dev", f"DCASE 2024 Task 2 {_DEV}", "Zenodo record 10902294",
                     _zenodo(10902294, "dev_{t}.zip", _TYPES_2022_DEV)),
        DataSetEntry("dcase2024-add", f"DCASE 2024 Task 2 {_ADD.format(what='machine types')}",
                     "Zenodo record 11259435",
                     _zenodo(11259435, "eval_data_{t}_train.zip", _TYPES_2024_EVAL,
                             renames={"3DPrinter": "eval_data_3DPrinter_train_r2.zip",
                                      "RoboticArm": "eval_data_RoboticArm_train_r2.zip"})),
        DataSetEntry("dcase2024-eval", f"DCASE 2024 Task 2 {_EVAL}", "Zenodo record 11363076",
                     _zenodo(11363076, "eval_data_{t}_test.zip", _TYPES_2024_EVAL) + (_ground_truth(2024),)),
        # DCASE 2025: dev 10.5281/zenodo.15097779, additional 10.5281/zenodo.15392814, eval 10.5281/zenodo.15519362
        # (tools/data_download_2025.sh, datasets/download_path_2025.yaml).
        DataSetEntry("dcase2025-dev", f"DCASE 2025 Task 2 {_DEV}", "Zenodo record 15097779",
                     _zenodo(15097779, "dev_{t}.zip", _TYPES_2022_DEV)),
        DataSetEntry("dcase2025-add", f"DCASE 2025 Task 2 {_ADD.format(what='machine types')}",
                     "Zenodo record 15392814", _zenodo(15392814, "eval_data_{t}_train.zip", _TYPES_2025_EVAL)),
        DataSetEntry("dcase2025-eval", f"DCASE 2025 Task 2 {_EVAL}", "Zenodo record 15519362",
                     _zenodo(15519362, "eval_data_{t}_test.zip", _TYPES_2025_EVAL) + (_ground_truth(2025),)),
    )


# name -> entry, in the order --list prints them
DCASE_DATA_SETS: dict[str, DataSetEntry] = {e.name: e for e in _entries()}
