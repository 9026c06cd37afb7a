"""Device choice and the figure builders used by the Data page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from core.device import describe_device, pick_device
from core.errors import ConfigError
from core.pl.figures import category_bar, qc_histograms


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")
    auto = pick_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else auto.type)
    assert describe_device("cpu") == f"CPU ({torch.get_num_threads()} threads)"
    with pytest.raises(ConfigError, match="Unknown device 'tpu'; use one of auto, cuda, mps"):
        pick_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_user_error():
    with pytest.raises(ConfigError, match="A CUDA GPU was requested but none is available"):
        pick_device("cuda")


def test_qc_histograms():
    qc = pd.DataFrame({"total_counts": np.arange(10.0), "n_genes_by_counts": np.arange(10)})
    fig = qc_histograms(qc, counts_label="Total expression per cell")
    assert [t.type for t in fig.data] == ["histogram", "histogram"]
    np.testing.assert_array_equal(fig.data[0].x, qc["total_counts"])
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["Total expression per cell", "Genes detected per cell"]


def test_category_bar_sorted_by_size():
    fig = category_bar(pd.Series(["B", "T", "T", "NK", "T", "B"]), title="cells")
    assert list(fig.data[0].y) == ["NK", "B", "T"]
    assert list(fig.data[0].x) == [1, 2, 3]
