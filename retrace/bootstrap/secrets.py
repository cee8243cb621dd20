"""The secrets of one recording process: what its settings and trace keep of them.

retrace/sealing.py finds and blanks secrets; retrace/ciphers.py encrypts the
originals. This is where a recording process puts the two together: its
environment and command line sealed into settings.json at the start, the trace
writer's ``Sealer`` (values and call keys, in the flusher thread), the encrypted
originals of the settings' sealed values written at the first flush (not on the
start-up path), and how many values the trace sealed (what a replay without the
key announces up front).
"""

from __future__ import annotations

import os

from retrace import ciphers, launch, sealing
from retrace.errors import RecordingError, RetraceError
from retrace.recording import ROOT_PROCESS


# The key variables a recording hands down to its Python children, as RETRACE_CONFIG keys.
_HANDED_KEYS = ((ciphers.SEAL_TO_VAR, "seal_to"), (ciphers.PASSPHRASE_VAR, "key"))


class RecordingSecrets:
    def __init__(self, env, config: dict, *, warn) -> None:
        """``config``: RETRACE_CONFIG; a Python child's holds what its parent handed down
        (``for_child``), which wins over the environment the program gave it."""
        self.on = sealing.enabled(env)
        self.known = sealing.KnownSecrets()
        for value in (config.get("secrets") or "").split("\0"):  # (never stored)
            if value:
                self.known.add(value, "a secret of the parent process")
        handed = {name: config[key] for name, key in _HANDED_KEYS if config.get(key)}
        if handed:
            env = dict(env, **handed)
        self.info: dict | None = None  # settings["sealing"]
        self.sealer: sealing.Sealer | None = None
        self._cipher = None
        self._pending: list = []  # (settings key, originals, sealed) until their tokens are written
        self._noted = 0  # the sealed-value count the settings have
        if not self.on:
            return
        self._key_source = {name: env.get(name) for name, _ in _HANDED_KEYS}
        salt = sealing.new_salt()
        try:
            self._cipher, described = ciphers.for_recording(env, bytes.fromhex(salt))
        except RetraceError as exc:
            warn(f"{exc}; sealed secrets are not kept (a replay sees them as '*'s)")
            self._cipher, described = None, {}
        self.info = {"salt": salt, "keyed": self._cipher is not None, **described}
        if self._cipher is not None:
            ciphers.import_cipher_modules()

    def environment(self, env: dict) -> dict:
        """``env`` as settings.json keeps it: the key variables left out, secrets sealed."""
        if not self.on:
            return {name: value for name, value in env.items() if name not in ciphers.KEY_VARS}
        shown, sealed = sealing.seal_environment(env, self.known, sealing.extra_names(env))
        if sealed:
            self._pending.append(("sealed_env", env, sealed))
        return shown

    def command_line(self, main: dict, orig_argv: list) -> tuple[dict, list]:
        """The program's arguments (after its script, module or code) with secrets sealed,
        in ``main["argv"]`` and in ``orig_argv`` alike."""
        args = main.get("argv", [])[1:]
        if not self.on or not args:
            return main, orig_argv
        shown, sealed = sealing.seal_arguments(args, self.known)
        if not sealed:
            return main, orig_argv
        self._pending.append(("sealed_args", _by_index(args), sealed))
        return _with_arguments(main, orig_argv, shown)

    def start(self, settings: dict) -> sealing.Sealer | None:
        """The settings' sealing entries, and the trace writer's sealer."""
        if not self.on:
            return None
        settings["sealing"] = self.info
        for name, _, sealed in self._pending:
            settings[name] = sealed
        self.sealer = sealing.Sealer(self._cipher, self.known)
        return self.sealer

    def update(self, settings: dict) -> bool:
        """In the flusher thread: the encrypted originals of the settings' sealed values
        (once), and how many values the trace has sealed so far. True if ``settings``
        changed (to be written again)."""
        changed = False
        if self._pending and self.sealer is not None:
            pending, self._pending = self._pending, []
            if self.sealer.keyed:
                for name, originals, sealed in pending:
                    settings[name] = self.sealer.tokens_for(originals, sealed)
                changed = True
        count = self.sealer.count if self.sealer is not None else 0
        if count != self._noted and (not self._noted or count - self._noted >= 64 or changed):
            self._noted = settings["sealed_values"] = count
            changed = True
        return changed

    def final(self, facts: dict) -> bool:
        """At the end, the trace written: the exact count. True if ``facts`` changed."""
        if self.sealer is None or self.sealer.count == self._noted:
            return False
        facts["sealed_values"] = self._noted = self.sealer.count
        return True

    def after_fork(self) -> None:
        """A forked child: the secrets it knows are its parent's, the count its own."""
        self._pending = []  # (the parent's settings)
        if self.sealer is not None:
            self.sealer.count = self._noted = 0

    def for_child(self) -> dict:
        """RETRACE_CONFIG entries for a Python child's recording: the secrets it must look
        for too, and the key to seal with (a program that gives its child an environment
        of its own has not given it ours). The child takes them out of its environment
        before anything is stored (bootstrap/record.py's exec child)."""
        if not self.on:
            return {}
        handed = {"secrets": "\0".join(self.known.values())}  # (flat: no environment value holds a NUL)
        for name, key in _HANDED_KEYS:
            if self._key_source.get(name):
                handed[key] = self._key_source[name]
        return {key: value for key, value in handed.items() if value}


