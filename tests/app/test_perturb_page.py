"""The Perturb page under AppTest, on the simulated dataset with a small trained TF-VAE run."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest


@pytest.fixture
def app(open_on_synthetic) -> AppTest:
    return open_on_synthetic("app_pages/perturb.py")


def _frame(at, column: str):
    """The first table with ``column`` (AppTest does not expose dataframe keys)."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with column {column}")


def _table(at):
    return _frame(at, "baseline")


def _values(values) -> np.ndarray:
    """A plotly JSON array, plain or base64-packed."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values)


def _figure(at, title_part: str) -> dict:
    """The plotly figure (as JSON) whose title contains ``title_part``."""
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if title_part in str(spec["layout"].get("title", {}).get("text", "")):
            return spec
    raise AssertionError(f"no figure titled …{title_part}…")


def test_slider_changes_the_top_genes(app):
    tf = app.multiselect(key="pert_tfs").value[0]
    before = _table(app)
    assert (before["delta"].abs() > 0).any()     # opens on an example knock-out (issue 21)
    app.button(key=f"pert_reset_{tf}").click().run()
    assert not [d for d in app.dataframe if "baseline" in d.value.columns]   # no empty table
    app.button(key=f"pert_ko_{tf}").click().run()
    assert not app.exception, [e.value for e in app.exception]
    ko = _table(app)
    assert (ko["delta"].abs() > 0).any()
    proj = _figure(app, "projected into the UMAP")
    n_cells = len(_values(proj["data"][0]["x"]))
    assert n_cells > 10
    assert len(_values(proj["data"][1]["x"])) == n_cells         # every cell perturbed
    cascade = _figure(app, f"TF cascade around {tf}")
    nodes = next(t for t in cascade["data"] if t.get("name") == "nodes")
    colour = dict(zip(_values(nodes["text"]), _values(nodes["marker"]["color"])))
    assert colour[tf] != 0                                       # the knocked-out TF moved
    lo, hi = app.slider(key=f"pert_val_{tf}").min, app.slider(key=f"pert_val_{tf}").max
    app.slider(key=f"pert_val_{tf}").set_value(hi).run()
    moved = _table(app)
    assert not app.exception
    assert moved["gene"].head(5).tolist() != ko["gene"].head(5).tolist() or not (
        moved["delta"].head(5).to_numpy() == ko["delta"].head(5).to_numpy()).all()
    assert lo < hi
    # the dose-response gene follows the most changed gene until the user picks one
    expected = next(g for g in moved["gene"] if g != tf)          # not the TF's own gene
    assert app.selectbox(key="pert_dose_gene").value == expected
    picked = moved["gene"].iloc[3]
    app.selectbox(key="pert_dose_gene").select(picked).run()
    app.button(key=f"pert_ko_{tf}").click().run()
    assert app.selectbox(key="pert_dose_gene").value == picked
    assert f"→ {picked}" in _figure(app, "Dose–response")["layout"]["title"]["text"]
    app.button(key=f"pert_reset_{tf}").click().run()
    assert any("move a slider" in i.value for i in app.info)


def test_group_scenarios_and_compare(app):
    tfs = app.multiselect(key="pert_tfs").options[:2]
    app.multiselect(key="pert_tfs").set_value(tfs).run()
    app.button(key=f"pert_ko_{tfs[0]}").click().run()
    # The name follows the sliders until the user types one.
    assert app.text_input(key="pert_scn_name").value.startswith(f"{tfs[0]} → ")
    app.text_input(key="pert_scn_name").set_value("A").run()
    app.button(key="pert_scn_save").click().run()
    app.button(key=f"pert_ko_{tfs[1]}").click().run()
    app.radio(key="pert_scope").set_value("one group").run()
    assert app.text_input(key="pert_scn_name").value == "A"           # typed: kept
    app.text_input(key="pert_scn_name").set_value("A+B").run()
    app.button(key="pert_scn_save").click().run()
    assert not app.exception, [e.value for e in app.exception]
    table = _frame(app, "B_minus_A")
    assert {"delta_A", "delta_B", "B_minus_A"} <= set(table.columns)
    assert table["B_minus_A"].abs().max() > 0


def test_umap_selection_scope_shows_the_lasso_umap(app):
    app.radio(key="pert_scope").set_value("selection on the UMAP").run()
    assert not app.exception, [e.value for e in app.exception]
    umap = _figure(app, "lasso or box-select")
    index = np.sort(np.concatenate([_values(t["customdata"]) for t in umap["data"]]))
    assert index.tolist() == list(range(len(index))) and len(index) > 10   # each cell once
    assert any("Draw a lasso" in i.value for i in app.info)
    proj = _figure(app, "projected into the UMAP")
    assert len(_values(proj["data"][1]["x"])) == 0               # nothing selected yet
