"""The look shared by every figure builder in :mod:`core.pl`."""

#: Plotly template of every figure.
TEMPLATE = "plotly_white"
