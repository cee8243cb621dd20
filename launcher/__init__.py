"""The ``retrace-python`` launcher (installed as the ``retrace_launcher`` package)."""
