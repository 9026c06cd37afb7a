"""Download buttons for figures, tables, AnnData and models (generated only when clicked)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go
    from anndata import AnnData

    from core.runs import Run


def _browser() -> str | None:
    """Chromium for kaleido's PNG/SVG export (the Debian package), if installed."""
    found = os.environ.get("BROWSER_PATH") or shutil.which("chromium") or shutil.which(
        "chromium-browser") or shutil.which("google-chrome")
    if found:
        os.environ.setdefault("BROWSER_PATH", found)
    return found


def figure_downloads(fig: go.Figure, name: str, *, key: str) -> None:
    """PNG, SVG (via kaleido and a local Chromium) and standalone HTML buttons for ``fig``."""
    cols = st.columns(3)
    if _browser():
        cols[0].download_button("PNG", data=lambda: fig.to_image(format="png", scale=2),
                                file_name=f"{name}.png", mime="image/png", key=f"{key}_png",
                                icon=":material/download:", on_click="ignore")
        cols[1].download_button("SVG", data=lambda: fig.to_image(format="svg"),
                                file_name=f"{name}.svg", mime="image/svg+xml", key=f"{key}_svg",
                                icon=":material/download:", on_click="ignore")
    else:
        cols[0].caption("PNG/SVG export needs Chromium on the server (apt-get install chromium); "
                        "the HTML file is interactive and can be saved as an image from a browser.")
    cols[2].download_button("HTML", data=lambda: fig.to_html(include_plotlyjs="cdn"),
                            file_name=f"{name}.html", mime="text/html", key=f"{key}_html",
                            icon=":material/download:", on_click="ignore")


def table_download(df: pd.DataFrame, name: str, *, key: str, label: str = "CSV",
                   index: bool = False) -> None:
    """A CSV download button for ``df``."""
    st.download_button(label, data=lambda: df.to_csv(index=index).encode(),
                       file_name=f"{name}.csv", mime="text/csv", key=key,
                       icon=":material/download:", on_click="ignore")


def h5ad_bytes(adata: AnnData) -> bytes:
    """Serialise an AnnData to .h5ad bytes (gzip-compressed)."""
    with tempfile.TemporaryDirectory(prefix="scvae_dl_") as tmp:
        path = Path(tmp) / "data.h5ad"
        adata.write_h5ad(path, compression="gzip")
        return path.read_bytes()


def h5ad_download(make_adata, name: str, *, key: str, label: str = "AnnData (.h5ad)") -> None:
    """A .h5ad download button; ``make_adata`` is called only when the user clicks."""
    st.download_button(label, data=lambda: h5ad_bytes(make_adata()), file_name=f"{name}.h5ad",
                       mime="application/octet-stream", key=key, icon=":material/download:",
                       on_click="ignore")


def run_download(run: Run, *, key: str, label: str = "Model (run folder, .zip)") -> None:
    """A .zip of the run folder: the trained weights with everything needed to reload them."""
    from core.runs import run_archive

    st.download_button(label, data=lambda: run_archive(run.path), file_name=f"{run.id}.zip",
                       mime="application/zip", key=key, icon=":material/download:",
                       on_click="ignore",
                       help="model.pt (weights), config.json (every setting and the seed), "
                            "metrics, history, latent. Unzip it into a runs folder "
                            "($SCVAE_RUNS_DIR or ./runs) to open it in the app or the CLI.")
