"""Figure files that need no network: HTML with plotly.js inside, PNG/SVG without MathJax.

``fig.to_html(include_plotlyjs="cdn")`` makes the file load plotly.js from cdn.plot.ly when
opened, and plotly's ``to_image`` lets kaleido add MathJax from cdnjs to its render page (its
``mathjax=False`` option is dropped by plotly as falsy). Both leave the machine (issue 19,
item 6); these helpers do not. Figures here use no LaTeX, so MathJax is not needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

#: plotly's own fallback size when the layout sets none.
DEFAULT_WIDTH, DEFAULT_HEIGHT = 700, 500


def figure_html(fig: go.Figure) -> str:
    """A standalone HTML file of ``fig`` with plotly.js embedded (~4.5 MB, works offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


def figure_image(fig: go.Figure, fmt: str = "png", *, scale: float = 1.0) -> bytes:
    """``fig`` as PNG or SVG bytes, rendered by kaleido with the local plotly.js, no MathJax.

    Parameters
    ----------
    fig
        The figure.
    fmt
        ``"png"`` or ``"svg"``.
    scale
        Pixel density multiplier (PNG).
    """
    import kaleido

    layout = fig.layout
    opts = {"format": fmt, "width": layout.width or DEFAULT_WIDTH,
            "height": layout.height or DEFAULT_HEIGHT, "scale": scale}
    return kaleido.calc_fig_sync(fig.to_dict(), opts=opts, kopts={"mathjax": False})
