"""The TF-structured VAE (DESIGN §3): latent units are named transcription factors.

Encoder genes → hidden → TF (μ, log σ²). Decoder: one masked TF→TF layer applied twice with
shared weights and mask (z → z₁ → z₂), then a masked TF→gene layer giving x̂. The learned
network is the surviving (unmasked) weights of the two masked layers.

With a count likelihood (``"nb"``/``"zinb"``, DESIGN §2) the encoder reads log1p of the raw
counts and the TF→gene layer gives the logits of a softmax over genes: the mean count of gene g
is library × softmax(W z₂ + b)_g, so a TF→gene weight is a change of log expression per unit
of the TF (a log fold change), with a dispersion per gene (and, for ZINB, a dropout logit per
gene; no per-cell head, so every path to a gene still runs through the masked layer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from core.errors import ConfigError
from core.models.base import LossOutput
from core.models.layers import MaskedLinear, mlp
from core.models.likelihoods import LIKELIHOODS, count_nll, library_of
from core.models.losses import kl_normal

STAGES = ("encoder", "decoder", "vae")


class TFVAE(nn.Module):
    """VAE whose latent units are TFs and whose decoder is a masked TF→TF→TF→gene network.

    Parameters
    ----------
    n_input
        Number of genes (columns of the scaled expression matrix).
    tf_names
        TF symbols, one per latent unit.
    tf_gene_index
        Column of each TF's own gene in the input (the alignment target of its unit).
    gene_names
        Gene symbols (stored so a loaded run can name its outputs).
    hidden
        Encoder widths.
    tf_dropout
        Dropout on the TF→TF update (0.7 in the reference).
    gene_dropout
        Dropout on the TF units entering the TF→gene layer (default 0; see Notes).
    batch_norm
        BatchNorm in the encoder and before the TF→TF activation.
    tf2tf_mask, tf2gene_mask
        Binary masks ``(n_tfs, n_tfs)`` and ``(n_input, n_tfs)`` (row = target, column =
        source TF); ``None`` means dense. They are buffers, so a saved state dict restores them.
    likelihood
        ``"gaussian"`` (squared error on scaled expression, the default), ``"nb"`` or
        ``"zinb"`` (raw counts; see the module docstring).

    Notes
    -----
    Three deliberate departures from the reference, each because the reference choice cannot
    work on scaled expression or would make the network unreadable:

    * **No activation, BatchNorm or dropout on x̂.** The model reconstructs standardised
      expression, which is negative for half the cells; a ReLU on x̂ cannot produce those values,
      BatchNorm would fix every gene's mean and variance, and dropout would zero half the
      reconstruction. ``gene_dropout`` can put a dropout on the TF units *entering* the
      TF→gene layer instead, but it is off by default: it makes correlated TFs share each
      gene, and on the simulator it lowered the AUPRC of the learned TF→gene edges from 2.7×
      to 1.9× the edge density.
    * **Residual TF→TF step** ``h ← h + dropout(tanh(BN(W h)))``. Without the identity path the
      units of z₂ are arbitrary mixtures of TFs, so a TF→gene weight could not be attributed to
      a named TF. The mask of ``W`` therefore excludes the diagonal (self-regulation is the
      identity path). ``tanh`` keeps the update signed (a ReLU could only activate).
    * **Each TF's own gene is always connected to its unit** (outside the mask budget), so a TF
      is never cut off from its own expression; these self edges are not reported as network
      edges.
    """

    def __init__(
        self,
        n_input: int,
        tf_names: Sequence[str],
        tf_gene_index: Sequence[int],
        gene_names: Sequence[str] | None = None,
        hidden: Sequence[int] = (512, 256),
        *,
        tf_dropout: float = 0.7,
        gene_dropout: float = 0.0,
        batch_norm: bool = True,
        tf2tf_mask: torch.Tensor | None = None,
        tf2gene_mask: torch.Tensor | None = None,
        likelihood: str = "gaussian",
        backbone: bool = False,
    ) -> None:
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ConfigError(f"Unknown likelihood '{likelihood}'; use one of {LIKELIHOODS}.")
        tf_names = [str(t) for t in tf_names]
        n_tfs = len(tf_names)
        if len(tf_gene_index) != n_tfs:
            raise ValueError("tf_gene_index needs one gene column per TF")
        hidden = [int(h) for h in hidden]
        self.n_input, self.n_tfs = int(n_input), n_tfs
        self.tf_names = tf_names
        self.gene_names = [str(g) for g in gene_names] if gene_names is not None else [
            str(i) for i in range(n_input)]
        self._init_kwargs: dict[str, Any] = {
            "n_input": self.n_input, "tf_names": tf_names,
            "tf_gene_index": [int(i) for i in tf_gene_index], "gene_names": self.gene_names,
            "hidden": hidden, "tf_dropout": float(tf_dropout),
            "gene_dropout": float(gene_dropout), "batch_norm": bool(batch_norm),
            "likelihood": likelihood,
        }
        if backbone:        # only then, so runs saved before it keep their constructor keys
            self._init_kwargs["backbone"] = True
        self.likelihood = likelihood
        self.register_buffer("tf_gene_index", torch.as_tensor(list(tf_gene_index),
                                                              dtype=torch.long))
        self.encoder = mlp([n_input, *hidden], batch_norm=batch_norm)
        last = hidden[-1] if hidden else n_input
        self.mu = nn.Linear(last, n_tfs)
        self.logvar = nn.Linear(last, n_tfs)

        no_self = 1.0 - torch.eye(n_tfs)
        self.tf2tf = MaskedLinear(n_tfs, n_tfs, no_self if tf2tf_mask is None
                                  else torch.as_tensor(tf2tf_mask) * no_self)
        self.tf2tf_norm = nn.BatchNorm1d(n_tfs) if batch_norm else nn.Identity()
        self.tf2tf_dropout = nn.Dropout(tf_dropout)
        self.gene_dropout = nn.Dropout(gene_dropout)
        self.tf2gene = MaskedLinear(n_tfs, n_input, self._with_self_edges(tf2gene_mask))
        # Created after every Gaussian layer, so a Gaussian model initialises as it always did.
        if likelihood != "gaussian":
            self.log_theta = nn.Parameter(torch.zeros(n_input))
        if likelihood == "zinb":
            self.zi_logit = nn.Parameter(torch.full((n_input,), -2.0))
        self.has_backbone = bool(backbone)
        if backbone:
            # Fixed (never trained) linear backbone: x̂ gets backbone_weight · z₂ on top of the
            # masked layer, and an intervention moves the other TF units by tf_cascade first
            # (see set_backbone).
            self.register_buffer("backbone_weight", torch.zeros(n_input, n_tfs))
            self.register_buffer("tf_cascade", torch.eye(n_tfs))

    @property
    def is_count_model(self) -> bool:
        """Whether the decoder models raw counts (NB or ZINB)."""
        return self.likelihood != "gaussian"

    def encoder_input(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """What :meth:`encode` reads from a batch: ``"counts"`` (count models) or ``"x"``."""
        return batch["counts"] if self.is_count_model else batch["x"]

    def _with_self_edges(self, mask: torch.Tensor | None) -> torch.Tensor:
        full = torch.ones(self.n_input, self.n_tfs) if mask is None else torch.as_tensor(
            mask, dtype=torch.float32).clone()
        full[self.tf_gene_index.cpu(), torch.arange(self.n_tfs)] = 1.0
        return full

    def self_edge_mask(self) -> torch.Tensor:
        """``(n_input, n_tfs)`` indicator of the TF → own-gene edges (not network edges)."""
        m = torch.zeros(self.n_input, self.n_tfs)
        m[self.tf_gene_index.cpu(), torch.arange(self.n_tfs)] = 1.0
        return m

    def set_masks(self, tf2tf_mask: torch.Tensor, tf2gene_mask: torch.Tensor) -> None:
        """Install new masks (diagonal of TF→TF removed, self edges of TF→gene kept)."""
        self.tf2tf.set_mask(torch.as_tensor(tf2tf_mask, dtype=torch.float32).cpu()
                            * (1.0 - torch.eye(self.n_tfs)))
        self.tf2gene.set_mask(self._with_self_edges(tf2gene_mask))

    def set_backbone(self, weight: torch.Tensor, cascade: torch.Tensor) -> None:
        """Install the fixed linear backbone (a model built with ``backbone=True``).

        Parameters
        ----------
        weight
            ``(n_input, n_tfs)`` direct effect of each TF unit on each gene (e.g. each gene
            regressed on its prior regulators), added to the masked TF→gene layer.
        cascade
            ``(n_tfs, n_tfs)`` column j: change of every TF unit per unit change of TF j when
            j is intervened on (the backbone's TF→TF effects propagated; diagonal 1).
            :class:`~core.analysis.perturb.Perturber` applies it to a set/shift before the
            TF→TF steps, so an intervention reaches the TFs downstream of it.
        """
        if not self.has_backbone:
            raise ConfigError("This TF-VAE was built without a backbone (backbone=True).")
        self.backbone_weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        cascade = torch.as_tensor(cascade, dtype=torch.float32).clone()
        cascade.fill_diagonal_(1.0)
        self.tf_cascade.copy_(cascade)

    def tf2gene_weight(self) -> torch.Tensor:
        """``(n_input, n_tfs)`` weights from z₂ to x̂: the masked layer plus the backbone."""
        w = self.tf2gene.weight * self.tf2gene.mask
        return w + self.backbone_weight if self.has_backbone else w

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe); masks come back from the state dict."""
        return dict(self._init_kwargs)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (μ, log σ²) of q(z | x), one column per TF; log σ² clamped to [-10, 10].

        ``x`` is scaled expression, or raw counts for a count model (log1p applied here).
        """
        h = self.encoder(torch.log1p(x) if self.is_count_model else x)
        return self.mu(h), self.logvar(h).clamp(-10.0, 10.0)

    def tf_step(self, h: torch.Tensor) -> torch.Tensor:
        """One TF→TF regulation step (the same weights and mask every time)."""
        return h + self.tf2tf_dropout(torch.tanh(self.tf2tf_norm(self.tf2tf(h))))

    def decode(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """z → z₁ → z₂ → x̂; returns ``{"z1", "z2", "x_hat"}``.

        ``x_hat`` is scaled expression (Gaussian) or, for a count model, the normalised
        expression softmax(``logits``) (rows sum to 1); count models also return ``logits``.
        """
        z1 = self.tf_step(z)
        z2 = self.tf_step(z1)
        out = self.tf2gene(self.gene_dropout(z2))
        if self.has_backbone:
            out = out + z2 @ self.backbone_weight.T
        if not self.is_count_model:
            return {"z1": z1, "z2": z2, "x_hat": out}
        return {"z1": z1, "z2": z2, "logits": out, "x_hat": torch.softmax(out.float(), dim=-1)}

    def count_nll(self, batch: dict[str, torch.Tensor], scale: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of ``batch["counts"]``, summed over genes (one per cell).

        The mean is ``scale`` (the decoded softmax, :meth:`decode`'s ``x_hat``) ×
        ``batch["library"]`` (observed total counts).
        """
        counts = batch["counts"].float()
        mu = scale * library_of(batch, counts)
        return count_nll(self.likelihood, counts, mu, self.log_theta.clamp(-12, 12).exp(),
                         getattr(self, "zi_logit", None))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encode, sample (mean in eval mode), decode: ``mu, logvar, z, z1, z2, x_hat``."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return {"mu": mu, "logvar": logvar, "z": z, **self.decode(z)}

    def tf_expression(self, x: torch.Tensor) -> torch.Tensor:
        """Each TF's own (scaled) expression, ``(cells, n_tfs)``."""
        return x.index_select(1, self.tf_gene_index)

    def decoder_l1(self) -> torch.Tensor:
        """Σ|w| of the two masked layers divided by the number of genes.

        With the per-gene mean squared error of phase (b) this is, gene by gene, a lasso
        penalty on that gene's regression on the TFs, so its strength per weight does not
        depend on how many TFs or genes there are.
        """
        return ((self.tf2tf.weight * self.tf2tf.mask).abs().sum()
                + (self.tf2gene.weight * self.tf2gene.mask).abs().sum()) / self.n_input

    def tf_consistency(self, tf_level: torch.Tensor) -> torch.Tensor:
        """Mean squared error of predicting each TF's level from the others through TF→TF.

        ``W t`` (the masked TF→TF weights, zero diagonal, applied to the TF levels ``t``) should
        give ``t`` back: at steady state a TF's level is a function of its regulators' levels.
        Without this term the TF→TF weights are not identifiable: the TF→gene layer already
        sees every TF unit, so any TF→TF mixing can be absorbed there and the lasso of phase
        (b) leaves TF→TF at noise. On ``synthetic_grn`` (3 networks × 2 seeds) it raised the
        AUPRC of the learned TF→TF edges from 1.5× to 6.2× the edge density and left TF→gene
        at 13.3× (benchmarks/results/tfvae_consistency.json).
        """
        return (self.tf2tf(tf_level).float() - tf_level).pow(2).mean()

    def loss(self, batch: dict[str, torch.Tensor], *, beta: float = 1.0, stage: str = "vae",
             l1: float = 0.0, align_weight: float = 1.0,
             consistency: float = 0.0) -> LossOutput:
        """Loss of one recipe stage (the trainer passes ``stage`` through ``loss_kwargs``).

        Parameters
        ----------
        batch
            ``{"x": scaled expression}``; a count model also needs ``"counts"`` (raw) and
            ``"library"`` (total counts per cell), and its encoder reads the counts.
        beta
            KL weight (stage ``vae``).
        stage
            ``encoder``: mean squared error between μ and each TF's own expression.
            ``decoder``: decode the observed TF expression; mean squared error per gene plus
            ``l1`` / 1000 × :meth:`decoder_l1` (so the reference α = 10 is a lasso λ of 0.01
            on standardised data) plus ``consistency`` × :meth:`tf_consistency` of the
            observed TF levels. ``vae``: reconstruction (Σ genes) + β·KL +
            ``align_weight`` × Σ_TF (μ − TF expression)².
            For a count model the reconstruction is the negative log-likelihood of the counts
            (``decoder``: per gene and cell, reported as ``recon_nll``).
        """
        x = batch["x"]
        target = self.tf_expression(x)
        if stage == "encoder":
            mu, _ = self.encode(self.encoder_input(batch))
            align = (mu.float() - target).pow(2).mean()
            return LossOutput(align, {"align": align})
        if stage == "decoder":
            dec = self.decode(target)
            if self.is_count_model:
                recon = self.count_nll(batch, dec["x_hat"]).mean() / self.n_input
                name = "recon_nll"
            else:
                recon, name = (x - dec["x_hat"].float()).pow(2).mean(), "recon_mse"
            penalty = self.decoder_l1()
            terms = {name: recon, "l1": penalty}
            loss = recon + 1e-3 * l1 * penalty
            if consistency > 0:
                terms["tf_consistency"] = self.tf_consistency(target)
                loss = loss + consistency * terms["tf_consistency"]
            return LossOutput(loss, terms)
        if stage != "vae":
            raise ValueError(f"unknown stage '{stage}'; use one of {STAGES}")
        out = self(self.encoder_input(batch))
        recon = (self.count_nll(batch, out["x_hat"]).mean() if self.is_count_model
                 else (x - out["x_hat"].float()).pow(2).sum(-1).mean())
        kl = kl_normal(out["mu"].float(), out["logvar"].float()).mean()
        align = (out["mu"].float() - target).pow(2).sum(-1).mean()
        return LossOutput(recon + beta * kl + align_weight * align,
                          {"recon": recon, "kl": kl, "align": align})

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters trained in phase (a)."""
        return [*self.encoder.parameters(), *self.mu.parameters(), *self.logvar.parameters()]

    def decoder_parameters(self) -> list[nn.Parameter]:
        """Parameters trained in phases (b) and (d) (with the count model's dispersion and
        dropout logits)."""
        counts = [p for n in ("log_theta", "zi_logit") if (p := getattr(self, n, None)) is not None]
        return [*self.tf2tf.parameters(), *self.tf2tf_norm.parameters(),
                *self.tf2gene.parameters(), *counts]
