"""nn.Modules only: layers, the β-VAE, the TF-VAE, likelihoods."""
