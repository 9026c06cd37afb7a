"""``python -m core network RUN_DIR [--out edges.csv|net.graphml]``: a TF-VAE run's network."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from core.analysis.network import filter_edges, write_graphml
    from core.recipes.tfvae import load_network
    from core.runs import load_run

    run = load_run(args.run_dir)
    edges = filter_edges(load_network(run), min_abs_weight=args.min_weight,
                         layers=args.layer or ("tf2tf", "tf2gene"), top_k_per_tf=args.top_k)
    out = Path(args.out) if args.out else None
    if out is None:
        edges.to_csv(sys.stdout, index=False)
    elif out.suffix.lower() == ".graphml":
        write_graphml(edges, out, run.config.get("tfs"))
    else:
        edges.to_csv(out, index=False)
    if out is not None:
        print(json.dumps({"out": str(out), "edges": len(edges),
                          **edges["layer"].value_counts().to_dict()}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """``python -m core network RUN_DIR [--out edges.csv|net.graphml]``."""
    p = sub.add_parser("network", help="export the TF network learned by a TF-VAE run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", default=None,
                   help="edges CSV (source,target,weight,sign,layer,in_prior) or .graphml; "
                        "stdout when omitted")
    p.add_argument("--min-weight", type=float, default=0.0, help="keep |weight| ≥ this")
    p.add_argument("--layer", action="append", choices=("tf2tf", "tf2gene"),
                   help="only this layer (repeatable)")
    p.add_argument("--top-k", type=int, default=None, help="keep each TF's top-k targets")
    p.set_defaults(func=run)
