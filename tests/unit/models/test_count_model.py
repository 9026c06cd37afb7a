"""Count β-VAE: shapes of the batch covariate, softmax × library, inputs and their validation,
and the Gaussian path unchanged."""

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from core.errors import ConfigError, DataError
from core.models.layers import mlp
from core.models.vae import BetaVAE
from core.training.inputs import batch_codes, counts_matrix, model_inputs


def test_softmax_times_library_sums_to_library():
    torch.manual_seed(0)
    m = BetaVAE(30, 4, [16], likelihood="nb").eval()
    z = torch.randn(7, 4)
    library = torch.tensor([1.0, 10.0, 250.0, 1e3, 3.3e4, 5.0, 77.0])
    with torch.no_grad():
        p = m.generative(z, library)
        scale = m.decode(z)
    np.testing.assert_allclose(p["mu"].sum(-1).numpy(), library.numpy(), rtol=1e-5)
    np.testing.assert_allclose(scale.sum(-1).numpy(), 1.0, rtol=1e-5)
    assert p["theta"].shape == (30,) and (p["theta"] > 0).all()


@pytest.mark.parametrize("likelihood", ["gaussian", "nb", "zinb"])
def test_batch_one_hot_shapes(likelihood):
    n_genes, n_latent, n_batch = 25, 5, 3
    m = BetaVAE(n_genes, n_latent, [16, 8], likelihood=likelihood, n_batch=n_batch,
                dispersion="gene-batch")
    codes = torch.tensor([0, 2, 1, 2])
    one_hot = m.batch_one_hot(codes, 4)
    assert one_hot.shape == (4, n_batch)
    assert one_hot.sum(-1).tolist() == [1.0] * 4 and one_hot[1, 2] == 1
    assert m.encoder[0].in_features == n_genes + n_batch
    assert m.decoder[0].in_features == n_latent + n_batch
    assert m.out.in_features == 16 + n_batch
    x = torch.rand(4, n_genes) * 5
    mu, logvar = m.encode(x.round(), codes)
    assert mu.shape == logvar.shape == (4, n_latent)
    assert m.decode(mu, codes).shape == (4, n_genes)
    if likelihood != "gaussian":
        assert m.log_theta.shape == (n_batch, n_genes)
    with pytest.raises(ConfigError, match="batch covariate"):
        m.encode(x)


def test_decoder_only_batch_encodes_without_codes():
    """encode_batch=False (scVI's encode_covariates=False): the encoder never reads the batch,
    so the latent of a cell does not depend on its batch code, while decoding still does."""
    m = BetaVAE(20, 4, [16], likelihood="nb", n_batch=3, encode_batch=False).eval()
    assert m.encoder[0].in_features == 20 and m.decoder[0].in_features == 4 + 3
    x = torch.rand(5, 20).mul(5).round()
    mu, _ = m.encode(x)
    mu_coded, _ = m.encode(x, torch.tensor([0, 1, 2, 0, 1]))
    assert torch.equal(mu, mu_coded)
    z = torch.zeros(1, 4)
    assert not torch.allclose(m.decode(z, torch.tensor([0])), m.decode(z, torch.tensor([2])))
    again = BetaVAE(**m.init_kwargs)
    again.load_state_dict(m.state_dict())
    assert again.init_kwargs["encode_batch"] is False


def test_count_loss_trains_and_batch_changes_decoding():
    rng = np.random.default_rng(0)
    counts = torch.as_tensor(rng.poisson(3.0, (32, 20)), dtype=torch.float32)
    batch = {"counts": counts, "library": counts.sum(-1, keepdim=True),
             "batch": torch.as_tensor(rng.integers(0, 2, 32))}
    m = BetaVAE(20, 3, [16], likelihood="zinb", n_batch=2)
    terms = m.loss(batch, beta=1.0)
    assert set(terms) == {"loss", "recon", "kl"} and torch.isfinite(terms["loss"])
    terms["loss"].backward()
    assert m.zi_logits.weight.grad is not None and m.log_theta.grad is not None
    m.eval()
    z = torch.zeros(2, 3)
    assert not torch.allclose(m.decode(z, torch.tensor([0, 0])), m.decode(z, torch.tensor([1, 1])))


def test_init_kwargs_round_trip():
    m = BetaVAE(12, 3, [8], likelihood="zinb", n_batch=4, dispersion="gene-batch")
    kw = m.init_kwargs
    assert kw["likelihood"] == "zinb" and kw["n_batch"] == 4 and kw["dispersion"] == "gene-batch"
    again = BetaVAE(**kw)
    again.load_state_dict(m.state_dict())


