"""Issue 19, items 2 and 4: a layer stack too large to allocate is refused before any tensor."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.models.layers import MAX_STACK_BYTES, mlp
from core.models.vae import BetaVAE


@pytest.mark.parametrize("hidden", [[2_000_000_000], [100_000, 100_000]])
def test_huge_hidden_layers_are_a_config_error_not_an_allocation(hidden):
    with pytest.raises(ConfigError, match=r"need [\d,.]+ GB of weights \(over 1 GB\)"):
        BetaVAE(2000, 10, hidden)


def test_the_default_model_on_30k_genes_fits():
    assert 4 * (30_000 * 1024 + 1024 * 512 + 512 * 256) < MAX_STACK_BYTES
    assert len(mlp([30, 8, 4])) == 6
