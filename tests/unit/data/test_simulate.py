"""The simulator's output and the network it reports."""

from __future__ import annotations

import numpy as np

from core.data.simulate import synthetic_grn


def test_shapes_names_and_seed():
    a = synthetic_grn(n_cells=300, n_tfs=12, n_genes=80, n_cell_types=3, seed=1)
    b = synthetic_grn(n_cells=300, n_tfs=12, n_genes=80, n_cell_types=3, seed=1)
    c = synthetic_grn(n_cells=300, n_tfs=12, n_genes=80, n_cell_types=3, seed=2)
    assert a.adata.shape == (300, 80)
    assert list(a.adata.uns["tf_names"]) == list(a.adata.var_names[:12])
    assert a.adata.obs["cell_type"].nunique() == 3
    assert (a.adata.X != b.adata.X).nnz == 0
    assert a.network.equals(b.network)
    assert not a.network.equals(c.network)
    x = a.adata.X.toarray()
    assert (x >= 0).all() and np.allclose(x, np.round(x))


def test_network_is_what_was_generated():
    sim = synthetic_grn(n_cells=1500, n_tfs=12, n_genes=150, seed=3)
    tfs = list(sim.adata.uns["tf_names"])
    n_master = sim.adata.uns["simulation"]["n_master"]
    tt, tg = sim.tf2tf, sim.tf2gene
    # TF→TF: a DAG below the masters; every non-master TF has 1–3 regulators placed before it.
    assert set(tt["target"]) == set(tfs[n_master:])
    assert all(tfs.index(s) < tfs.index(t) for s, t in zip(tt["source"], tt["target"]))
    # TF→gene: every target gene has 1–3 TF regulators; weight = sign · strength.
    per_gene = tg.groupby("target").size()
    assert len(per_gene) == 150 - 12 and per_gene.between(1, 3).all()
    assert np.allclose(tg["weight"], tg["sign"] * tg["strength"])
    assert sim.adata.uns["true_network"].shape[0] == len(tt) + len(tg)
    # The data follow the network: for genes with a single regulator, expression moves with
    # the regulator's activity in the direction of the edge's sign.
    x = np.log1p(sim.adata.X.toarray() / sim.adata.X.sum(1).A * 1e4)
    single = tg[tg["target"].map(per_gene) == 1]
    genes = list(sim.adata.var_names)
    agree = [np.sign(np.corrcoef(sim.activity[:, tfs.index(s)], x[:, genes.index(t)])[0, 1]) == sg
             for s, t, sg in zip(single["source"], single["target"], single["sign"])]
    assert len(agree) > 10 and np.mean(agree) > 0.9


def test_bundled_dataset_registered():
    from core.data.registry import DATASETS

    info = DATASETS["synthetic_grn"]
    assert info.label_key == "cell_type" and info.x_kind == "counts"