def test_gaussian_path_is_unchanged():
    """Same parameters (same seed, same creation order), same state-dict keys, same loss."""
    n, n_latent, hidden = 40, 4, [16, 8]
    torch.manual_seed(3)
    m = BetaVAE(n, n_latent, hidden, batch_norm=True, dropout=0.1)
    torch.manual_seed(3)
    encoder = mlp([n, *hidden], batch_norm=True, dropout=0.1)
    mu_layer, logvar_layer = torch.nn.Linear(8, n_latent), torch.nn.Linear(8, n_latent)
    decoder = mlp([n_latent, 8, 16], batch_norm=True, dropout=0.1)
    out = torch.nn.Linear(16, n)
    reference = {**{f"encoder.{k}": v for k, v in encoder.state_dict().items()},
                 **{f"mu.{k}": v for k, v in mu_layer.state_dict().items()},
                 **{f"logvar.{k}": v for k, v in logvar_layer.state_dict().items()},
                 **{f"decoder.{k}": v for k, v in decoder.state_dict().items()},
                 **{f"out.{k}": v for k, v in out.state_dict().items()},
                 "gene_weights": torch.ones(n)}
    state = m.state_dict()
    assert set(state) == set(reference)
    for k, v in reference.items():
        assert torch.equal(state[k], v), k
    m.eval()
    x = torch.randn(6, n)
    h = encoder.eval()(x)
    mu = mu_layer(h)
    logvar = logvar_layer(h).clamp(-10, 10)
    x_hat = out(decoder.eval()(mu))
    recon = ((x - x_hat) ** 2).sum(-1).mean()
    kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(-1)).mean()
    terms = m.loss({"x": x}, beta=0.5)
    torch.testing.assert_close(terms["recon"], recon)
    torch.testing.assert_close(terms["loss"], recon + 0.5 * kl)


def _adata(x, layers=None, obs=None):
    obs = obs if obs is not None else pd.DataFrame(index=[f"c{i}" for i in range(x.shape[0])])
    return anndata.AnnData(X=x, obs=obs, layers=layers or {})


def test_counts_validation_messages():
    rng = np.random.default_rng(0)
    raw = rng.poisson(2.0, (10, 6)).astype(np.float32)
    raw[:, 0] += 1
    assert counts_matrix(_adata(sp.csr_matrix(raw))).sum() == raw.sum()
    assert counts_matrix(_adata(np.log1p(raw), layers={"counts": raw})).sum() == raw.sum()
    with pytest.raises(DataError, match=r"X has non-integer values.*layers\['counts'\]"):
        counts_matrix(_adata(np.log1p(raw)))
    with pytest.raises(DataError, match=r"layers\['counts'\], but it has negative values"):
        counts_matrix(_adata(raw, layers={"counts": raw - 5}))
    with pytest.raises(DataError, match=r"layers\['counts'\], but it has non-integer"):
        counts_matrix(_adata(raw, layers={"counts": raw / 3}))
    with pytest.raises(DataError, match="Gaussian"):
        model_inputs(_adata(np.log1p(raw)), np.log1p(raw), likelihood="nb")
    empty = raw.copy()
    empty[3] = 0
    with pytest.raises(DataError, match="no counts"):
        model_inputs(_adata(empty), empty, likelihood="zinb")


def test_model_inputs_keys_and_batch_codes():
    rng = np.random.default_rng(1)
    raw = rng.poisson(2.0, (8, 5)).astype(np.float32) + 1
    obs = pd.DataFrame({"b": list("xyxyzzxy"), "one": ["a"] * 8}, index=[f"c{i}" for i in
                                                                        range(8)])
    ad = _adata(raw, obs=obs)
    gaussian = model_inputs(ad, raw)
    assert set(gaussian.data) == {"x"} and gaussian.n_batch == 0
    nb = model_inputs(ad, raw, likelihood="nb", batch_key="b")
    assert set(nb.data) == {"counts", "library", "batch"}
    np.testing.assert_allclose(nb.data["library"].ravel(), raw.sum(1))
    assert nb.batch_categories == ["x", "y", "z"] and nb.batch_codes.tolist() == [
        0, 1, 0, 1, 2, 2, 0, 1]
    with pytest.raises(ConfigError, match="single value"):
        batch_codes(ad, "one")
    with pytest.raises(ConfigError, match="not in the data"):
        batch_codes(ad, "nope")
