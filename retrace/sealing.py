"""Secrets are not stored in plain text: sealing.

What is sealed, by default (``RETRACE_SECRETS=off`` stores everything as it is):

- environment variables whose names look secret (``*PASSWORD*``, ``*SECRET*``,
  ``*TOKEN*``, ``*API_KEY*``, ``*ACCESS_KEY*``, ``*PRIVATE_KEY*``, ``*CREDENTIAL*``,
  ``*AUTH*``, ``*COOKIE*``, ``*SESSION*``), and the password of any
  ``scheme://user:password@host`` in another variable (``DATABASE_URL``);
  ``RETRACE_KEY`` itself is never stored at all;
- in the text and bytes the program received (socket and TLS reads, files read,
  stdin...): the values of credential headers (``Authorization``, ``Cookie``,
  ``Set-Cookie``, ``X-API-Key``...), passwords in URLs, and ``password=...``-like
  settings (``password``, ``passwd``, ``client_secret``, ``api_key``,
  ``aws_secret_access_key``...: ``key = value``, ``key: value``, ``"key": "value"``).

What the program sent is never stored (a send is recorded by its size), so an
``Authorization`` header it sent is not in the recording in the first place.

A sealed stretch is replaced, in place, by as many ``*`` as it had characters or
bytes (lengths, and with them ``Content-Length`` and offsets, stay right). With
``RETRACE_KEY`` set when recording, the original is kept encrypted (Fernet, from
the ``cryptography`` package; the key derived from ``RETRACE_KEY`` by
PBKDF2-HMAC-SHA256 with a salt of the recording's own): a replay given the same
``RETRACE_KEY`` is exact. Without it the originals are not kept, and a replay
sees the ``*``s: if the program's course depends on a secret, the replay reports
the divergence that causes (and says sealing may be why).

Where: each sealed event value is followed in the trace by an item
``{"x": [[offset, length, what, token-or-null], ...]}``; sealed environment values
are listed in ``settings.json`` under ``sealed_env`` (same entries), with
``sealing`` (``salt``, ``keyed``). Encryption runs in the trace's flusher thread,
and for the environment at the first flush, not on the start-up path.
"""

from __future__ import annotations

import os

KEY_VAR = "RETRACE_KEY"
SWITCH_VAR = "RETRACE_SECRETS"
_SECRET_NAME_WORDS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "API_KEY", "ACCESS_KEY", "PRIVATE_KEY",
                      "CREDENTIAL", "AUTH", "COOKIE", "SESSION")
_PBKDF2_ROUNDS = 200_000


def enabled(env) -> bool:
    return (env.get(SWITCH_VAR) or "").strip().lower() not in ("off", "0", "no", "false")


def secret_name(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in _SECRET_NAME_WORDS)


def url_password(value: str) -> tuple[int, int] | None:
    """(offset, length) of the password in ``scheme://user:password@host...``, if any."""
    scheme_end = value.find("://")
    if scheme_end <= 0:
        return None
    start = scheme_end + 3
    end = len(value)
    for stop in "/?#":
        found = value.find(stop, start)
        if found != -1:
            end = min(end, found)
    at = value.rfind("@", start, end)
    if at == -1:
        return None
    colon = value.find(":", start, at)
    if colon == -1 or colon + 1 == at:
        return None
    return colon + 1, at - colon - 1


# Boundaries whose str/bytes values are what the program received (a file's or a
# socket's data, stdin, a command's output); the others' (an open file's facts, a
# path) are not scanned.
_DATA_WORDS = ("read", "recv", "stdin", "input", "communicate", "getpass", "getvalue")


def carries_data(boundary: str) -> bool:
    name = boundary.lower()
    return any(word in name for word in _DATA_WORDS)


