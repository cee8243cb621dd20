"""``DIR/replay.code-workspace``: a recording opens in stock VS Code, ready to debug.

The workspace's folder is ``run/`` (the recorded code). Its launch configurations:

- **Replay recording** (F5): debugpy launches ``python -m retrace --recording ..``.
  Under a debugger that module replays in its own interpreter, without the
  re-exec a plain ``python -m retrace`` does, so the interpreter must start as the
  recorded one did: the configuration sets the recorded hash seed and start-up
  variables, and the recorded interpreter options.
- **Attach to a replay**: to ``retrace-python --replay DIR --debug`` (port 5678).

The program's code objects carry the paths it had when recorded; ``pathMappings``
connects them to the copies under ``run/`` that VS Code shows (code from outside
the main script's tree is kept under ``run/_ext/<absolute path>``; the workspace is
rewritten when the snapshot takes code from a new directory there).
"""

from __future__ import annotations

from retrace.launch import startup_vars
from retrace.layout import EXTERNAL_DIR

DEFAULT_PORT = 5678  # debugpy's, and `retrace-python --replay DIR --debug`'s


def path_mappings(code_root: str | None, external_dirs=()) -> list[dict]:
    """Recorded paths <-> run/. pydevd takes the first mapping that matches, in both
    directions: so each directory of code from outside the main tree gets its own
    (run/_ext/... is inside run/, and "/" would match every recorded path), before
    the main tree's."""
    mappings = [{"localRoot": f"${{workspaceFolder}}/{EXTERNAL_DIR}{directory}", "remoteRoot": directory}
                for directory in sorted(external_dirs, key=len, reverse=True)]
    if code_root:
        mappings.append({"localRoot": "${workspaceFolder}", "remoteRoot": code_root})
    return mappings


def replay_workspace(settings: dict, code_root: str | None, run_dir_name: str, external_dirs=()) -> dict:
    """The workspace for a recording whose root process has ``settings``, whose code
    snapshot holds files of ``external_dirs`` (absolute) besides ``code_root``."""
    env = startup_vars(settings.get("env") or {})
    if settings.get("hash_seed") is not None:
        env["PYTHONHASHSEED"] = settings["hash_seed"]
    mappings = path_mappings(code_root, external_dirs)
    launch = {
        "name": "Replay recording",
        "type": "debugpy",
        "request": "launch",
        "module": "retrace",
        "args": ["--recording", "${workspaceFolder}/.."],
        "cwd": "${workspaceFolder}",
        "env": env,
        "console": "integratedTerminal",
        "justMyCode": True,
        "subProcess": False,
        "pathMappings": mappings,
    }
    options = list(settings.get("main", {}).get("options", []))
    if options:
        launch["pythonArgs"] = options
    attach = {
        "name": "Attach to a replay (retrace-python --replay DIR --debug)",
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": "127.0.0.1", "port": DEFAULT_PORT},
        "justMyCode": True,
        "pathMappings": mappings,
    }
    return {
        "folders": [{"path": run_dir_name}],
        "settings": {"python.terminal.activateEnvironment": False},
        "launch": {"version": "0.2.0", "configurations": [launch, attach]},
    }
