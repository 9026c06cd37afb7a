"""One module per model: ``train_<model>(adata, *, ...) -> Run`` builds the module, runs the
training loop of :mod:`core.training`, scores the result with :mod:`core.analysis` and saves a
run folder with :mod:`core.runs` (β-VAE, TF-VAE, scGen)."""
