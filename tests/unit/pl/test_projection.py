"""kNN projection into an embedding and the plotly-selection helpers of the Perturb page."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.analysis.embeddings import KnnProjector, project_onto
from core.pl.figures import embedding_scatter
from core.pl.network import neighbourhood_figure
from core.pl.perturb import projection_scatter, selected_cells, with_cell_index


def test_identical_points_land_on_their_reference_coordinates_with_k1():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(50, 6)).astype(np.float32)
    coords = rng.normal(size=(50, 2)).astype(np.float32)
    rows = np.array([3, 17, 42])
    np.testing.assert_allclose(project_onto(latent, coords, latent[rows], k=1), coords[rows])


def test_projection_is_the_mean_of_k_nearest_and_handles_empty_input():
    latent = np.array([[0.0], [1.0], [10.0], [11.0]], dtype=np.float32)
    coords = np.array([[0, 0], [2, 2], [5, 5], [7, 7]], dtype=np.float32)
    proj = KnnProjector(latent, coords, k=2)
    np.testing.assert_allclose(proj(np.array([[0.4], [10.6]])), [[1, 1], [6, 6]])
    assert proj(np.zeros((0, 1))).shape == (0, 2)
    assert KnnProjector(latent, coords, k=99).k == 4


def test_selection_maps_per_trace_points_to_cell_indices():
    labels = np.array(["b", "a", "b", "a", "b"])
    fig = with_cell_index(embedding_scatter(np.arange(10.0).reshape(5, 2), labels, title=""),
                          labels)
    by_name = {t.name: list(t.customdata) for t in fig.data}
    assert by_name == {"b": [0, 2, 4], "a": [1, 3]}
    points = [{"curve_number": 1, "point_index": 1, "customdata": 3},
              {"curve_number": 0, "point_index": 0, "customdata": [0]}]
    assert selected_cells({"points": points}).tolist() == [0, 3]
    assert selected_cells({"points": []}).tolist() == []


def test_projection_and_cascade_figures():
    fig = projection_scatter(np.zeros((10, 2)), np.ones((3, 2)))
    assert [len(t.x) for t in fig.data] == [10, 3]
    import pandas as pd

    edges = pd.DataFrame({"source": ["A", "A"], "target": ["B", "C"], "weight": [0.5, -0.2],
                          "layer": "tf2tf"})
    fig = neighbourhood_figure(edges, "A", node_values={"A": -1.0, "B": 0.5}, value_name="Δz₂")
    nodes = next(t for t in fig.data if t.name == "nodes")
    assert isinstance(fig, go.Figure)
    assert dict(zip(nodes.text, nodes.marker.color)) == {"A": -1.0, "B": 0.5, "C": 0.0}
    assert nodes.marker.cmin == -1.0 and nodes.marker.cmax == 1.0
