"""The biological reading of a TF unit value (issue 21, item 7)."""

from __future__ import annotations

import numpy as np

from core.analysis.perturb import unit_reading


def test_reading_gives_percentile_and_expression():
    units = np.linspace(-1.0, 2.0, 101)
    expression = np.log1p(np.linspace(0.0, 10.0, 101))     # counts per 10k 0 … 10
    assert unit_reading(-1.0, units, expression) == (
        "as low as the lowest cell; its gene's expression there: 0 counts per 10k")
    assert unit_reading(-3.0, units).startswith("below every cell")
    assert unit_reading(0.5, units, expression) == (
        "the 50th percentile of cells; its gene's expression there: 5 counts per 10k")
    assert unit_reading(-0.97, units).startswith("the 1st percentile")
    assert unit_reading(9.0, units) == "above every cell"
