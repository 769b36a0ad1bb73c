"""The clip filters of the analysis pages, kept in the URL: machine type and ID / section (?type=,
?id=), and on DCASE 2021-2023 data domain and attributes (?domain=, ?attr=).

Clips of such data carry a source/target `domain` and attribute values ("op=105;mic=near;hall=A")
in their clips tables.  On other data (DCASE 2020, the default toy set) the filters are not shown.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages.shared.url_state import url_choice_key

ALL = "all"


def values_of(tables: list[pd.DataFrame], column: str) -> list[str]:
    """The non-empty values of `column` across the tables, sorted."""
    found = set()
    for table in tables:
        if column in table.columns:
            found |= {str(v) for v in table[column].dropna().unique() if str(v)}
    return sorted(found)


def has_domains(tables: list[pd.DataFrame]) -> bool:
    return bool(values_of(tables, "domain"))


def domain_filters(tables: list[pd.DataFrame], c_domain, c_attr,
                   scope: pd.DataFrame | None = None) -> tuple[str | None, str | None]:
    """(domain, attributes) chosen in the two columns, None for "all"; (None, None) without
    domains.  The attribute choices are those of `scope` (the clips the other filters leave) when
    given, so a section's attribute values are offered, not every section's."""
    if not has_domains(tables):
        return None, None
    domains = [ALL, *values_of(tables, "domain")]
    domain = c_domain.selectbox("Domain", domains, key=url_choice_key("domain", domains, ALL),
                                help="DCASE 2021-2023: the source domain has most training clips; the target "
                                     "domain changes an operating condition and has only a few")
    attrs = [ALL, *values_of([scope] if scope is not None else tables, "attributes")]
    attributes = c_attr.selectbox("Attributes", attrs, key=url_choice_key("attr", attrs, ALL),
                                  help="the attribute values in the file names (operating condition, "
                                       "microphone, hall ...)")
    st.query_params.update(domain=domain, attr=attributes)
    return (None if domain == ALL else domain), (None if attributes == ALL else attributes)


def machine_filters(tables: list[pd.DataFrame], c_type, c_id) -> tuple[str | None, str | None]:
    """(machine type, machine ID / section) chosen in the two columns, None for "all"; the IDs offered
    are the chosen type's.  Kept in the URL as ?type= and ?id=."""
    every = pd.concat([t[["machine_type", "machine_id"]] for t in tables]).astype(str)
    types = [ALL, *sorted(every["machine_type"].unique())]
    machine_type = c_type.selectbox("Machine type", types, key=url_choice_key("type", types, ALL))
    ids = [ALL, *(sorted(every.loc[every["machine_type"] == machine_type, "machine_id"].unique())
                  if machine_type != ALL else [])]
    machine_id = c_id.selectbox("Machine ID / section", ids, key=url_choice_key("id", ids, ALL),
                                disabled=machine_type == ALL, help="pick a machine type first")
    st.query_params.update(type=machine_type, id=machine_id)
    return (None if machine_type == ALL else machine_type), (None if machine_id == ALL else machine_id)
