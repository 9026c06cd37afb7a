"""Plotly figure builders: pure functions of arrays and DataFrames that return a ``go.Figure``.

One module per subject (``figures``: QC, bars, curves, embeddings; ``network``, ``perturb``,
``scgen``, ``de``); all share :data:`core.pl.style.TEMPLATE`.
"""