def seal_environment(env: dict) -> tuple[dict, dict]:
    """The environment with secrets replaced by ``*``, and what was sealed: name ->
    [[offset, length, what, None]] (tokens are added later, by ``Sealer``)."""
    shown, sealed = {}, {}
    for name, value in env.items():
        if name == KEY_VAR:
            continue
        if secret_name(name) and value:
            shown[name] = "*" * len(value)
            sealed[name] = [[0, len(value), "environment variable", None]]
            continue
        where = url_password(value)
        if where is not None:
            offset, length = where
            shown[name] = value[:offset] + "*" * length + value[offset + length:]
            sealed[name] = [[offset, length, "url password", None]]
            continue
        shown[name] = value
    return shown, sealed


# -- in recorded data (the flusher thread) ---------------------------------------------------
_HEADERS = r"authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token|x-amz-security-token"
_KEYS = (r"password|passwd|pwd|client_secret|secret_key|secret_access_key|aws_secret_access_key|api_key|apikey"
         r"|access_key|private_key|auth_token|access_token|refresh_token")
_PATTERNS = (
    # a credential header's value, to the end of its line
    (rf"(?im)^(?P<what>{_HEADERS})[ \t]*:[ \t]*(?P<value>[^\r\n]+)", "header",
     ("authorization", "cookie", "api-key", "auth-token", "security-token")),
    # key = value, key: value, "key": "value", key=value&...
    (rf"(?i)(?<![a-z0-9_])[\"']?(?P<what>{_KEYS})[\"']?[ \t]*[:=][ \t]*[\"']?(?P<value>[^\s\"'&;,<>]+)", "setting",
     ("pass", "pwd", "secret", "key", "token")),
)
_compiled: dict = {}


def _patterns(kind: type):
    patterns = _compiled.get(kind)
    if patterns is None:
        import re

        patterns = _compiled[kind] = [
            (re.compile(source if kind is str else source.encode()), label,
             triggers if kind is str else tuple(word.encode() for word in triggers))
            for source, label, triggers in _PATTERNS]
    return patterns


def _url_passwords(value) -> list[tuple[int, int, str]]:
    """scheme://user:password@host anywhere in ``value``: found from each "://", in
    linear time (a regular expression would scan back over every run of letters)."""
    text = value if type(value) is str else value.decode("latin-1")
    found = []
    at = text.find("://")
    while at != -1:
        start = at + 3
        end = start
        limit = min(len(text), start + 512)
        while end < limit and text[end] not in "/?# \t\r\n\"'<>":
            end += 1
        where = url_password(text[at - 1:end]) if at > 0 and text[at - 1].isalnum() else None
        if where is not None:
            offset, length = where
            found.append((at - 1 + offset, length, "url password"))
        at = text.find("://", start)
    return found


_ANY_WORD = ("pass", "pwd", "secret", "key", "token", "auth", "cookie", "://")
_ANY_WORD_BYTES = tuple(word.encode() for word in _ANY_WORD)


def find_secrets(value) -> list[tuple[int, int, str]]:
    """(offset, length, what) of each secret in a str or bytes value, in order. Only
    where one of a pattern's words appears does it run (a lowercase copy and a few
    substring scans, at C speed, first): most values cost no regular expression."""
    if type(value) is str:
        if ":" not in value and "=" not in value:  # (every pattern needs one: two scans, no copy)
            return []
    elif b":" not in value and b"=" not in value:
        return []
    lowered = value.lower()
    for word in (_ANY_WORD if type(value) is str else _ANY_WORD_BYTES):
        if word in lowered:
            break
    else:
        return []
    found = _url_passwords(value) if (b"://" if type(value) is bytes else "://") in value else []
    for pattern, label, triggers in _patterns(type(value)):
        for word in triggers:
            if word in lowered:
                break
        else:
            continue
        for match in pattern.finditer(value):
            start, end = match.span("value")
            what = label
            if "what" in pattern.groupindex and match.group("what"):
                name = match.group("what")
                what = f"{label} {(name.decode() if isinstance(name, bytes) else name).lower()}"
            found.append((start, end - start, what))
    found.sort()
    merged = []
    for start, length, what in found:  # (overlaps: the first wins)
        if merged and start < merged[-1][0] + merged[-1][1]:
            continue
        merged.append((start, length, what))
    return merged


