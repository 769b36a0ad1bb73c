"""A choice kept in the URL sticks however often it changes: picking fan, then pump, then valve shows
each in turn (a widget whose index was read from the URL became a new widget whenever the URL's
choice changed, and every second pick was lost), and a link still opens on the choice it names."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def bundled_app(monkeypatch, tmp_path):
    monkeypatch.setenv("ASD_BUNDLED", str(ROOT / "checkpoints"))
    monkeypatch.setenv("ASD_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))

    def open_page(name: str, **query) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app_pages" / f"{name}.py"), default_timeout=120)
        for key, value in query.items():
            at.query_params[key] = value
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    return open_page


def widget(at: AppTest, kind: str, label: str):
    return next(w for w in getattr(at, kind) if w.label == label)


@pytest.mark.parametrize("page, kind, label, param, picks", [
    ("angles", "selectbox", "Machine type", "type", ["fan", "pump", "valve", "fan"]),
    ("compare", "selectbox", "Scoring back-end", "backend", ["gmm", "knn", "lof", "default"]),
    ("compare", "radio", "Protocol", "protocol", ["pooled", "dcase", "pooled"]),
    ("false_alarms", "selectbox", "Rule", "rule", ["gamma", "percentile", "gamma"]),
    ("embeddings", "radio", "Projection", "projection", ["pca", "umap", "pca"]),
])
def test_every_pick_sticks_and_goes_into_the_url(bundled_app, page, kind, label, param, picks):
    at = bundled_app(page)
    for pick in picks:
        widget(at, kind, label).set_value(pick).run()
        assert not at.exception, [e.message for e in at.exception]
        assert widget(at, kind, label).value == pick and at.query_params[param] == pick


def test_a_toggle_turned_off_and_on_again_stays_on(bundled_app):
    at = bundled_app("compare")
    for value in (False, True, False):
        widget(at, "toggle", "Published rows").set_value(value).run()
        assert widget(at, "toggle", "Published rows").value is value
        assert at.query_params["published"] == ("1" if value else "0")


def test_a_link_opens_on_the_choices_it_names(bundled_app):
    at = bundled_app("compare", backend="knn", protocol="pooled", published="0")
    assert widget(at, "selectbox", "Scoring back-end").value == "knn"
    assert widget(at, "radio", "Protocol").value == "pooled" and widget(at, "toggle", "Published rows").value is False
    at = bundled_app("angles", type="valve", id="id_04")
    assert widget(at, "selectbox", "Machine type").value == "valve"
    assert widget(at, "selectbox", "Machine ID / section").value == "id_04"
    # a machine type change offers that type's IDs; an ID the new type lacks falls back to all
    widget(at, "selectbox", "Machine type").set_value("ToyConveyor").run()  # IDs 01-03
    assert widget(at, "selectbox", "Machine ID / section").value == "all"
