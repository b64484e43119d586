"""The one exception type for user errors (bad input, missing data, unsupported model).

The CLI prints ``error: <message>`` and exits 2 for these; anything else is an internal bug and keeps its traceback.
"""


class CodesignError(Exception):
    """A problem with what the user gave us, explained in one line."""