def _blank(value, found):
    star = "*" if isinstance(value, str) else b"*"
    parts, last = [], 0
    for start, length, _ in found:
        parts += [value[last:start], star * length]
        last = start + length
    parts.append(value[last:])
    return value[:0].join(parts)


class Sealer:
    """Seals recorded values (and encrypts the originals when a key was given)."""

    def __init__(self, key_text: str | None, salt: bytes) -> None:
        self._key_text = key_text
        self._salt = salt
        self._fernet = None

    carries_data = staticmethod(carries_data)

    @property
    def keyed(self) -> bool:
        return bool(self._key_text)

    def _encrypt(self, data: bytes) -> str | None:
        if not self._key_text:
            return None
        if self._fernet is None:
            self._fernet = fernet_for(self._key_text, self._salt)
        return self._fernet.encrypt(data).decode("ascii")

    def seal(self, value):
        """(value with its secrets blanked, entries) or (value, None) if it has none."""
        if type(value) is list or type(value) is tuple:  # (recvfrom: [data, address])
            items, entries = list(value), None
            for index, item in enumerate(items):
                if type(item) is bytes or type(item) is str:
                    sealed, found = self.seal(item)
                    if found:
                        items[index] = sealed
                        entries = (entries or []) + [[index, *entry] for entry in found]
            return (items, entries) if entries else (value, None)
        found = find_secrets(value)
        if not found:
            return value, None
        entries = []
        for start, length, what in found:
            original = value[start:start + length]
            data = original.encode("utf-8", "surrogatepass") if isinstance(original, str) else original
            entries.append([start, length, what, self._encrypt(data)])
        return _blank(value, found), entries

    def tokens_for_environment(self, env: dict, sealed: dict) -> dict:
        """``sealed`` (seal_environment's) with the encrypted originals, when keyed."""
        if not self._key_text:
            return sealed
        result = {}
        for name, entries in sealed.items():
            value = env[name]
            result[name] = [[offset, length, what, self._encrypt(value[offset:offset + length].encode(
                "utf-8", "surrogatepass"))] for offset, length, what, _ in entries]
        return result


def fernet_for(key_text: str, salt: bytes):
    from base64 import urlsafe_b64encode
    from hashlib import pbkdf2_hmac

    try:
        from cryptography.fernet import Fernet
    except ImportError:
        from retrace.errors import RetraceError

        raise RetraceError("sealing with RETRACE_KEY needs the cryptography package") from None
    derived = pbkdf2_hmac("sha256", key_text.encode(), salt, _PBKDF2_ROUNDS)
    return Fernet(urlsafe_b64encode(derived))


def new_salt() -> str:
    return os.urandom(16).hex()


class Unsealer:
    """Replay: puts the originals back where the recording sealed them."""

    def __init__(self, key_text: str, salt_text: str) -> None:
        self._fernet = fernet_for(key_text, bytes.fromhex(salt_text))

    def _decrypt(self, token: str) -> bytes:
        from cryptography.fernet import InvalidToken

        from retrace.errors import RecordingError

        try:
            return self._fernet.decrypt(token.encode("ascii"))
        except InvalidToken:
            raise RecordingError(f"{KEY_VAR} does not open this recording's sealed values "
                                 "(it was sealed with another key)") from None

    def unseal(self, value, entries):
        if type(value) is list:
            items = list(value)
            by_index: dict = {}
            for index, *entry in entries:
                by_index.setdefault(index, []).append(entry)
            for index, found in by_index.items():
                items[index] = self.unseal(items[index], found)
            return items
        for offset, length, _what, token in entries:
            if token is None:
                continue  # recorded without a key: gone
            original = self._decrypt(token)
            if isinstance(value, str):
                original = original.decode("utf-8", "surrogatepass")
            value = value[:offset] + original + value[offset + length:]
        return value

    def unseal_environment(self, env: dict, sealed: dict) -> dict:
        env = dict(env)
        for name, entries in sealed.items():
            if name in env:
                env[name] = self.unseal(env[name], entries)
        return env
