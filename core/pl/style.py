"""The look shared by every figure builder in :mod:`core.pl`."""

#: Plotly template of every figure.
TEMPLATE = "plotly_white"

#: Top margin (px) of a figure with subplot titles on its right-hand side: Plotly's toolbar
#: takes the top ~30 px at the right when the pointer is over the chart, and at 40 px it
#: covered those titles (issue 21); at 64 px the titles sit below it.
TOP_MARGIN = 64
