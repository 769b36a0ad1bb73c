"""The Streamlit app: `streamlit run app.py` (or `make run`).

Pages live in app_pages/; they only wire widgets to asdcore (figures from asdcore.plots) and
read run folders (asdcore.runs).  Not pages/: a folder of that name beside app.py switches
Streamlit to its old directory-based navigation until st.navigation has run once, so a shared
link opened on a fresh server would show a different app.  Home, the default page, is served at
the root URL.  The selected run(s) and clip live in the URL's query parameters, so a reload or a
shared link shows the same view.

A server's first page starts a background import of the heavy modules later pages need
(app_pages/warm_up.py), so a newcomer's next clicks do not wait for them.
"""
import streamlit as st

from app_pages import warm_up
from asdcore import shared_mode

st.set_page_config(page_title="Margin-loss ASD lab", page_icon=":material/graphic_eq:", layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/lessons.py", title="Lessons", icon=":material/menu_book:", url_path="lessons"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/table_chart:", url_path="compare"),
    st.Page("app_pages/angles.py", title="Angles", icon=":material/architecture:", url_path="angles"),
    st.Page("app_pages/attention.py", title="Attention", icon=":material/visibility:", url_path="attention"),
    st.Page("app_pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:", url_path="embeddings"),
    st.Page("app_pages/false_alarms.py", title="False alarms", icon=":material/notification_important:",
            url_path="false-alarms"),
    st.Page("app_pages/score.py", title="Score a clip", icon=":material/hearing:", url_path="score"),
    st.Page("app_pages/margin_lab.py", title="Margin lab", icon=":material/school:", url_path="margin-lab"),
]
_shared = shared_mode.settings()
if _shared.enabled:  # before navigation, so every page carries it (ASD_SHARED=1, `make serve-shared`)
    st.info(shared_mode.banner_text(_shared), icon=":material/groups:")
with warm_up.script_running():  # starts the warm-up after the first page; it waits while pages run
    st.navigation(PAGES).run()
