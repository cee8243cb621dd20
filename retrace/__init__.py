"""retrace-python: deterministic record/replay of Python programs at their boundaries."""

__version__ = "0.1.0"
