"""scVAE Studio tests: a regular package, so a site-packages ``tests`` (plottable ships one)
never shadows it."""
