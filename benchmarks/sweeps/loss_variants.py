"""Two β-VAE loss variants tried for issue 18 and not shipped (JSON-ish log lines).

- ``hetero``: the Gaussian reconstruction with a learned per-gene variance
  (Σ_g (x − x̂)² / σ_g² + log σ_g², log σ_g² ≥ -4) instead of plain squared error;
- ``adversarial``: a batch classifier on μ trained through a gradient-reversal layer
  (DANN-style), ``weight`` × its cross-entropy added to the loss.

Both are patched onto :class:`core.models.vae.BetaVAE` in this process only, trained with the
panel's settings (benchmarks/panel_variant.py: recommended likelihood, n_latent 10, 100
epochs, CPU) and scored beside PCA and Harmony on PCA on the same seeds. Figures are in
``results/panel_batch_attempts.json`` and ``results/panel_pbmc68k_variants.json``.

Usage: ``PYTHONPATH=.:benchmarks python benchmarks/sweeps/loss_variants.py symphony_pbmc
adversarial --weight 10 --seeds 2``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # noqa: D102
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):  # noqa: D102
        return -g


def patch(variant: str, weight: float) -> None:
    """Patch BetaVAE (this process only) with the ``variant`` loss."""
    import core.models.vae as vae
    from core.models.base import LossOutput

    cls, init, loss = vae.BetaVAE, vae.BetaVAE.__init__, vae.BetaVAE.loss
    current: dict = {}

    def new_init(self, *a, **k):
        init(self, *a, **k)
        if variant == "hetero":
            self.log_var_x = torch.nn.Parameter(torch.zeros(self.n_input))
        elif self.n_batch > 1:
            self.adv = torch.nn.Sequential(torch.nn.Linear(self.n_latent, 64), torch.nn.ReLU(),
                                           torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                           torch.nn.Linear(64, self.n_batch))

    def hetero_error(x, x_hat, w=None):
        lv = current["model"].log_var_x.clamp(min=-4.0)
        sq = (x - x_hat).pow(2) * torch.exp(-lv) + lv
        return (sq if w is None else sq * w).sum(-1)

    def new_loss(self, batch, **kw):
        current["model"] = self
        out = loss(self, batch, **kw)
        if variant != "adversarial" or not hasattr(self, "adv") or batch.get("batch") is None:
            return out
        x = batch["counts"] if self.is_count_model and "counts" in batch else batch["x"]
        mu, _ = self.encode(x, batch["batch"])
        ce = torch.nn.functional.cross_entropy(self.adv(_Reverse.apply(mu.float())),
                                               batch["batch"].reshape(-1).long())
        terms = {k: v for k, v in out.items() if k != "loss"}
        return LossOutput(out["loss"] + weight * ce, {**terms, "adv": ce})

    cls.__init__, cls.loss = new_init, new_loss
    if variant == "hetero":
        vae.weighted_squared_error = hetero_error


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset")
    parser.add_argument("variant", choices=["hetero", "adversarial"])
    parser.add_argument("--weight", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    patch(args.variant, args.weight)
    from panel_variant import score_variant

    _, tables, _ = score_variant(args.dataset, {}, seeds=args.seeds, latent_harmony=False)
    for seed, table in enumerate(tables):
        print(seed, table["total"].round(4).to_dict(), flush=True)
    mean = sum(tables) / len(tables)
    print(json.dumps({"dataset": args.dataset, "variant": args.variant, "weight": args.weight,
                      "seeds": args.seeds,
                      **{c: mean[c].round(4).to_dict() for c in mean.columns}}))


if __name__ == "__main__":
    main()
