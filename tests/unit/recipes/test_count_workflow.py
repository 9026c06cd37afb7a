"""train_betavae with count likelihoods and a batch column; reload; DE from the run."""

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from count_simulation import simulate_nb

from core.analysis.de import run_differential_expression
from core.data.preprocess import PreprocessConfig, preprocess
from core.errors import ConfigError, DataError
from core.recipes.betavae import train_betavae
from core.training.trainer import TrainConfig


@pytest.fixture(scope="module")
def counts_adata():
    counts, group, batch = simulate_nb(n_per_group=80, seed=1)
    obs = pd.DataFrame({"group": np.where(group == 0, "A", "B"),
                        "batch": np.where(batch == 0, "b0", "b1")},
                       index=[f"c{i}" for i in range(len(group))])
    raw = anndata.AnnData(X=sp.csr_matrix(counts), obs=obs)
    raw.var_names = [f"g{i}" for i in range(raw.n_vars)]
    return preprocess(raw, PreprocessConfig(n_top_genes=None))


pytestmark = pytest.mark.usefixtures("one_thread")


def _train(adata, tmp_path, **kwargs):
    model = {"hidden": [16], "n_latent": 3, **kwargs.pop("model", {})}
    return train_betavae(adata, dataset="sim", label_key="group", model=model,
                         train=TrainConfig(epochs=3, batch_size=32, device="cpu"),
                         runs_root=tmp_path, **kwargs)


def test_nb_run_with_batch_saves_metrics_and_reloads(counts_adata, tmp_path):
    run = _train(counts_adata, tmp_path, model={"likelihood": "nb"}, batch_key="batch")
    assert run.config["module"]["likelihood"] == "nb"
    assert run.config["module"]["n_batch"] == 2
    assert run.config["data"]["batch_categories"] == ["b0", "b1"]
    for key in ("batch_mixing_entropy", "batch_mixing_entropy_pca", "heldout_elbo",
                "heldout_recon_loglik", "ari_kmeans_vae", "ari_kmeans_pca"):
        assert np.isfinite(run.metrics[key]), key
    assert 0.0 <= run.metrics["batch_mixing_entropy"] <= np.log(2) + 1e-9
    assert run.metrics["heldout_elbo"] < run.metrics["heldout_recon_loglik"]
    module = run.load_module()
    assert module.likelihood == "nb" and module.n_batch == 2
    table = run_differential_expression(run, counts_adata, group_key="group", group1="B",
                                        group2="A", transform_batch="b0", n_samples=200)
    assert len(table) == counts_adata.n_vars and table["gene"].iloc[0].startswith("g")
    with pytest.raises(ConfigError, match="not one of the model's batches"):
        run_differential_expression(run, counts_adata, group_key="group", group1="B",
                                    transform_batch="b7", n_samples=10)


def test_zinb_reads_counts_layer_and_gaussian_has_no_batch_metrics(counts_adata, tmp_path):
    zinb = _train(counts_adata, tmp_path, model={"likelihood": "zinb",
                                                  "dispersion": "gene-batch"},
                  batch_key="batch")
    assert zinb.load_module().log_theta.shape == (2, counts_adata.n_vars)
    gauss = _train(counts_adata, tmp_path)
    assert gauss.config["module"]["likelihood"] == "gaussian"
    assert "batch_mixing_entropy" not in gauss.metrics
    assert "heldout_recon" in gauss.metrics and "heldout_elbo" not in gauss.metrics


def test_count_likelihood_on_log_data_says_which_layer(counts_adata, tmp_path):
    logged = counts_adata.copy()
    del logged.layers["counts"]
    with pytest.raises(DataError, match=r"layers\['counts'\]"):
        _train(logged, tmp_path, model={"likelihood": "nb"})
