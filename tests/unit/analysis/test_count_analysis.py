"""DE on a simulated NB dataset, denoised expression, batch mixing entropy, and the workflow."""

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from count_simulation import N_DOWN, N_GENES, N_UP, simulate_nb

from core.analysis.de import differential_expression, normalized_expression
from core.analysis.metrics import batch_mixing_entropy
from core.errors import ConfigError
from core.models.vae import BetaVAE
from core.training.inputs import model_inputs
from core.training.trainer import TrainConfig, fit


@pytest.fixture(scope="module")
def trained_nb():
    counts, group, batch = simulate_nb()
    obs = pd.DataFrame({"group": np.where(group == 0, "A", "B"), "batch": batch.astype(str)},
                       index=[f"c{i}" for i in range(len(group))])
    ad = anndata.AnnData(X=sp.csr_matrix(counts), obs=obs)
    inputs = model_inputs(ad, None, likelihood="nb", batch_key="batch")
    torch.manual_seed(0)
    module = BetaVAE(N_GENES, 4, [32], likelihood="nb", n_batch=inputs.n_batch)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only contend on a shared CPU
    try:
        result = fit(module, inputs.data, config=TrainConfig(
            epochs=40, batch_size=64, lr=3e-3, patience=None, device="cpu"))
    finally:
        torch.set_num_threads(threads)
    assert result.stopped == "completed"
    return module, inputs, group


def test_de_recovers_planted_genes(trained_nb):
    module, inputs, group = trained_nb
    table = differential_expression(module, inputs.encoder_input, group == 1, group == 0,
                                    batch=inputs.batch_codes, n_samples=2000, transform_batch=0)
    planted = set(range(N_UP + N_DOWN))
    # Null genes shift a little too (ρ sums to 1), so rank by effect size.
    top = table.reindex(table["lfc_mean"].abs().sort_values(ascending=False).index)
    found = {int(g.split("_")[1]) for g in top["gene"].head(N_UP + N_DOWN)}
    assert len(found & planted) >= 10, top.head(15)
    by_gene = table.set_index("gene")
    for g in range(N_UP):
        assert by_gene.loc[f"gene_{g}", "lfc_mean"] > 1.0
        assert by_gene.loc[f"gene_{g}", "bayes_factor"] > 2.0
    for g in range(N_UP, N_UP + N_DOWN):
        assert by_gene.loc[f"gene_{g}", "lfc_mean"] < -1.0
    assert by_gene.loc[[f"gene_{g}" for g in planted], "is_de"].mean() >= 0.8
    # Null genes all move by the same normalisation shift (ρ sums to 1), not one by one.
    null = by_gene.drop(index=[f"gene_{g}" for g in planted])["lfc_mean"]
    assert (null - null.median()).abs().median() < 0.3
    np.testing.assert_allclose(table["proba_m1"] + table["proba_m2"], 1.0)
    assert ((table["proba_de"] >= 0.5) & (table["proba_de"] <= 1.0)).all()


def test_normalized_expression_rows_and_transform_batch(trained_nb):
    module, inputs, _ = trained_nb
    own = normalized_expression(module, inputs.encoder_input, inputs.batch_codes)
    np.testing.assert_allclose(own.sum(1), 1e4, rtol=1e-4)
    in0 = normalized_expression(module, inputs.encoder_input, inputs.batch_codes,
                                transform_batch=0, library_size=1.0, n_samples=2)
    assert in0.shape == own.shape
    np.testing.assert_allclose(in0.sum(1), 1.0, rtol=1e-4)
    ones = inputs.batch_codes == 0
    np.testing.assert_allclose(
        normalized_expression(module, inputs.encoder_input, inputs.batch_codes,
                              transform_batch=0)[ones], own[ones], rtol=1e-5)


def test_de_needs_count_model():
    with pytest.raises(ConfigError, match="NB or ZINB"):
        differential_expression(BetaVAE(5, 2, [4]), np.ones((4, 5)), np.array([0, 1]),
                                np.array([2, 3]))


def test_batch_mixing_entropy_mixed_vs_separated():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(600, 5))
    mixed = rng.integers(0, 2, 600)
    assert batch_mixing_entropy(emb, mixed) > 0.6  # log 2 ≈ 0.69
    separated_emb = emb + np.where(mixed[:, None] == 1, 50.0, 0.0)
    assert batch_mixing_entropy(separated_emb, mixed) < 0.05
    assert batch_mixing_entropy(emb, np.zeros(600)) == 0.0
