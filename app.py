"""The Streamlit app: `streamlit run app.py` (or `make run`).

Pages live in pages/; they only wire widgets to asdcore and read run folders.
"""
import streamlit as st

st.set_page_config(page_title="Margin-loss ASD lab", page_icon=":material/graphic_eq:", layout="wide")

home = st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)
st.navigation([home]).run()
