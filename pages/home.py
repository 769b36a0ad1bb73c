"""Home: what the app is, and the data set in use."""
from pathlib import Path

import streamlit as st

from asdcore.paths import default_data_root


@st.cache_data(show_spinner="Scanning the data set ...")
def dataset_summary(root: str, stamp: float):
    """Counts per machine type / ID / split / label (cached until the folder changes)."""
    from asdcore.data import scan_dataset

    ds = scan_dataset(root, check_audio=False)
    return ds.summary_table(), len(ds.records), ds.layouts, [str(p) for p in ds.problems]


st.title("Margin-loss anomalous sound detection lab")
st.markdown(
    "Learn and debug how margin losses (ArcFace, ArcMix, Noisy-ArcMix, OS-SCL, sub-cluster AdaCos) "
    "shape the embeddings of machine sounds, and why a model raises a false alarm. Models learn "
    "only from normal sounds: a network tells machine IDs apart, and a clip far (by angle) from its "
    "own machine's class centre is anomalous.")

root = default_data_root()
st.subheader("Data set in use")
st.caption(f"`{root}`")
if not root.exists():
    st.warning(f"No data set at `{root}` yet. Run `make data` (the toy factory's default data set, "
               "about 20 s) or set `ASD_DATA` to a DCASE 2020 folder.")
else:
    table, n_clips, layouts, problems = dataset_summary(str(root), Path(root).stat().st_mtime)
    if n_clips == 0:
        st.error(f"No usable clips under `{root}`. Check it with `python -m asdcore data check {root}`.")
    else:
        st.markdown(f"**{n_clips} clips**, layout {', '.join(layouts)}, "
                    f"{len(table)} machine IDs across {table['machine_type'].nunique()} machine types.")
        st.dataframe(table, hide_index=True, width="stretch")
    if problems:
        with st.expander(f"{len(problems)} problem file(s)"):
            st.code("\n".join(problems))
