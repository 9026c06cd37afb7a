"""Trainer, schedules, device data, jobs and run folders (issue 3 core)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from core.errors import ConfigError
from core.models.layers import MaskedLinear
from core.models.losses import free_bits_kl, kl_normal, weighted_squared_error
from core.models.vae import BetaVAE
from core.runs import list_runs, load_run, new_run_dir, save_run
from core.training.device_data import CSRRows, DenseRows
from core.training.jobs import JobRegistry
from core.training.schedules import (
    Constant,
    CyclicalSchedule,
    LinearWarmup,
    ReferenceSchedule,
    from_dict,
    make_schedule,
    schedule_curve,
    to_dict,
)
from core.training.trainer import TrainConfig, encode_mean, fit, seed_everything, split_indices


def blobs(n: int = 300, g: int = 40, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cells from k well-separated clusters in gene space."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centers = rng.normal(0, 3, (k, g))
    return (centers[labels] + rng.normal(0, 1, (n, g))).astype(np.float32), labels


# ---- schedules ----------------------------------------------------------------------------------
def test_reference_schedule_matches_recipe():
    s = ReferenceSchedule()
    assert s.beta(0) == pytest.approx(1e-7)
    assert s.beta(9) == pytest.approx(1e-6)
    assert s.beta(19) == pytest.approx(2e-6)
    assert s.beta(500) == pytest.approx(2e-6)


def test_linear_warmup_and_constant():
    s = LinearWarmup(beta_max=2.0, warmup_epochs=4)
    assert schedule_curve(s, 6) == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])
    assert Constant(0.3).beta(17) == 0.3


def test_cyclical_restarts_each_cycle():
    s = CyclicalSchedule(beta_max=1.0, n_cycles=2, ratio=0.5, total_epochs=8)
    assert schedule_curve(s, 8) == pytest.approx([0, 0.5, 1, 1, 0, 0.5, 1, 1])


def test_schedule_round_trip_and_errors():
    s = make_schedule("linear", beta_max=0.1, warmup_epochs=3, unrelated=5)
    assert from_dict(to_dict(s)) == s
    with pytest.raises(ConfigError, match="Unknown β schedule"):
        make_schedule("sigmoid")
    with pytest.raises(ConfigError, match="must be ≥ 0"):
        make_schedule("constant", beta_value=-1.0)


# ---- losses and layers --------------------------------------------------------------------------
def test_kl_zero_at_prior_and_positive_elsewhere():
    mu, logvar = torch.zeros(4, 3), torch.zeros(4, 3)
    assert torch.allclose(kl_normal(mu, logvar), torch.zeros(4))
    assert (kl_normal(mu + 1, logvar) == 1.5).all()  # 0.5 · Σ μ² over 3 dims
    assert free_bits_kl(mu, logvar, 0.5)[0] == pytest.approx(1.5)  # floor 0.5 nats × 3 dims


def test_weighted_squared_error_uses_weights():
    x, xh = torch.ones(2, 3), torch.zeros(2, 3)
    w = torch.tensor([1.0, 2.0, 10.0])
    assert weighted_squared_error(x, xh, w).tolist() == [13.0, 13.0]


def test_input_dropout_corrupts_the_encoder_input_only_while_training():
    torch.manual_seed(0)
    m = BetaVAE(200, 3, [16], batch_norm=False, input_dropout=0.5)
    seen: list[torch.Tensor] = []
    m.encoder.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach().clone()))
    x = torch.rand(64, 200) + 1.0  # no zeros of its own
    m.train()
    torch.manual_seed(1)
    out = m.loss({"x": x})
    corrupted = seen[-1]
    assert 0.45 < float((corrupted == 0).float().mean()) < 0.55
    assert torch.equal(corrupted[corrupted != 0], x[corrupted != 0])  # kept values unscaled
    # the same draws again: the reconstruction is scored against the clean x
    torch.manual_seed(1)
    mu, logvar = m.encode(x)
    x_hat = m.decode(mu + torch.randn_like(mu) * (0.5 * logvar).exp())
    assert torch.allclose(out["recon"], weighted_squared_error(x, x_hat).mean())
    assert not torch.allclose(out["recon"], weighted_squared_error(corrupted, x_hat).mean())
    m.eval()  # evaluation sees the full input, deterministically
    mu_a, _ = m.encode(x)
    mu_b, _ = m.encode(x)
    assert torch.equal(seen[-1], x) and torch.equal(mu_a, mu_b)
    assert m.init_kwargs["input_dropout"] == 0.5
    with pytest.raises(ConfigError, match="input_dropout"):
        BetaVAE(5, 2, [4], input_dropout=1.0)


def test_masked_linear_keeps_masked_weights_zero():
    torch.manual_seed(0)
    mask = (torch.rand(5, 4) > 0.5).float()
    layer = MaskedLinear(4, 5, mask)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        layer(torch.randn(8, 4)).pow(2).sum().backward()
        opt.step()
    assert (layer.weight[mask == 0] == 0).all()
    assert (layer.state_dict()["weight"][mask == 0] == 0).all()


# ---- device data --------------------------------------------------------------------------------
def test_csr_rows_equal_dense_rows():
    rng = np.random.default_rng(1)
    dense = (rng.random((50, 30)) < 0.2) * rng.random((50, 30))
    dense[7] = 0  # an empty row
    idx = torch.tensor([7, 0, 49, 3, 3])
    csr = CSRRows(sp.csr_matrix(dense), torch.device("cpu")).rows(idx)
    ref = DenseRows(dense, torch.device("cpu")).rows(idx)
    assert torch.allclose(csr, ref.float())


# ---- trainer ------------------------------------------------------------------------------------
def test_split_is_seeded_and_disjoint():
    tr, va = split_indices(100, 0.2, seed=3)
    assert len(va) == 20 and len(set(tr) & set(va)) == 0 and len(tr) + len(va) == 100
    assert (split_indices(100, 0.2, seed=3)[1] == va).all()


def test_fit_learns_clusters_and_is_reproducible():
    x, labels = blobs()
    cfg = TrainConfig(epochs=15, batch_size=64, seed=0, device="cpu", patience=None)
    runs = []
    for _ in range(2):
        seed_everything(0)
        m = BetaVAE(x.shape[1], 4, [64, 32])
        res = fit(m, {"x": x}, config=cfg, schedule=Constant(0.01))
        runs.append((m, res))
    h = runs[0][1].history
    assert h["train_loss"].iloc[-1] < 0.5 * h["train_loss"].iloc[0]
    assert np.allclose(h["train_loss"], runs[1][1].history["train_loss"])
    from core.analysis.metrics import cluster_scores
    z = encode_mean(runs[0][0], x, device="cpu")
    scores, _ = cluster_scores(z, labels, leiden=False)
    assert scores["ari_kmeans"] > 0.9


def test_sparse_input_trains_like_dense():
    x, _ = blobs(120, 20)
    x = np.clip(x, 0, None)
    cfg = TrainConfig(epochs=3, batch_size=32, seed=1, device="cpu")
    h = []
    for data in (x, sp.csr_matrix(x)):
        seed_everything(1)
        m = BetaVAE(20, 3, [16])
        h.append(fit(m, {"x": data}, config=cfg).history["train_loss"].to_numpy())
    assert np.allclose(h[0], h[1], rtol=1e-4)


def test_early_stopping_keeps_best_epoch():
    x, _ = blobs(200, 20)
    m = BetaVAE(20, 2, [16])
    res = fit(m, {"x": x}, config=TrainConfig(epochs=200, lr=5e-2, patience=3, device="cpu"))
    assert res.stopped == "early_stopping"
    assert res.n_epochs_run < 200
    assert res.best_epoch == int(res.history["val_loss"].idxmin()) + 1


def test_early_stopping_compares_epochs_at_the_final_beta():
    """During a warm-up the loss at the epoch's own β grows with β; the best epoch must be
    chosen on recon + β_max·KL, never simply the first (smallest-β) epoch."""
    from core.training.schedules import LinearWarmup

    x, _ = blobs(300, 20)
    torch.manual_seed(2)  # an initialisation whose loss at each epoch's β is lowest in warm-up
    m = BetaVAE(20, 4, [32])
    res = fit(m, {"x": x}, schedule=LinearWarmup(beta_max=20.0, warmup_epochs=20),
              config=TrainConfig(epochs=60, lr=1e-2, patience=5, device="cpu", seed=0))
    h = res.history
    at_max = h["val_recon"] + 20.0 * h["val_kl"]
    assert res.best_epoch == int(at_max.idxmin()) + 1
    assert int(h["val_loss"].idxmin()) + 1 < 20  # the loss at each epoch's β favours warm-up
    assert res.best_epoch > 20  # after the warm-up, where β = 20 is actually trained for


def test_nan_loss_stops_and_keeps_last_good_weights():
    class Exploding(BetaVAE):
        calls = 0

        def loss(self, batch, *, beta=1.0, free_bits=0.0):
            out = super().loss(batch, beta=beta)
            Exploding.calls += 1
            if Exploding.calls > 6:  # epoch 2 onwards (3 batches per epoch)
                out["loss"] = out["loss"] * float("nan")
            return out

    x, _ = blobs(90, 10)
    m = Exploding(10, 2, [8])
    res = fit(m, {"x": x}, config=TrainConfig(epochs=10, batch_size=32, val_fraction=0,
                                              device="cpu"))
    assert res.stopped == "diverged"
    assert "NaN or Inf" in res.message and "epoch 3" in res.message
    assert res.n_epochs_run == 2
    assert all(torch.isfinite(p).all() for p in m.parameters())


def test_cancel_stops_within_an_epoch():
    x, _ = blobs(400, 20)
    cancel = threading.Event()
    cancel.set()
    res = fit(BetaVAE(20, 2, [8]), {"x": x}, config=TrainConfig(epochs=50, device="cpu"),
              cancel=cancel)
    assert res.stopped == "cancelled" and res.n_epochs_run == 0


def test_bad_config_messages():
    with pytest.raises(ConfigError, match="batch size"):
        TrainConfig(batch_size=1).validate()
    with pytest.raises(ConfigError, match="learning rate"):
        TrainConfig(lr=0).validate()


# ---- jobs ---------------------------------------------------------------------------------------
def test_jobs_are_private_to_their_owner_and_cancellable():
    reg = JobRegistry(max_running=1)

    def slow(progress, cancel):
        progress.set_phase("train", 100)
        for e in range(100):
            if cancel.is_set():
                return "stopped"
            progress.update(e + 1, {"train_loss": 1.0 / (e + 1)})
            time.sleep(0.02)
        return "done"

    a = reg.submit("alice", "betavae", slow)
    b = reg.submit("bob", "betavae", lambda p, c: 42)
    assert reg.get("bob", a.id) is None and reg.jobs("bob")[0].id == b.id
    time.sleep(0.1)
    a.cancel()
    assert a.wait(5) and a.status == "cancelled"
    assert b.wait(5) and b.status == "done" and b.result == 42
    snap = a.progress.snapshot()
    assert snap["epoch"] >= 1 and snap["history"][0]["train_loss"] == 1.0


def test_failed_job_reports_message():
    reg = JobRegistry()
    job = reg.submit("u", "k", lambda p, c: (_ for _ in ()).throw(ConfigError("bad option")))
    job.wait(5)
    assert job.status == "failed" and job.error == "bad option"


# ---- runs ---------------------------------------------------------------------------------------
def test_run_folder_round_trip(tmp_path):
    import pandas as pd

    m = BetaVAE(12, 3, [8], gene_weights=np.linspace(1, 2, 12))
    path = new_run_dir("betavae", "my data/set", tmp_path)
    save_run(path, config={"model": "betavae", "module": m.init_kwargs, "seed": 5,
                           "data": {"fingerprint": "abc"}},
             metrics={"ari_kmeans_vae": np.float64(0.5)},
             history=pd.DataFrame({"epoch": [1], "train_loss": [2.0]}), module=m,
             latent=np.ones((4, 3)), arrays={"pca": np.zeros((4, 3))})
    run = load_run(path)
    assert run.metrics["ari_kmeans_vae"] == 0.5 and run.config["seed"] == 5
    assert run.latent.shape == (4, 3) and "pca" in run.arrays
    loaded = run.load_module()
    assert torch.equal(loaded.gene_weights, m.gene_weights)
    for k, v in m.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    assert [r.id for r in list_runs(tmp_path, fingerprint="abc")] == [run.id]
    assert list_runs(tmp_path, fingerprint="other") == []
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    assert len(list_runs(tmp_path)) == 1  # a damaged folder is skipped, not fatal


def test_run_archive_reloads_elsewhere(tmp_path):
    import io
    import zipfile

    import pandas as pd
    import pytest

    from core.errors import DataError
    from core.runs import run_archive

    torch.manual_seed(0)
    m = BetaVAE(12, 3, [8], likelihood="nb")
    path = new_run_dir("betavae", "d", tmp_path / "here")
    save_run(path, config={"model": "betavae", "module": m.init_kwargs},
             metrics={"ari_kmeans_vae": 0.4}, history=pd.DataFrame({"epoch": [1]}),
             module=m, latent=np.arange(12.0).reshape(4, 3), arrays={"umap": np.ones((4, 2))})
    data = run_archive(path)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        assert {f"{path.name}/{f}" for f in ("config.json", "metrics.json", "history.csv",
                                              "model.pt", "latent.npy", "umap.npy")} == names
        zf.extractall(tmp_path / "there")
    [copy] = list_runs(tmp_path / "there")
    assert copy.id == path.name and copy.metrics["ari_kmeans_vae"] == 0.4
    np.testing.assert_array_equal(copy.latent, np.arange(12.0).reshape(4, 3))
    for k, v in m.state_dict().items():
        assert torch.equal(copy.load_module().state_dict()[k], v)
    with pytest.raises(DataError, match="not a run folder"):
        run_archive(tmp_path)


def test_import_run_archive_and_its_errors(tmp_path):
    import io
    import zipfile

    import pandas as pd
    import pytest

    from core.errors import DataError
    from core.runs import import_run_archive, run_archive

    torch.manual_seed(0)
    m = BetaVAE(12, 3, [8])
    path = new_run_dir("betavae", "d", tmp_path / "a")
    save_run(path, config={"model": "betavae", "module": m.init_kwargs}, metrics={"x": 1},
             history=pd.DataFrame({"epoch": [1]}), module=m, latent=np.ones((4, 3)))
    data = run_archive(path)
    run = import_run_archive(data, tmp_path / "b")
    assert run.path == tmp_path / "b" / path.name and run.metrics == {"x": 1}
    for k, v in m.state_dict().items():
        assert torch.equal(run.load_module().state_dict()[k], v)
    assert [r.id for r in list_runs(tmp_path / "b")] == [path.name]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [path.name]  # no temp left
    with pytest.raises(DataError, match="already in the runs folder"):
        import_run_archive(data, tmp_path / "b")

    def zipped(files: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, content in files.items():
                zf.writestr(name, content)
        return buf.getvalue()

    config = (path / "config.json").read_bytes()
    cases = {
        "not a .zip": b"plain text",
        "not a run folder": zipped({"../evil/config.json": config}),
        "not a run folder.": zipped({"r1/config.json": config, "r2/config.json": config}),
        "has no config.json": zipped({"r/model.pt": b"x"}),
        "does not load": zipped({"r/config.json": config, "r/model.pt": b"broken"}),
    }
    for message, blob in cases.items():
        with pytest.raises(DataError, match=message.rstrip(".")):
            import_run_archive(blob, tmp_path / "c")
    leftovers = list((tmp_path / "c").iterdir()) if (tmp_path / "c").exists() else []
    assert leftovers == []                     # nothing written by a refused archive
