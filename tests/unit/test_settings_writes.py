"""settings.json is written whole: two writers at once never tear it."""

from __future__ import annotations

import os


def test_two_threads_writing_the_same_settings_file_never_tear_it(tmp_path):
    """The flusher's tick and the process's end both rewrite settings.json: each write is
    whole, whichever comes last (a torn file was a replay's "cannot read settings.json")."""
    import json
    import threading

    from retrace.recording import write_json

    path = str(tmp_path / "settings.json")
    failures: list = []

    def writer(name: str) -> None:
        for count in range(300):
            try:
                write_json(path, {"writer": name, "count": count, "padding": name * (count % 97) * 50})
            except OSError as exc:
                failures.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert json.loads(open(path).read())["count"] == 299
    assert [name for name in os.listdir(tmp_path) if name != "settings.json"] == []
