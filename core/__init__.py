"""scVAE Studio core library: data, models, training and analysis for single-cell VAEs.

Nothing in this package imports streamlit; everything a page does can be done from a notebook
or from the command line (``python -m core``).
"""

import os as _os

# Torch's and scikit-learn's OpenMP threads busy-wait by default. On a server that also runs
# the web app, other users' jobs or a CI runner, spinning threads fight for the same cores and
# training slows down more than tenfold (measured: 111 s → 8 s for 2 epochs on a loaded 2-core
# machine). Passive waiting costs nothing measurable when the cores are free. Must be set
# before the OpenMP runtime loads, i.e. before torch is imported; a user's setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


__version__ = "0.1.0"
