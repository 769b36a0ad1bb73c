"""Decisions and why they go wrong: thresholds per machine ID, false alarms, missed anomalies,
nearest training normals, and a one-line diagnosis.  Plain pandas / numpy, no Streamlit.

    threshold_reference(train)                          the normals thresholds come from: held out when possible
    thresholds_per_id(train, score_column, percentile)  one threshold per machine type/ID
    decide(clips, thresholds, score_column)             the test clips with threshold and outcome
    false_alarms(decided) / missed_anomalies(decided)   the two kinds of error, worst first
    counts_per_id(decided)                              errors per machine type/ID
    score_rank(clips, index, score_column)              a clip's rank and percentile among the test clips
    nearest_training_clips(embedding, train_embeddings, train, machine_type, k)
                                                        cosine neighbours among the training normals
    diagnose(row, angle_limit_deg)                      why this clip was called what it was

DCASE 2021-2023 decide with a threshold at the 90th percentile of the training normals' scores,
one per machine ID (section): we do the same, per (machine type, machine ID), since IDs such as
id_00 repeat across types.  On data with source and target domains the threshold is per section
*and domain* (`threshold_keys`), as the sub-cluster AdaCos report does: a target clip is compared
with the target normals, whose scores sit higher than the source normals' (one threshold per section,
set mostly by source clips, flags most target normals).  A clip is called anomalous when its score
is *above* its threshold (as asdcore.plots.threshold_counts counts).

Two threshold rules (`THRESHOLD_RULES`): "percentile", the empirical percentile (numpy's linear
interpolation); "gamma", the percentile of a gamma distribution fitted to the reference scores (the
DCASE 2021-2022 baselines and the JLESS system: a smooth tail from few clips).

Some back-ends decide on another score than they rank by (`decision_column`): the sub-cluster AdaCos
system ranks target clips by eq. 3 but thresholds them on its first term only, since the second term's
mixture is fitted on the very target clips a threshold would come from.

Which training normals: the network has fitted the clips it trained on, so their scores are lower
than an unseen normal's (in-sample), and a threshold from them flags far more than 10 % of the
test normals (on the bundled TASTgram-MFN (Noisy-ArcMix) quick run, 26 %; README, False alarms).
The validation normals (role "val" in train_clips.parquet) were held out of training: from them
the same threshold flags fewer (16 % on that run, about 12 held-out clips per ID).
threshold_reference() takes them when an ID has enough.  (gmm's training scores are
cross-fitted, asdcore.evaluation.scoring.)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .evaluation.scoring import l2_normalise

DEFAULT_PERCENTILE = 90.0
MACHINE = ["machine_type", "machine_id"]
HELD_OUT_ROLE = "val"
MIN_HELD_OUT = 3  # fewer held-out normals than this: the ID's threshold uses all its training normals
THRESHOLD_RULES = ("percentile", "gamma")

# outcome of a decision on a labelled clip
FALSE_ALARM = "false alarm"          # normal, called anomalous (a false positive)
MISSED = "missed anomaly"            # anomalous, called normal (a false negative)
DETECTED = "detected anomaly"
PASSED = "normal, passed"
NO_THRESHOLD = "no threshold"        # its machine ID has no scored training normals


def score_backends(clips: pd.DataFrame, train: pd.DataFrame | None = None) -> list[str]:
    """The back-ends with a `score_<backend>` column (in both tables when `train` is given)."""
    names = [c[len("score_"):] for c in clips.columns if c.startswith("score_")]
    if train is not None:
        names = [n for n in names if f"score_{n}" in train.columns]
    return names


def threshold_keys(table: pd.DataFrame) -> list[str]:
    """What one threshold covers: a machine type/ID, and a domain on data with source and target
    domains (DCASE 2021-2023: per section and domain, as the sub-cluster AdaCos report thresholds)."""
    has_domain = "domain" in table.columns and table["domain"].notna().any()
    return [*MACHINE, "domain"] if has_domain else list(MACHINE)


def gamma_percentile(values: np.ndarray, percentile: float) -> float:
    """The `percentile` of a gamma distribution fitted to `values` by maximum likelihood (shape,
    location and scale, scipy.stats.gamma.fit, as the DCASE 2021-2022 baselines fit their anomaly
    scores); the empirical percentile where a fit is impossible (fewer than 3 distinct values) or
    gives no finite answer."""
    values = np.asarray(values, dtype=float)
    empirical = float(np.percentile(values, percentile))
    if len(np.unique(values)) < 3:
        return empirical
    from scipy import stats  # loaded when a gamma threshold is asked for

    with np.errstate(all="ignore"):
        shape, loc, scale = stats.gamma.fit(values)
        value = float(stats.gamma.ppf(percentile / 100.0, shape, loc=loc, scale=scale))
    return value if np.isfinite(value) else empirical


def per_id_percentile(train: pd.DataFrame, column: str, percentile: float = DEFAULT_PERCENTILE,
                      keys: list[str] | None = None, rule: str = "percentile") -> pd.DataFrame:
    """The `percentile` of `column` over the training normals of each machine type/ID (and domain,
    `keys` = threshold_keys(train) by default), by `rule` ("percentile" or "gamma").

    Returns one row per group: the key columns, value, n_train (how many finite values it is from;
    a group with none gets NaN)."""
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {percentile}")
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"threshold rule must be one of {', '.join(THRESHOLD_RULES)}, not {rule!r}")
    keys = threshold_keys(train) if keys is None else keys
    values = pd.to_numeric(train[column], errors="coerce") if column in train.columns else \
        pd.Series(np.nan, index=train.index)
    rows = []
    for key, v in values.groupby([train[c] for c in keys], sort=True, dropna=False):
        v = v.to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        value = np.nan if not v.size else (gamma_percentile(v, percentile) if rule == "gamma"
                                            else float(np.percentile(v, percentile)))
        rows.append(dict(zip(keys, key), value=value, n_train=int(v.size)))
    return pd.DataFrame(rows, columns=[*keys, "value", "n_train"])


def threshold_reference(train: pd.DataFrame) -> pd.DataFrame:
    """The training normals that thresholds (and "how far normals lie") are taken from: per machine
    type/ID (and domain), its held-out validation normals when it has at least MIN_HELD_OUT of them,
    else all of its training normals (a tiny run holds out one clip or none; a section's few target
    clips).  Same columns and index."""
    if "role" not in train.columns:
        return train
    held_out = train["role"] == HELD_OUT_ROLE
    keys = threshold_keys(train)
    per_group = held_out.groupby([train[c] for c in keys], sort=False, dropna=False).transform("sum")
    return train[held_out | (per_group < MIN_HELD_OUT)]


def held_out_ids(reference: pd.DataFrame) -> int:
    """How many threshold groups (machine IDs, or ID and domain) of a threshold_reference() table
    use held-out normals."""
    if "role" not in reference.columns:
        return 0
    keys = threshold_keys(reference)
    return int((reference["role"] == HELD_OUT_ROLE).groupby([reference[c] for c in keys], dropna=False)
               .all().sum())


def threshold_groups(reference: pd.DataFrame) -> int:
    """How many threshold groups a reference table has (see threshold_keys)."""
    return reference.groupby(threshold_keys(reference), dropna=False).ngroups


def thresholds_per_id(train: pd.DataFrame, score_column: str = "score",
                      percentile: float = DEFAULT_PERCENTILE, rule: str = "percentile") -> pd.DataFrame:
    """Decision thresholds: the `percentile` of each machine ID's (and domain's) training-normal
    scores, by `rule`.  Columns: machine_type, machine_id, [domain,] threshold, n_train."""
    return per_id_percentile(train, score_column, percentile, rule=rule).rename(columns={"value": "threshold"})


def decision_column(table: pd.DataFrame, score_column: str) -> str:
    """The column a back-end's decisions use: `decision_<backend>` (or `decision` for `score`) where
    the run wrote one (the subcluster back-end: target clips on eq. 3's first term), else the score."""
    if not score_column.startswith("score"):
        return score_column
    name = "decision" + score_column[len("score"):]
    return name if name in table.columns else score_column


def decide(clips: pd.DataFrame, thresholds: pd.DataFrame, score_column: str = "score") -> pd.DataFrame:
    """The clips (same index) with `threshold` (their own ID's, and domain's where the thresholds
    have a domain column), `margin` (score - threshold), `called_anomalous` (score > threshold; NA
    without a threshold) and `outcome`."""
    keys = [*MACHINE, "domain"] if "domain" in thresholds.columns else list(MACHINE)
    table = thresholds[[*keys, "threshold"]]
    # a left merge would renumber the rows: map through a key instead, keeping clips' index labels
    key = pd.MultiIndex.from_frame(clips[keys].astype(str))
    lookup = pd.Series(table["threshold"].to_numpy(),
                       index=pd.MultiIndex.from_frame(table[keys].astype(str)))
    out = clips.copy()
    out["threshold"] = lookup.reindex(key).to_numpy(dtype=float)
    score = pd.to_numeric(out[score_column], errors="coerce").to_numpy(dtype=float)
    out["margin"] = score - out["threshold"].to_numpy()
    decided = np.isfinite(out["margin"].to_numpy())
    called = out["margin"].to_numpy() > 0
    out["called_anomalous"] = pd.array(np.where(decided, called, False), dtype="boolean")
    out.loc[~decided, "called_anomalous"] = pd.NA
    anomalous = out["label"].to_numpy() == 1
    out["outcome"] = np.select(
        [~decided, called & ~anomalous, ~called & anomalous, called & anomalous],
        [NO_THRESHOLD, FALSE_ALARM, MISSED, DETECTED], default=PASSED)
    return out


def false_alarms(decided: pd.DataFrame) -> pd.DataFrame:
    """Normal clips above their threshold, farthest above first."""
    return decided[decided["outcome"] == FALSE_ALARM].sort_values("margin", ascending=False, kind="stable")


def missed_anomalies(decided: pd.DataFrame) -> pd.DataFrame:
    """Anomalous clips at or below their threshold, farthest below first."""
    return decided[decided["outcome"] == MISSED].sort_values("margin", ascending=True, kind="stable")


def counts_per_id(decided: pd.DataFrame, by_domain: bool = False) -> pd.DataFrame:
    """Per machine type/ID (and source/target domain with by_domain, for DCASE 2021-2023 data, where
    most false alarms come from the target domain): threshold, normals, false alarms, anomalies,
    missed anomalies."""
    def count(rows: pd.DataFrame) -> pd.Series:
        return pd.Series(dict(
            threshold=rows["threshold"].iloc[0],
            normals=int((rows["label"] == 0).sum()),
            false_alarms=int((rows["outcome"] == FALSE_ALARM).sum()),
            anomalies=int((rows["label"] == 1).sum()),
            missed_anomalies=int((rows["outcome"] == MISSED).sum())))

    keys = [*MACHINE, "domain"] if by_domain else MACHINE
    groups = decided.groupby(keys, sort=True)
    rows = [dict(zip(keys, key), **count(g)) for key, g in groups]
    table = pd.DataFrame(rows, columns=[*keys, "threshold", "normals", "false_alarms", "anomalies",
                                        "missed_anomalies"])
    return table.astype({c: int for c in ("normals", "false_alarms", "anomalies", "missed_anomalies")})


def false_alarm_rate_by_domain(decided: pd.DataFrame) -> dict[str, float]:
    """Per domain ("source", "target"), the share of its normal clips that raise a false alarm
    (DCASE 2021-2023 data: the target normals cross thresholds set mostly by source clips)."""
    rates = {}
    for domain in ("source", "target"):
        clips = decided[decided["domain"] == domain]
        rates[domain] = len(false_alarms(clips)) / max(int((clips["label"] == 0).sum()), 1)
    return rates


def score_rank(clips: pd.DataFrame, index, score_column: str = "score") -> tuple[int, float]:
    """(rank, percentile) of one clip's score among all test clips: rank 1 = the most anomalous;
    percentile = share of the test clips scoring at or below it (100 = the highest)."""
    scores = pd.to_numeric(clips[score_column], errors="coerce")
    mine = scores.loc[index]
    if not np.isfinite(mine):
        return 0, float("nan")
    finite = scores[np.isfinite(scores)]
    return int((finite > mine).sum()) + 1, float(100.0 * (finite <= mine).mean())


def nearest_training_clips(embedding, train_embeddings: np.ndarray, train: pd.DataFrame,
                           machine_type: str | None = None, k: int = 5, machine_id: str | None = None) -> pd.DataFrame:
    """The k training normals most similar to `embedding` by cosine similarity, most similar first,
    restricted to `machine_type` when given (a fan clip is compared with fans only), and to that
    type's `machine_id` when given too (the difference view of an ID confusion).
    Returns those rows of `train` with a `similarity` column; row i of train_embeddings is
    train's i-th row."""
    if len(train) != len(train_embeddings):
        raise ValueError(f"train has {len(train)} rows but train_embeddings {len(train_embeddings)}")
    candidates = np.ones(len(train), dtype=bool)
    if machine_type is not None:
        candidates = train["machine_type"].astype(str).to_numpy() == str(machine_type)
        if machine_id is not None:
            candidates &= train["machine_id"].astype(str).to_numpy() == str(machine_id)
    positions = np.flatnonzero(candidates)
    if positions.size == 0:
        return train.iloc[[]].assign(similarity=pd.Series(dtype=float))
    reference = l2_normalise(np.asarray(train_embeddings)[positions])
    query = l2_normalise(np.asarray(embedding).reshape(1, -1))[0]
    similarity = reference @ query
    order = np.argsort(-similarity, kind="stable")[:k]
    return train.iloc[positions[order]].assign(similarity=similarity[order])


UNFAMILIAR_PERCENTILE = 1.0  # below the 1st percentile of the training normals' own nearest-neighbour similarity


def familiarity_floor(train_embeddings: np.ndarray, train: pd.DataFrame,
                      percentile: float = UNFAMILIAR_PERCENTILE) -> dict[str, float]:
    """Per machine type: how similar (cosine) a training normal at least is to its nearest *other*
    training normal of the type, at the `percentile`-th percentile.  A new clip whose nearest training
    normal is much less similar than that is unlike every recording the run learnt from: a strong fault,
    or another microphone, room or machine (unfamiliar_note).  Measured on the bundled runs' own test
    clips: 1 of 1150 normals and 132 of 1150 anomalies of tastgram-noisy-arcmix are so far."""
    x = l2_normalise(np.asarray(train_embeddings, dtype=np.float32))
    types = train["machine_type"].astype(str).to_numpy()
    floors = {}
    for machine_type in np.unique(types):
        ref = x[types == machine_type]
        if len(ref) < 3:
            continue
        nearest = np.empty(len(ref), dtype=np.float32)
        for start in range(0, len(ref), 2048):  # a few thousand rows at a time: memory stays small
            sim = ref[start:start + 2048] @ ref.T
            sim[np.arange(sim.shape[0]), np.arange(start, start + sim.shape[0])] = -np.inf  # not itself
            nearest[start:start + 2048] = sim.max(1)
        floors[machine_type] = float(np.percentile(nearest, percentile))
    return floors


UNFAMILIAR_FACTOR, UNFAMILIAR_MIN_DISTANCE = 2.0, 0.05


def unfamiliar_note(similarity: float, floor: float | None, percentile: float = UNFAMILIAR_PERCENTILE) -> str:
    """"" for a clip about as close to the training normals as they are to each other, else a warning.
    Unfamiliar: its cosine distance to the nearest training normal (1 - similarity) is more than
    UNFAMILIAR_FACTOR times the floor's distance and at least UNFAMILIAR_MIN_DISTANCE.  Not merely below
    the floor: by its definition 1 % of ordinary normals are, and an untrained network's embeddings
    are all nearly equal (distances of 1e-5), where a factor alone would flag noise."""
    if floor is None or not np.isfinite(similarity):
        return ""
    if 1 - similarity <= max(UNFAMILIAR_FACTOR * (1 - floor), UNFAMILIAR_MIN_DISTANCE):
        return ""
    # an embedding this far from all training normals is either a strong fault or a recording unlike the
    # training data (another microphone, room or machine); the embedding alone cannot tell which
    return (f"unlike every training recording of its machine type (nearest at cosine similarity {similarity:.2f}; "
            f"{100 - percentile:g} % of the training normals have one above {floor:.2f}): a strong fault, or a "
            f"recording unlike what the run learnt from (another microphone, room or machine); listen before "
            f"trusting either reading. ")


def class_names(*tables: pd.DataFrame) -> dict[int, tuple[str, str]]:
    """class_index -> (machine_type, machine_id), from clips tables (pass the training clips too:
    a class may have training clips only, like DCASE 2020's additional training set)."""
    names: dict[int, tuple[str, str]] = {}
    for table in tables:
        for k, t, i in table[["class_index", *MACHINE]].drop_duplicates("class_index").itertuples(index=False):
            names.setdefault(int(k), (str(t), str(i)))
    return names


def machine_name(machine_type, machine_id) -> str:
    """A class centre named in full, "pump id_04": IDs (and sections) repeat across machine types, so an
    ID alone can name the wrong machine."""
    return f"{machine_type} {machine_id}" if isinstance(machine_type, str) and machine_type else str(machine_id)


def predicted_machine(row: pd.Series, names: dict[int, tuple[str, str]] | None = None) -> str | None:
    """The machine the cosine head took the clip for, with its type: "pump id_02" (machine IDs repeat
    across types).  None without a prediction."""
    predicted = row.get("predicted_machine_id")
    if not isinstance(predicted, str):
        return None
    k = _number(row.get("predicted_class"))
    if names and np.isfinite(k) and int(k) in names:
        return machine_name(*names[int(k)])
    return machine_name(row.get("predicted_machine_type"), predicted)


def nearest_other_machine(row: pd.Series) -> str | None:
    """The closest centre of another class, with its type ("valve id_00"); None without centres."""
    other = row.get("nearest_other_machine_id")
    return machine_name(row.get("nearest_other_machine_type"), other) if isinstance(other, str) else None


def is_confused(row: pd.Series) -> bool:
    """Whether the head's closest centre is another class than the clip's own (by class index when
    the row has both, since IDs alone repeat across machine types)."""
    predicted, own = _number(row.get("predicted_class")), _number(row.get("class_index"))
    if np.isfinite(predicted) and np.isfinite(own):
        return int(predicted) != int(own)
    return isinstance(row.get("predicted_machine_id"), str) and row.get("predicted_machine_id") != row.get("machine_id")


def diagnose(row: pd.Series, angle_limit_deg: float | None = None,
             names: dict[int, tuple[str, str]] | None = None, neighbours: pd.DataFrame | None = None) -> str:
    """A one-line hint at why the model called this clip what it did.

    `row` is a clip from decide() (label, outcome, machine_type, machine_id, class_index,
    predicted_class, predicted_machine_id, angle_to_centre_deg, angle_to_nearest_other_deg,
    nearest_other_machine_id); `names` from class_names() names a predicted machine of another type.
    `angle_limit_deg`: how far a normal may lie from its centre, e.g. the 90th percentile of its
    ID's training normals' angles (per_id_percentile(train, "angle_to_centre_deg")); an angle
    above it is "large".  `neighbours` (optional, nearest_training_clips() of the clip) tells a clip far
    from every centre whose nearest training normals are still of its own machine (an unusual normal at
    the edge of its class) from one unlike them.  The rules, first match wins:
      1. no class centres (the autoencoder): say how far the score is from the threshold;
      2. predicted class != own: "classified as <id>: ID confusion";
      3. both angles large: "far from every centre";
      4. a false alarm near its own centre: a borderline score;
      5. a missed anomaly near its own centre: the fault barely moves the embedding.
    """
    own_angle = _number(row.get("angle_to_centre_deg"))
    other_angle = _number(row.get("angle_to_nearest_other_deg"))
    predicted = row.get("predicted_machine_id")
    if not np.isfinite(own_angle) or not isinstance(predicted, str):
        margin = _number(row.get("margin"))
        if not np.isfinite(margin):
            return "no class centres and no threshold for this clip"
        threshold = _number(row.get("threshold"))
        of = f" of {threshold:.4g}" if np.isfinite(threshold) else ""
        if margin == 0:
            return f"no class centres in this model: its score lies exactly at the threshold{of}"
        # the distance to the threshold, not the score itself (a walkthrough read "score is 54.2")
        return (f"no class centres in this model: its score lies {abs(margin):.3g} {'above' if margin > 0 else 'below'} "
                f"the threshold{of}")
    if is_confused(row):
        return (f"classified as {predicted_machine(row, names)}: ID confusion "
                f"(it is {machine_name(row.get('machine_type'), row.get('machine_id'))})")
    limit = _number(angle_limit_deg)
    within = f", normals within {limit:.0f}°" if np.isfinite(limit) else ""
    if np.isfinite(limit) and own_angle > limit and other_angle > limit:
        far = (f"far from every centre ({own_angle:.0f}° from its own, {other_angle:.0f}° from "
               f"{nearest_other_machine(row)}{within})")
        if neighbours is not None and len(neighbours):
            own = ((neighbours["machine_type"].astype(str) == str(row.get("machine_type")))
                   & (neighbours["machine_id"].astype(str) == str(row.get("machine_id"))))
            if own.mean() > 0.5:  # the angle says "unusual", the neighbours say "still this machine"
                return (f"{far}, yet {int(own.sum())} of its {len(neighbours)} nearest training normals are of its "
                        "own machine: an unusual clip at the edge of its class")
            return f"{far}, and most of its nearest training normals are of other machines: unlike its own"
        return f"{far}: unusual for every class"
    near = f"near its own centre ({own_angle:.0f}°{within})"
    outcome = row.get("outcome")
    if outcome == FALSE_ALARM:
        return f"{near}: a borderline score just above the threshold"
    if outcome == MISSED:
        return f"{near}: the fault barely moves the embedding"
    return f"{near}: recognised as its own machine ID"


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
