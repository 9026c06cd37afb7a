"""Server-side time of Embedding page interactions (issue 20), through Streamlit's AppTest: the
page script's run after a colour change, without the browser's drawing. Prints JSON.

The same synthetic dataset and run as ``benchmarks/embedding_view.py`` (``--cells`` cells, a
10-dim latent); the first visit computes the subsampled UMAPs and scores (cached in the run),
then the colour is switched between two obs columns ``--repeats`` times. Beside
``embedding_view.py``'s browser timings this separates the server's share from the browser's
(headless Chromium with ``--disable-gpu`` draws WebGL in software). Usage::

    nice -n 10 python benchmarks/embedding_rerun.py --cells 1000000 --out results/…json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from embedding_view import _WRAPPER_CODE, WRAPPER, emit, make_data  # noqa: E402


def main() -> None:
    """Write the data, run the page under AppTest, time the reruns, print JSON."""
    from streamlit.testing.v1 import AppTest

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=7480)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        h5ad = make_data(tmp, args.cells)
        os.environ.update(SCVAE_RUNS_DIR=str(tmp / "runs"), BENCH_H5AD=str(h5ad),
                          SCVAE_DEFAULT_DATASET="none")
        WRAPPER.write_text(_WRAPPER_CODE)
        try:
            at = AppTest.from_file(str(WRAPPER), default_timeout=1800)
            at.run()
            at.switch_page("app_pages/embedding.py")
            t0 = time.perf_counter()
            at.run()
            first = time.perf_counter() - t0
            if at.exception:
                raise SystemExit(f"the page raised: {at.exception[0].message}")
            colours = []
            for i in range(args.repeats):
                t0 = time.perf_counter()
                at.selectbox(key="emb_color_obs").set_value(
                    "group" if i % 2 == 0 else "cell_type").run()
                colours.append(time.perf_counter() - t0)
        finally:
            WRAPPER.unlink(missing_ok=True)
    out = {"benchmark": "embedding_rerun_server", "cells": args.cells,
           "first_visit_s": round(first, 1),
           "colour_change_s": [round(c, 3) for c in colours],
           "median_colour_change_s": round(statistics.median(colours), 3)}
    emit(out, args.out)


if __name__ == "__main__":
    main()