def _by_index(args: list) -> dict:
    """Arguments as settings["sealed_args"] names them (JSON keys: the index as text)."""
    return {str(index): arg for index, arg in enumerate(args)}


def _with_arguments(main: dict, orig_argv: list, args: list) -> tuple[dict, list]:
    """``main`` and ``orig_argv`` with the program's arguments (those after its script,
    module or code: the end of both) replaced by ``args``."""
    first = len(orig_argv) - len(args)
    return dict(main, argv=[main["argv"][0], *args]), [*orig_argv[:first], *args] if first >= 0 else orig_argv


# -- replay -------------------------------------------------------------------------------
class ReplaySecrets:
    """A replay's side: the key it was given (read before the recorded environment
    replaces this process's), what it opens, and what it says when it cannot."""

    def __init__(self, env) -> None:
        self.given = {name: env[name] for name in (ciphers.PASSPHRASE_VAR, ciphers.KEY_FILE_VAR) if env.get(name)}
        if ciphers.KEY_FILE_VAR in self.given:
            self.given[ciphers.KEY_FILE_VAR] = os.path.abspath(self.given[ciphers.KEY_FILE_VAR])
        self.strict = (env.get(sealing.STRICT_VAR) or "").strip().lower() not in ("", "0", "no", "off", "false")
        launch.replay_keys.update(self.given)  # (replays of Python children are given the same key)

    def can_open(self, info: dict | None) -> bool:
        if not info or not info.get("keyed"):
            return False
        wanted = ciphers.KEY_FILE_VAR if info.get("cipher") == "x25519" else ciphers.PASSPHRASE_VAR
        return wanted in self.given

    def open(self, settings: dict, source) -> None:
        """Put back what ``settings`` sealed (environment, arguments) and give the trace's
        ``source`` its unsealer; without the key, note what the program gets as *s."""
        info = settings.get("sealing")
        if not info:
            return
        sealed_env, sealed_args = settings.get("sealed_env") or {}, settings.get("sealed_args") or {}
        if info.get("keyed"):
            ciphers.import_cipher_modules()  # (as its recording did)
        cipher = ciphers.for_replay(info, self.given) if self.can_open(info) else None
        if cipher is None:
            source.sealed_settings = [f"{name} (environment)" for name, entries in sealed_env.items() if entries]
            source.sealed_settings += [f"argument {int(index) + 1} (command line)" for index in sealed_args]
            return
        unsealer = sealing.Unsealer(cipher)
        settings["env"] = unsealer.unseal_all(settings["env"], sealed_env)
        if sealed_args:
            shown = settings["main"]["argv"][1:]
            opened = unsealer.unseal_all(_by_index(shown), sealed_args)
            settings["main"], settings["orig_argv"] = _with_arguments(
                settings["main"], settings.get("orig_argv") or [], [opened[str(i)] for i in range(len(shown))])
        source.unsealer = unsealer

    def announce(self, recording) -> None:
        """Up front, once per replay: a replay that gives the program *s for secrets says
        so (its output may differ where the program computes from one), or, strict,
        refuses to run."""
        count, kept = 0, True
        for process in recording.process_ids():
            facts = _facts(recording, process)
            sealed = (sum(len(entries) for entries in (facts.get("sealed_env") or {}).values())
                      + sum(len(entries) for entries in (facts.get("sealed_args") or {}).values())
                      + (facts.get("sealed_values") or 0))
            info = facts.get("sealing") or (_facts(recording, ROOT_PROCESS).get("sealing") if sealed else None)
            if sealed and not self.can_open(info):
                count += sealed
                kept = kept and bool(info and info.get("keyed"))
        if not count:
            return
        values = f"{count} sealed secret{'s' if count != 1 else ''}"
        where = f"`retrace-python inspect {recording.path} --secrets` lists them"
        if not kept:
            why = "the recording did not keep them (made without RETRACE_SEAL_TO or RETRACE_KEY)"
        else:
            why = "no key to open them (RETRACE_KEY_FILE or RETRACE_KEY replays exactly)"
        if self.strict:
            raise RecordingError(f"this replay would give the program {values} as '*'s: {why}; "
                                 f"{where} (refused: --strict-secrets)")
        from retrace.messages import say  # (replay's machinery: never loaded when recording)

        say(f"replaying with {values} as '*'s: {why}; {where}; what the program computes from them "
            "(a digest, a signature, a branch on their characters) may differ from the recording")


def _facts(recording, process: str) -> dict:
    for path in (recording.facts_path(process), recording.link_path(process)):
        try:
            return recording.load_facts_file(path)
        except (FileNotFoundError, RetraceError):
            continue
    return {}
