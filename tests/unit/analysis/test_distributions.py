"""Distribution distances on tiny cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis import distributions as dd
from core.analysis import scgen as sg


def _cloud(n: int = 200, d: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


def test_identical_sets_score_zero_and_fully_mixed():
    a = _cloud()
    assert dd.energy_distance(a, a) == 0.0
    assert dd.mmd_rbf(a, a, bandwidth=1.0) == 0.0
    # Each cell has an exact twin in the other set, counted among its neighbours.
    assert dd.knn_mixing(a, a.copy(), k=1) == pytest.approx(1 / (200 / 399))


def test_energy_and_mmd_grow_with_the_shift():
    a, b = _cloud(seed=1), _cloud(seed=2)
    energies = [dd.energy_distance(a, b + s) for s in (0.0, 0.5, 1.0, 2.0)]
    mmds = [dd.mmd_rbf(a, b + s, bandwidth=2.0) for s in (0.0, 0.5, 1.0, 2.0)]
    assert all(x < y for x, y in zip(energies, energies[1:], strict=False))
    assert all(x < y for x, y in zip(mmds, mmds[1:], strict=False))
    assert energies[1] > 0 and mmds[1] > 0


def test_energy_distance_of_two_points_by_hand():
    # One point each, distance 3: 2·3 − 0 − 0 = 6.
    assert dd.energy_distance(np.array([[0.0, 0.0]]), np.array([[3.0, 0.0]])) == 6.0
    # MMD² of two points: k(a,a) + k(b,b) − 2 k(a,b) = 2 − 2 exp(−9 / 2).
    assert dd.mmd_rbf(np.array([[0.0]]), np.array([[3.0]]), 1.0) == pytest.approx(
        2 - 2 * np.exp(-4.5))


def test_knn_mixing_separate_clouds_is_zero_and_draws_of_one_law_near_one():
    a = _cloud(seed=3)
    assert dd.knn_mixing(a, a + 100.0) == 0.0
    assert dd.knn_mixing(a, _cloud(seed=4)) == pytest.approx(1.0, abs=0.15)


def test_knn_mixing_sees_a_collapsed_prediction_as_its_own_cloud():
    real = _cloud(n=300, d=50, seed=7)
    collapsed = 0.1 * _cloud(n=300, d=50, seed=8)  # right mean, a tenth of the spread
    assert dd.knn_mixing(collapsed, real) < 0.1
    assert dd.energy_distance(collapsed, real) > dd.energy_distance(_cloud(300, 50, 9), real)


def test_reference_space_scores_a_shifted_copy_worse():
    rng = np.random.default_rng(5)
    real = rng.normal(size=(80, 30)) + np.linspace(0, 3, 30)
    control = real - 1.0
    space = dd.fit_reference_space(real, context=control)
    same = dd.distribution_scores(space, real)
    assert same["energy"] == pytest.approx(0.0, abs=1e-9)
    assert same["mmd"] == pytest.approx(0.0, abs=1e-9)
    far = dd.distribution_scores(space, control)
    assert far["energy"] > 0.5 and far["mmd"] > 0.01 and far["knn_mixing"] < 0.5


def test_subsampling_caps_the_cells(monkeypatch):
    monkeypatch.setattr(dd, "MAX_CELLS", 50)
    space = dd.fit_reference_space(_cloud(n=300, d=8))
    assert space.target.shape[0] == 50 and space.transform(_cloud(n=400, d=8)).shape[0] == 50


def test_r2_of_variances_by_hand():
    # Per-gene variances (population, ddof 0): predicted [1, 4, 9] vs real [2, 8, 18] → R² 1;
    # real [9, 4, 1] → r = −0.9078..., R² = 0.8241...
    pred = np.array([[-1.0, -2.0, -3.0], [1.0, 2.0, 3.0]])
    assert sg.r2_of_variances(pred, pred * np.sqrt(2)) == pytest.approx(1.0)
    rev = pred[:, ::-1]
    r = np.corrcoef([1, 4, 9], [9, 4, 1])[0, 1]
    assert sg.r2_of_variances(pred, rev) == pytest.approx(r ** 2)
    assert sg.r2_of_variances(pred, rev, genes=[0, 2]) == pytest.approx(1.0)


def test_score_methods_share_one_space_and_rank_the_truth_first():
    rng = np.random.default_rng(6)
    control = rng.normal(size=(60, 20))
    real = control + 2.0 + rng.normal(scale=0.1, size=control.shape)
    preds = {"good": real + rng.normal(scale=0.05, size=real.shape), "bad": control}
    s = sg.score_methods(preds, control, real, np.arange(5))
    assert s["good"]["energy"] < s["bad"]["energy"]
    assert s["good"]["mmd"] < s["bad"]["mmd"]
    assert s["good"]["knn_mixing"] > s["bad"]["knn_mixing"]
    assert set(s["good"]) == set(sg.SCORE_TITLES)
