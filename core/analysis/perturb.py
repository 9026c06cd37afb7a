"""In-silico TF perturbations of a trained TF-VAE: set or shift TF units, read Δ of every gene.

Usage::

    p = perturber_for_run(run, adata)             # or Perturber(tf_decoder(module), x)
    res = p.apply({"STAT1": ("set", p.presets("STAT1")["knock-out"])})
    res.gene_table()                              # gene, delta, baseline, perturbed
    res.gene_table(target_index(edges, p.gene_names), top=200)   # only the rows shown
    res.by_group(adata.obs["cell_type"])          # groups × genes mean Δ
    res.cascade()                                 # Δ of every TF after one and two TF→TF steps

How it computes
---------------
The cells are encoded once (posterior means μ, eval mode). A spec maps TF → ``("set", v)``
(the unit takes the value ``v`` in every perturbed cell) or ``("shift", d)`` (``μ + d``).
Units live in the TF's own units: phase (a) of the recipe and the alignment term make each
unit track its TF's standardised expression, so the slider range is the observed range of μ.

Only the TF part of the decoder is evaluated per cell (``z → z₁ → z₂``, the module's own
:meth:`~core.models.tfvae.TFVAE.tf_step`), always on all cells with only the chosen rows
changed, i.e. the same shapes and code as the cached baseline, so a no-op spec (and every
unperturbed cell) gives Δ exactly 0. The TF→gene layer is linear in eval mode
(``x̂ = W_masked z₂ + b``; no activation, the gene dropout is the identity), so the mean Δ of a
group of cells is ``W_masked · mean(Δz₂)``: exact, and it avoids a cells × genes product on
every slider move. :meth:`PerturbResult.per_cell` gives the cells × genes Δ when asked.

Per slider move the page needs only the shown rows (``gene_table(top=n)``, a partial sort, and
:meth:`PerturbResult.extremes` for the bar chart), the group means (one product: group one-hot
/ sizes · Δz₂, then the TF→gene layer) and the cascade; the full table is built when its CSV
is downloaded. :meth:`Perturber.dose_response` caches the curve per (TF, values, cells, other
TFs), so moving that TF's own slider reuses it. Everything runs with one torch and one BLAS
thread (:func:`limit_threads`, restored afterwards): these products are small, and on a busy
CPU a second thread made a slider change several times slower.

Count models (NB / ZINB decoder)
--------------------------------
There the TF→gene layer gives logits η = W z₂ + b of a softmax over genes, and the results are
in **log2 of the normalised expression per 10,000 counts**: a cell's value of gene g is
log2(10⁴ · softmax(η)_g) = (η_g − LSE(η) + ln 10⁴)/ln 2, so Δ is a log2 fold change,
(W Δz₂ − ΔLSE)_g / ln 2, with one scalar ΔLSE per cell (the change of the softmax's
normaliser). Every mean over cells stays one product with W plus the mean of ΔLSE, so the
group means and the dose–response are as cheap as for the Gaussian model; ΔLSE itself needs
the cells × genes logits of the perturbed cells once per perturbation.

What a TF without outgoing edges can change
-------------------------------------------
In :class:`~core.models.tfvae.TFVAE` the TF→TF step is residual, ``h ← h + tanh(BN(W h))``,
and the TF→TF mask excludes the diagonal. If TF *k* has no outgoing TF→TF edge (column *k* of
the masked ``W`` is zero), changing ``z_k`` by Δ changes ``W h`` nowhere, so Δz₁ = Δz₂ = Δ·e_k:
only *k*'s own unit moves, through the identity path. If it also has no outgoing TF→gene
edge, the only non-zero weight in column *k* of the TF→gene layer is the self edge (TF unit →
its own gene, always kept outside the mask budget), so exactly one gene changes: the TF's own
gene, by ``Δ · w_self``. :func:`outgoing_edges` tells which TFs have outgoing edges.

A model with the prior backbone (``TFVAESettings.backbone``) adds a fixed linear layer: x̂ gets
``backbone_weight · z₂`` (so :attr:`Perturber.weight` is the masked layer plus it), and a set
or shift first moves the other TF units by the backbone's propagated TF→TF effects
(``tf_cascade``; the intervened units keep their values) before the TF→TF steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from core.analysis.tf_decoder import tf_decoder
from core.errors import ConfigError
from core.threads import limit_threads
from core.training.inputs import inputs_for_run

MODES = ("set", "shift")
#: Units of x̂, Δ and baseline: Gaussian models, count models (see the module docstring).
UNITS = {"gaussian": "scaled expression", "counts": "log2 normalised expression per 10k"}
_LN2 = float(np.log(2.0))
_LN_1E4 = float(np.log(1e4))
Spec = Mapping[str, tuple[str, float]]
#: TF → indices of the genes it has a learned edge to (see :func:`target_index`).
TargetIndex = Mapping[str, np.ndarray]


def target_index(edges: pd.DataFrame, gene_names: Sequence[str]) -> dict[str, np.ndarray]:
    """TF → sorted indices (into ``gene_names``) of its learned targets (both layers).

    Built once per run (the page caches it) so the gene table's ``direct_target`` column
    costs a few array look-ups per slider move instead of a scan of every edge.
    """
    gi = pd.Index([str(g) for g in gene_names])
    pos = gi.get_indexer(edges["target"].astype(str))
    src = edges["source"].astype(str).to_numpy()
    keep = pos >= 0
    frame = pd.DataFrame({"source": src[keep], "pos": pos[keep]})
    return {str(tf): np.unique(g["pos"].to_numpy()) for tf, g in frame.groupby("source")}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def unit_reading(value: float, unit_values: np.ndarray,
                 expression: np.ndarray | None = None) -> str:
    """What a TF unit's value means in cells: the percentile of the cells' μ it sits at and,
    given the TF gene's log1p normalised expression per cell, that gene's expression at the
    same percentile (quantile matching, so it holds whatever the unit's scale).

    E.g. a knock-out to the observed minimum reads ``"as low as the lowest cell; its gene's
    expression there: 0 counts per 10k"``, not only "−2.71" (issue 21, item 7).
    """
    v = np.asarray(unit_values, dtype=np.float64)
    pct = float(np.mean(v < value)) if len(v) else 0.0   # share of cells below the value
    tol = 1e-4 * max(float(v.max() - v.min()), 1e-6)   # the slider rounds to 0.01
    if value < v.min() - tol:
        where = "below every cell"
    elif value <= v.min() + tol:
        where = "as low as the lowest cell"
    elif value > v.max() + tol:
        where = "above every cell"
    else:
        where = f"the {_ordinal(int(round(100 * pct)))} percentile of cells"
    if expression is None or len(expression) == 0:
        return where
    level = float(np.expm1(np.quantile(np.asarray(expression, dtype=np.float64),
                                       min(max(pct, 0.0), 1.0))))
    amount = "0 counts" if level < 0.05 else f"{level:.2g} counts"
    return f"{where}; its gene's expression there: {amount} per 10k"


def outgoing_edges(module: Any) -> pd.DataFrame:
    """Per TF: number of outgoing TF→TF and TF→gene edges (self edges not counted)."""
    tt = (module.tf2tf.mask.detach().cpu().numpy() > 0)
    tg = (module.tf2gene.mask.detach().cpu().numpy() > 0) & (
        module.self_edge_mask().numpy() == 0)
    return pd.DataFrame({"tf": list(module.tf_names), "out_tf2tf": tt.sum(0).astype(int),
                         "out_tf2gene": tg.sum(0).astype(int)})


@dataclass
class PerturbResult:
    """Effects of one perturbation on the selected cells.

    Attributes
    ----------
    spec
        The applied spec.
    cells
        Row indices (into the Perturber's cells) that were perturbed.
    gene_names, tf_names
        Column names.
    dz1, dz2
        ``(cells, n_tfs)`` Δ of the TF units after one and two TF→TF steps (``dz0`` before).
    weight
        ``(n_genes, n_tfs)`` masked TF→gene weights (Δx̂ = Δz₂ · weightᵀ).
    baseline
        ``(n_genes,)`` mean baseline x̂ over the selected cells.
    offset
        Count models: ``(cells,)`` change of each cell's softmax normaliser ΔLSE (natural
        log); ``None`` for Gaussian models.
    scale
        Factor from the linear model's units to the reported ones (1, or 1/ln 2 for count
        models, whose results are log2 values).
    """

    spec: dict[str, tuple[str, float]]
    cells: np.ndarray
    gene_names: list[str]
    tf_names: list[str]
    dz0: np.ndarray
    dz1: np.ndarray
    dz2: np.ndarray
    weight: np.ndarray
    baseline: np.ndarray
    threads: int | None = 1
    offset: np.ndarray | None = None
    scale: float = 1.0
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def _in_units(self, delta: np.ndarray, shift: np.ndarray | float) -> np.ndarray:
        """Δ of the linear TF→gene layer → reported units: for count models minus the
        normaliser change ``shift`` (per row or a scalar), times :attr:`scale`."""
        if self.offset is None:
            return delta
        shift = np.asarray(shift, dtype=np.float32)
        return (delta - (shift[..., None] if shift.ndim else shift)) * np.float32(self.scale)

    def _memo(self, key: str, make: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def mean_delta(self) -> np.ndarray:
        """``(n_genes,)`` mean Δx̂ over the perturbed cells (computed once)."""
        if len(self.cells) == 0:
            return np.zeros(len(self.gene_names), dtype=np.float32)
        def make() -> np.ndarray:
            with limit_threads(self.threads):
                delta = self.weight @ self.dz2.mean(0)
            return self._in_units(delta, self.offset.mean() if self.offset is not None else 0)
        return self._memo("mean_delta", make)

    def order(self) -> np.ndarray:
        """Gene indices by decreasing |Δ| (stable: ties keep the model's gene order)."""
        return self._memo("order", lambda: np.argsort(-np.abs(self.mean_delta), kind="stable"))

    def top_order(self, n: int) -> np.ndarray:
        """The first ``n`` of :meth:`order` without sorting every gene (same result)."""
        d = np.abs(self.mean_delta)
        if n >= len(d):
            return self.order()
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        cut = np.partition(d, len(d) - n)[len(d) - n]       # n-th largest |Δ|
        cand = np.flatnonzero(d >= cut)                     # ties at the cut included
        return cand[np.argsort(-d[cand], kind="stable")][:n]

    def per_cell(self) -> np.ndarray:
        """``(cells, n_genes)`` Δx̂ of every perturbed cell."""
        return self._in_units(self.dz2 @ self.weight.T, self.offset)

    def _direct(self, rows: np.ndarray, edges: pd.DataFrame | TargetIndex) -> np.ndarray:
        if isinstance(edges, pd.DataFrame):
            targets = set(edges.loc[edges["source"].isin(list(self.spec)), "target"].astype(str))
            names = np.asarray(self.gene_names, dtype=object)[rows]
            return np.fromiter((g in targets for g in names), bool, len(rows))
        hit = np.zeros(len(self.gene_names), dtype=bool)
        for tf in self.spec:
            hit[edges.get(tf, np.zeros(0, dtype=np.int64))] = True
        return hit[rows]

    def gene_table(self, edges: pd.DataFrame | TargetIndex | None = None, *,
                   top: int | None = None) -> pd.DataFrame:
        """One row per gene: ``gene, delta, baseline, perturbed[, direct_target]``.

        ``direct_target`` (when the learned ``edges`` are given, as the edge table or its
        :func:`target_index`) is True when a perturbed TF has a TF→gene (or TF→TF, for TF
        genes) edge to the gene. Sorted by decreasing |Δ|; ``top`` keeps only the first rows
        (the same rows as the full table's head, built without materialising every gene).
        """
        rows = self.order() if top is None else self.top_order(int(top))
        return self._table(rows, edges)

    def extremes(self, n: int, edges: pd.DataFrame | TargetIndex | None = None
                 ) -> pd.DataFrame:
        """The gene-table rows of the ``n`` most up- and ``n`` most down-regulated genes.

        Exactly the rows the top-genes bar chart picks from the full table, found with a
        partial sort.
        """
        d = self.mean_delta
        k = min(int(n), len(d))
        if k <= 0:
            return self._table(np.zeros(0, dtype=np.int64), edges)
        up = np.argpartition(-d, k - 1)[:k]
        down = np.argpartition(d, k - 1)[:k]
        rows = np.union1d(up[d[up] > 0], down[d[down] < 0])
        rows = rows[np.argsort(-np.abs(d[rows]), kind="stable")]
        return self._table(rows, edges)

    def _table(self, rows: np.ndarray, edges: pd.DataFrame | TargetIndex | None) -> pd.DataFrame:
        d = self.mean_delta[rows]
        base = self.baseline[rows]
        df = pd.DataFrame({"gene": np.asarray(self.gene_names, dtype=object)[rows],
                           "delta": d, "baseline": base, "perturbed": base + d})
        if edges is not None:
            df["direct_target"] = self._direct(rows, edges)
        return df

    def by_group(self, labels: Sequence[Any] | pd.Series) -> pd.DataFrame:
        """Groups × genes mean Δ; ``labels`` has one entry per perturbed cell.

        One matrix product: (groups × cells one-hot / group sizes) · Δz₂ gives each group's
        mean Δz₂, then the linear TF→gene layer maps it to genes.
        """
        labels = np.asarray(pd.Series(np.asarray(labels)).astype(str))
        if len(labels) != len(self.cells):
            raise ConfigError("labels need one entry per perturbed cell.")
        names, inverse = np.unique(labels, return_inverse=True)
        onehot = np.zeros((len(names), len(labels)))
        onehot[inverse, np.arange(len(labels))] = 1.0
        onehot /= onehot.sum(1, keepdims=True)
        with limit_threads(self.threads):
            means = (onehot @ self.dz2.astype(np.float64)).astype(np.float32)
            delta = means @ self.weight.T
        if self.offset is not None:
            delta = self._in_units(delta, onehot @ self.offset.astype(np.float64))
        return pd.DataFrame(delta, index=list(names), columns=self.gene_names)

    def cascade(self) -> pd.DataFrame:
        """Per TF: mean Δ of its unit as set (``dz``), after one (``dz1``) and two steps."""
        n = len(self.tf_names)
        mean = (lambda a: a.mean(0)) if len(self.cells) else (lambda a: np.zeros(n))
        dz2 = mean(self.dz2)
        order = np.argsort(-np.abs(dz2), kind="stable")
        names = np.asarray(self.tf_names, dtype=object)
        return pd.DataFrame({"tf": names[order], "dz": mean(self.dz0)[order],
                             "dz1": mean(self.dz1)[order], "dz2": dz2[order],
                             "perturbed": np.isin(names[order], list(self.spec))})


class Perturber:
    """Encode cells once and apply TF perturbations to them (CPU, eval mode, deterministic).

    Parameters
    ----------
    decoder
        A :class:`~core.analysis.tf_decoder.TFDecoder` (``tf_decoder(run.load_module())``).
    x
        The model's input for the cells (cells × genes, dense or CSR): scaled expression, or
        the raw counts for a count model (``inputs_for_run(adata, run).encoder_input``).
    batch_size
        Rows per batch when encoding and stepping through the TF layer.
    threads
        Torch and BLAS threads while applying a perturbation and reading its results
        (restored afterwards; None: leave as is). One is the default: the products are
        small, and extra threads only add contention.
    """

    def __init__(self, decoder: Any, x: np.ndarray | sp.spmatrix, *, batch_size: int = 4096,
                 threads: int | None = 1):
        if x.shape[1] != len(decoder.gene_names):
            raise ConfigError(f"The cells have {x.shape[1]} genes but the model expects "
                              f"{len(decoder.gene_names)}; use the data the run was trained on.")
        self.decoder = decoder
        self.module = decoder.module.cpu().eval()
        self.batch_size = int(batch_size)
        self.threads = threads
        self._dose_cache: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
        self.tf_names, self.gene_names = decoder.tf_names, decoder.gene_names
        self.z = decoder.encode(x, batch_size=batch_size)
        with torch.no_grad():
            layer = self.module.tf2gene
            self.weight = self.module.tf2gene_weight().numpy().astype(np.float32)
            self.bias = (layer.bias.numpy().astype(np.float32) if layer.bias is not None
                         else np.zeros(len(self.gene_names), np.float32))
        self.counts = decoder.is_count_model
        self.units = UNITS["counts" if self.counts else "gaussian"]
        self.scale = 1.0 / _LN2 if self.counts else 1.0
        # Baseline TF cascade, computed by the same code on the same shape as every perturbed
        # one (see apply), so unchanged cells give bitwise-equal values and Δ exactly 0.
        self.z1, self.z2 = self._steps(self.z)
        # Count models: each cell's softmax normaliser LSE(W z₂ + b) (natural log).
        self.lse = self._lse(self.z2) if self.counts else None
        self.baseline_x = self.expression(decoder.decode_from_tf(self.z, batch_size=batch_size))
        self._all = np.arange(self.z.shape[0])

    def expression(self, decoded: dict[str, np.ndarray]) -> np.ndarray:
        """``(cells, n_genes)`` x̂ of a :meth:`TFDecoder.decode_from_tf` output, in
        :attr:`units` (log2 normalised expression per 10k for count models)."""
        if not self.counts:
            return decoded["x_hat"]
        logits = np.asarray(decoded["logits"], dtype=np.float32)
        lse = _logsumexp_rows(logits.copy())
        return ((logits - lse[:, None] + _LN_1E4) * self.scale).astype(np.float32)

    def _lse(self, z2: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """LSE over genes of each cell's logits W z₂ + b (count models), ``(cells,)``.

        Float32 products in chunks of ``chunk`` cells (a cells × genes block at a time).
        """
        out = np.empty(len(z2), dtype=np.float64)
        for s in range(0, len(z2), chunk):
            logits = np.asarray(z2[s:s + chunk], dtype=np.float32) @ self.weight.T
            logits += self.bias
            out[s:s + chunk] = _logsumexp_rows(logits)
        return out

    # ---- ranges and presets ------------------------------------------------------------------
    def _col(self, tf: str) -> int:
        try:
            return self.decoder.tf_index[tf]
        except KeyError:
            raise ConfigError(f"'{tf}' is not a TF of this model.") from None

    def tf_range(self, tf: str) -> tuple[float, float]:
        """Observed (min, max) of the TF's unit μ over all cells."""
        v = self.z[:, self._col(tf)]
        return float(v.min()), float(v.max())

    def slider_range(self, tf: str, margin: float = 0.5) -> tuple[float, float]:
        """From below the observed minimum to above the maximum (± ``margin`` × range)."""
        lo, hi = self.tf_range(tf)
        pad = margin * max(hi - lo, 1e-3)
        return float(min(lo - pad, 0.0)), float(hi + pad)

    def presets(self, tf: str, *, knockout: str = "min", quantile: float = 0.99,
                k_sd: float | None = None) -> dict[str, float]:
        """Preset values of the TF's unit.

        ``knock-out``: the observed minimum (``knockout="min"``) or 0 (``"zero"``);
        ``over-express``: the ``quantile`` of μ, or mean + ``k_sd`` SD when given;
        ``reset``: the mean μ (informational: resetting removes the TF from the spec).
        """
        v = self.z[:, self._col(tf)].astype(np.float64)
        if knockout not in ("min", "zero"):
            raise ConfigError("knock-out must be 'min' or 'zero'.")
        ko = float(v.min()) if knockout == "min" else 0.0
        over = (float(v.mean() + k_sd * v.std()) if k_sd is not None
                else float(np.quantile(v, quantile)))
        return {"knock-out": ko, "over-express": over, "reset": float(v.mean())}

    # ---- perturbations -----------------------------------------------------------------------
    def perturbed_z(self, spec: Spec, cells: np.ndarray | None = None) -> np.ndarray:
        """μ of the selected cells with the spec applied."""
        idx = self._all if cells is None else np.asarray(cells)
        z = self.z[idx].copy()
        for tf, (mode, value) in spec.items():
            col = self._col(tf)
            if mode == "set":
                z[:, col] = np.float32(value)
            elif mode == "shift":
                z[:, col] += np.float32(value)
            else:
                raise ConfigError(f"Unknown mode '{mode}' for {tf}; use one of {MODES}.")
        cascade = getattr(self.module, "tf_cascade", None)
        if cascade is not None and spec:
            # A backbone model: the intervened TFs move the TFs downstream of them by the
            # backbone's propagated effects; the intervened units keep their set values.
            cols = [self._col(tf) for tf in spec]
            held = z[:, cols].copy()
            z += (held - self.z[idx][:, cols]) @ cascade.numpy()[:, cols].T.astype(np.float32)
            z[:, cols] = held
        return z

    @torch.no_grad()
    def _steps(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z1s, z2s = [], []
        for s in range(0, z.shape[0], self.batch_size):
            h = torch.as_tensor(z[s:s + self.batch_size])
            z1 = self.module.tf_step(h)
            z1s.append(z1)
            z2s.append(self.module.tf_step(z1))
        if not z1s:
            empty = np.zeros((0, len(self.tf_names)), np.float32)
            return empty, empty
        return torch.cat(z1s).numpy(), torch.cat(z2s).numpy()

    def apply(self, spec: Spec, cells: np.ndarray | None = None) -> PerturbResult:
        """Apply ``spec`` to the cells ``cells`` (row indices or a boolean mask; all by default)."""
        idx = self._all if cells is None else np.asarray(cells)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        spec = {str(t): (str(m), float(v)) for t, (m, v) in spec.items()}
        z0 = self.z[idx]
        z_new = self.perturbed_z(spec, idx)
        with limit_threads(self.threads):
            if np.array_equal(z_new, z0):         # a no-op: nothing to step through
                p1, p2 = self.z1, self.z2
            else:
                z_all = self.z.copy()
                z_all[idx] = z_new
                p1, p2 = self._steps(z_all)   # all cells: the baseline's shape and code path
            b2 = self.z2[idx]
            baseline = (self.weight @ b2.mean(0) + self.bias if len(idx)
                        else np.zeros(len(self.gene_names), np.float32))
            dz2 = p2[idx] - b2
            offset = None
            if self.counts:
                # Only cells whose z₂ moved change their normaliser; the others keep ΔLSE = 0.
                offset = np.zeros(len(idx), dtype=np.float64)
                moved = np.flatnonzero(np.any(dz2 != 0, axis=1))
                if len(moved):
                    offset[moved] = self._lse(p2[idx[moved]]) - self.lse[idx[moved]]
                if len(idx):
                    baseline = ((baseline - np.float32(self.lse[idx].mean()) + _LN_1E4)
                                * self.scale).astype(np.float32)
        return PerturbResult(spec=spec, cells=idx, gene_names=self.gene_names,
                             tf_names=self.tf_names, dz0=z_new - z0,
                             dz1=p1[idx] - self.z1[idx], dz2=dz2,
                             weight=self.weight, baseline=baseline, threads=self.threads,
                             offset=offset, scale=self.scale)

    def dose_response(self, tf: str, gene: str, values: Sequence[float], *,
                      cells: np.ndarray | None = None, base: Spec | None = None) -> pd.DataFrame:
        """Mean x̂ of ``gene`` as ``tf`` is set to each of ``values`` (on top of ``base``).

        Returns
        -------
        pandas.DataFrame
            ``value, expression, delta`` (Δ against the unperturbed cells).
        """
        try:
            g = self.gene_names.index(gene)
        except ValueError:
            raise ConfigError(f"'{gene}' is not a gene of this model.") from None
        values = [float(v) for v in values]
        key = (str(tf), tuple(values), None if cells is None else np.asarray(cells).tobytes(),
               tuple(sorted((str(t), (str(m), float(v))) for t, (m, v) in (base or {}).items())))
        if key not in self._dose_cache:        # independent of the gene and of tf's own slider
            mean_dz2, baseline = [], None
            for v in values:
                res = self.apply({**(base or {}), tf: ("set", v)}, cells)
                mean_dz2.append((res.dz2.mean(0), float(res.offset.mean())
                                 if res.offset is not None else 0.0) if len(res.cells) else None)
                baseline = res.baseline
            if len(self._dose_cache) >= 8:
                self._dose_cache.pop(next(iter(self._dose_cache)))
            self._dose_cache[key] = (mean_dz2, baseline)
        mean_dz2, baseline = self._dose_cache[key]
        rows = []
        for v, m in zip(values, mean_dz2):
            d = float((self.weight[g] @ m[0] - m[1]) * self.scale) if m is not None else 0.0
            rows.append({"value": v, "expression": float(baseline[g]) + d, "delta": d})
        return pd.DataFrame(rows)


def perturber_for_run(run: Any, adata: Any, **kwargs: Any) -> Perturber:
    """A :class:`Perturber` of a TF-VAE run on ``adata`` (the data it was trained on).

    The cells are read as the run's model reads them: scaled X, or the raw counts for an
    NB/ZINB run. ``kwargs`` go to :class:`Perturber`.
    """

    module = run.load_module()
    return Perturber(tf_decoder(module), inputs_for_run(adata, run).encoder_input, **kwargs)


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """log Σ_j exp(a_ij) per row (float64 result); **overwrites** ``a`` (float32 work in place).

    The row maximum is taken out before the exponential, so no row overflows; the sums are
    accumulated in float64. In place because this runs on cells × genes logits on every
    perturbation of a count model: a float64 copy made it twice as slow.
    """
    if a.shape[0] == 0:
        return np.zeros(0)
    top = a.max(axis=1)
    a -= top[:, None]
    np.exp(a, out=a)
    return top.astype(np.float64) + np.log(a.sum(axis=1, dtype=np.float64))


