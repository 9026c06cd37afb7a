"""User-facing errors.

Every error that the user can fix (a bad file, a wrong option) is raised as a subclass of
:class:`ScvaeError` whose message says what is wrong and what to do. The CLI prints it as one
``error:`` line and the pages show it with ``st.error``; neither shows a traceback.
"""


class ScvaeError(Exception):
    """Base class for errors whose message is meant for the user."""


class DataError(ScvaeError, ValueError):
    """The input data cannot be used as given (unreadable, empty, NaN, wrong type...)."""


class ConfigError(ScvaeError, ValueError):
    """An option or combination of options is invalid."""


class TrainingError(ScvaeError, RuntimeError):
    """Training could not continue (for example the loss became NaN or Inf)."""


class Cancelled(TrainingError):
    """The user cancelled training; the run folder is kept unfinished with its checkpoint."""
