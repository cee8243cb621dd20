"""Looking at a recording without replaying it: ``retrace-python inspect`` and ``events``.

- ``model.py``: reads the recording into plain data (processes, endings, sizes, events);
- ``liveness.py``: whether a recorded process still runs, and what it uses now (psutil);
- ``values.py``: short summaries of recorded values, and which ones JSON can carry;
- ``render.py``: that data as text for people and as versioned JSON;
- ``follow.py``: ``inspect --follow``, re-reading as a live recording grows (watchdog);
- ``app.py``: the typer command line the launcher hands its subcommands to (``inspect``,
  ``events``, and ``prune``, ``fetch``, ``keygen``, which are no inspection: their work
  is in retrace/retention.py, retrace/storage.py and retrace/ciphers.py).

Nothing here installs boundaries or imports the bootstrap: inspecting a recording
reads files and asks the OS about pids, nothing else.
"""
