"""scVAE Studio core library: data, models, training and analysis for single-cell VAEs.

Nothing in this package imports streamlit; everything a page does can be done from a notebook
or from the command line (``python -m core``).
"""

__version__ = "0.1.0"
