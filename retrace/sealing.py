"""Secrets are not stored in plain text: sealing.

What is a secret, by default (``RETRACE_SECRETS=off`` stores everything as it is):

- environment variables whose names look secret (``*PASSWORD*``, ``*SECRET*``,
  ``*TOKEN*``, ``*API_KEY*``, ``*ACCESS_KEY*``, ``*PRIVATE_KEY*``, ``*CREDENTIAL*``,
  ``*AUTH*``, ``*COOKIE*``, ``*SESSION*``), and those the user names
  (``--secret NAME``, ``RETRACE_SECRETS_EXTRA=NAME,...``);
- credentials in any text: the password of ``scheme://user:password@host`` (a
  ``DATABASE_URL``, a DSN), the values of credential headers (``Authorization``,
  ``Cookie``, ``Set-Cookie``, ``X-API-Key``...) and of ``password=...``-like
  settings (``password``, ``passwd``, ``client_secret``, ``api_key``,
  ``aws_secret_access_key``...: ``key = value``, ``key: value``, ``"key": "value"``),
  in environment values, the command line, call arguments and what the program
  received (socket and TLS reads, files read, stdin, command output...);
- **every later occurrence of a secret value found so far** (``KnownSecrets``):
  the password from the environment inside a DSN passed to ``connect``, a token
  received in one answer and found again in a file.

A sealed stretch is replaced, in place, by as many ``*`` as it had characters or
bytes (lengths, ``Content-Length`` headers and offsets stay right). A program that
only passes a secret on therefore passes the same ``*``s on replay, and a call's
arguments are compared in their sealed form (``Sealer.seal_key``): a replay with
no key matches its recording. Only what the program computes from a secret (a
digest, a signature, a branch on its characters) can differ, and the replay says
so up front (bootstrap/replay.py).

The originals are kept encrypted when the recording was given a key
(retrace/ciphers.py: a passphrase, or a public key so that production holds no
secret); without one they are not kept.

Where: each sealed event value is followed in the trace by an item
``{"x": [[offset, length, what, token-or-null], ...]}``; a call whose arguments
held a secret has ``[digest, [[leaf, offset, length], ...]]`` as its digest
(format 4: the digest of the arguments with those stretches blanked); sealed
environment values and command-line arguments are listed in ``settings.json``
under ``sealed_env`` and ``sealed_argv``, with ``sealing`` (``salt``, ``keyed``,
``cipher``). Scanning, sealing and encryption run in the trace's flusher thread,
and for the environment at the first flush, not on the program's path.
"""

from __future__ import annotations

import os

from retrace.ciphers import KEY_VARS
from retrace.trace.cbor import CBORTag, dumps
from retrace.trace.format import TAG_SEALED

SWITCH_VAR = "RETRACE_SECRETS"
EXTRA_VAR = "RETRACE_SECRETS_EXTRA"  # more names of secret environment variables, comma-separated
STRICT_VAR = "RETRACE_STRICT_SECRETS"  # replay: refuse to run with placeholders
_SECRET_NAME_WORDS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "API_KEY", "ACCESS_KEY", "PRIVATE_KEY",
                      "CREDENTIAL", "AUTH", "COOKIE", "SESSION")
# A secret value shorter than this is sealed where it was found, but not looked for
# elsewhere: "abc" would seal every "abc" the program reads.
MIN_KNOWN = 4


def enabled(env) -> bool:
    return (env.get(SWITCH_VAR) or "").strip().lower() not in ("off", "0", "no", "false")


def extra_names(env) -> frozenset:
    return frozenset(name.strip().upper() for name in (env.get(EXTRA_VAR) or "").split(",") if name.strip())


def secret_name(name: str, extra: frozenset = frozenset()) -> bool:
    upper = name.upper()
    return upper in extra or any(word in upper for word in _SECRET_NAME_WORDS)


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


def blank(value, found):
    star = "*" if isinstance(value, str) else b"*"
    parts, last = [], 0
    for start, length, _ in found:
        parts += [value[last:start], star * length]
        last = start + length
    parts.append(value[last:])
    return value[:0].join(parts)


def _merge(found: list) -> list:
    """Found stretches in order, overlaps dropped (the first, then the longest, wins)."""
    found.sort(key=lambda item: (item[0], -item[1]))
    merged = []
    for start, length, what in found:
        if merged and start < merged[-1][0] + merged[-1][1]:
            continue
        merged.append((start, length, what))
    return merged


class KnownSecrets:
    """The secret values this process has found so far (its environment's, then those
    found in what it received): each is sealed wherever it appears again. Used at the
    start and then only by the trace's flusher thread (one at a time, in event order)."""

    def __init__(self) -> None:
        self._text: dict[str, str] = {}
        self._bytes: dict[bytes, str] = {}

    def __bool__(self) -> bool:
        return bool(self._bytes)  # (every secret has its bytes; not every one a text)

    def add(self, value, what: str) -> None:
        if type(value) is bytes:
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            raw = value
        else:
            text, raw = value, value.encode("utf-8", "surrogatepass")
        if len(raw) < MIN_KNOWN or set(raw) == {42}:  # (too short to look for; or *s: sealed already)
            return
        if text is not None:
            self._text.setdefault(text, what)
        self._bytes.setdefault(raw, what)

    def raw(self):
        return self._bytes.keys()

    def values(self) -> list[str]:
        """The secrets themselves (handed to a Python child's recording, never stored)."""
        return list(self._text)

    def find(self, value) -> list[tuple[int, int, str]]:
        """(offset, length, what) of every occurrence of a known secret in ``value``."""
        found = []
        for secret, what in (self._text if type(value) is str else self._bytes).items():
            start = value.find(secret)
            while start != -1:
                found.append((start, len(secret), f"known secret ({what})"))
                start = value.find(secret, start + len(secret))
        return found

    def scan(self, value) -> list[tuple[int, int, str]]:
        """The secrets in a str or bytes ``value``: shapes (find_secrets) and known values.
        What its shapes find becomes known."""
        if len(value) < MIN_KNOWN:
            return []
        hits = self.find(value) if self._bytes else None
        found = find_secrets(value)
        for start, length, what in found:
            self.add(value[start:start + length], what)
        return _merge(found + hits) if hits else found


def seal_environment(env: dict, known: KnownSecrets, extra: frozenset = frozenset()) -> tuple[dict, dict]:
    """The environment with secrets replaced by ``*``, and what was sealed: name ->
    [[offset, length, what, None]] (tokens are added later, by ``Sealer``). The key
    variables (retrace/ciphers.py) are left out altogether."""
    env = {name: value for name, value in env.items() if name not in KEY_VARS}
    shown, sealed = dict(env), {}
    for name, value in env.items():  # names first: their values are known in every other one
        if value and secret_name(name, extra):
            shown[name] = "*" * len(value)
            sealed[name] = [[0, len(value), "environment variable", None]]
            known.add(value, f"the value of {name}")
    for _ in range(2):  # (twice: a value found in one variable may be in one read before it)
        for name, value in env.items():
            if name not in sealed or sealed[name][0][2] != "environment variable":
                found = known.scan(value)
                if found:
                    shown[name] = blank(value, found)
                    sealed[name] = [[start, length, what, None] for start, length, what in found]
    return shown, sealed


def seal_arguments(args: list, known: KnownSecrets) -> tuple[list, dict]:
    """Command-line arguments with their secrets blanked, and index -> entries."""
    shown, sealed = list(args), {}
    for index, arg in enumerate(args):
        found = known.scan(arg) if type(arg) is str else None
        if found:
            shown[index] = blank(arg, found)
            sealed[str(index)] = [[start, length, what, None] for start, length, what in found]
    return shown, sealed


class Sealer:
    """Seals recorded values and call keys (and encrypts the originals, given a cipher
    from retrace/ciphers.py). Runs in the trace's flusher thread."""

    def __init__(self, cipher=None, known: KnownSecrets | None = None) -> None:
        self._cipher = cipher
        self.known = known if known is not None else KnownSecrets()
        self.count = 0  # sealed stretches in recorded values: what a replay with no key gets as *s

    carries_data = staticmethod(carries_data)

    @property
    def keyed(self) -> bool:
        return self._cipher is not None

    def token(self, data) -> str | None:
        if self._cipher is None:
            return None
        if type(data) is str:
            data = data.encode("utf-8", "surrogatepass")
        return self._cipher.encrypt(data)

    def seal(self, value, shapes: bool = True):
        """(value with its secrets blanked, entries) or (value, None) if it has none.
        ``shapes``: look for credentials by their shape too (in what the program
        received); else only for the secrets known so far (in any other value).

        A str or bytes value is blanked in place: entries ``[offset, length, what,
        token]``. A value with secrets deeper inside (an exception's file name, a
        (data, address) pair) becomes ``TAG_SEALED`` holding its blanked wire form as
        CBOR bytes, entries ``[*path, offset, length, what, token]`` (``path``: indexes
        into the wire form's arrays, tags passed through), so that a replay opens it
        before it is decoded into objects."""
        kind = type(value)
        if kind is str or kind is bytes:
            if shapes:
                found = self.known.scan(value)
            else:
                found = _merge(self.known.find(value)) if self.known else None
            if not found:
                return value, None
            self.count += len(found)
            return blank(value, found), [[start, length, what, self.token(value[start:start + length])]
                                         for start, length, what in found]
        if not shapes and not (self.known and self._may_hold_known(value)):
            return value, None
        entries: list = []
        sealed = self._seal_tree(value, [], entries, shapes)
        if not entries:
            return value, None
        self.count += len(entries)
        return CBORTag(TAG_SEALED, dumps(sealed)), entries

    def _may_hold_known(self, value) -> bool:
        """Whether a known secret's bytes are anywhere in ``value``'s encoding (at C speed;
        a str leaf is its UTF-8 there)."""
        try:
            encoded = dumps(value)
        except Exception:
            return False
        return any(secret in encoded for secret in self.known.raw())

    def _seal_tree(self, node, path: list, entries: list, shapes: bool):
        kind = type(node)
        if kind is str or kind is bytes:
            found = self.known.scan(node) if shapes else _merge(self.known.find(node))
            if not found:
                return node
            entries += [[*path, start, length, what, self.token(node[start:start + length])]
                        for start, length, what in found]
            return blank(node, found)
        if kind is CBORTag:
            inner = self._seal_tree(node.value, path, entries, shapes)
            return node if inner is node.value else CBORTag(node.tag, inner)
        if kind is list or kind is tuple:
            items = None
            for index, item in enumerate(node):
                new = self._seal_tree(item, [*path, index], entries, shapes)
                if new is not item:
                    items = items or list(node)
                    items[index] = new
            return node if items is None else items
        return node

    def seal_key(self, frozen):
        """A call's key (trace/digest.py's frozen form) with its secrets blanked, and where:
        ``(sealed, [[leaf, offset, length], ...])``, or ``(frozen, None)``. Leaves are the
        str and bytes in the key, counted depth first (sets are not entered)."""
        kind = type(frozen)
        if kind is str or kind is bytes:
            found = self.known.scan(frozen)
            return (blank(frozen, found), [[0, start, length] for start, length, _ in found]) if found \
                else (frozen, None)
        if kind is not tuple:
            return frozen, None
        positions: list = []
        sealed = self._seal_items(frozen, positions, [0])
        return (sealed, positions) if positions else (frozen, None)

    def _seal_items(self, node: tuple, positions: list, counter: list) -> tuple:
        items = None
        for index, item in enumerate(node):
            kind = type(item)
            if kind is str or kind is bytes:
                leaf = counter[0]
                counter[0] = leaf + 1
                found = self.known.scan(item)
                if found:
                    items = items or list(node)
                    items[index] = blank(item, found)
                    positions += [[leaf, start, length] for start, length, _ in found]
            elif kind is tuple:
                new = self._seal_items(item, positions, counter)
                if new is not item:
                    items = items or list(node)
                    items[index] = new
        return node if items is None else tuple(items)

    def tokens_for(self, originals: dict, sealed: dict) -> dict:
        """``sealed`` (name or index -> entries) with the encrypted originals, when keyed."""
        if self._cipher is None:
            return sealed
        return {name: [[offset, length, what, self.token(originals[name][offset:offset + length])]
                       for offset, length, what, _ in entries] for name, entries in sealed.items()}


class _Misfit(Exception):
    pass


def blank_key(frozen, positions: list):
    """Replay: ``frozen`` (this replay's key) blanked where the recording's key was
    (``seal_key``'s positions), or None where a stretch does not fit its leaf."""
    by_leaf: dict = {}
    for leaf, start, length in positions:
        by_leaf.setdefault(leaf, []).append((start, length, None))
    counter = [0]

    def visit(node):
        kind = type(node)
        if kind is str or kind is bytes:
            stretches = by_leaf.get(counter[0])
            counter[0] += 1
            if stretches is None:
                return node
            if any(start + length > len(node) for start, length, _ in stretches):
                raise _Misfit
            return blank(node, stretches)
        if kind is tuple:
            return tuple([visit(item) for item in node])
        return node

    try:
        return visit(frozen)
    except _Misfit:
        return None


class Unsealer:
    """Replay: puts the originals back where the recording sealed them."""

    def __init__(self, cipher) -> None:
        self._cipher = cipher

    def unseal(self, value, entries):
        if type(value) is list:
            items = list(value)
            by_index: dict = {}
            for index, *entry in entries:
                by_index.setdefault(index, []).append(entry)
            for index, found in by_index.items():
                if 0 <= index < len(items):
                    items[index] = self.unseal(items[index], found)
            return items
        for offset, length, _what, token in entries:
            if token is None:
                continue  # recorded without a key: gone
            original = self._cipher.decrypt(token)
            if isinstance(value, str):
                try:
                    original = original.decode("utf-8", "surrogatepass")
                except UnicodeDecodeError:
                    from retrace.errors import RecordingError

                    raise RecordingError("a sealed value of this recording is damaged") from None
            value = value[:offset] + original + value[offset + length:]
        return value

    def unseal_tree(self, node, entries: list, depth: int = 0):
        """A wire form (``Sealer.seal``'s TAG_SEALED payload, decoded without tags) with
        the originals put back at each entry's path."""
        here = [entry for entry in entries if len(entry) - 4 == depth]
        deeper: dict = {}
        for entry in entries:
            if len(entry) - 4 > depth:
                deeper.setdefault(entry[depth], []).append(entry)
        if type(node) is CBORTag:
            return CBORTag(node.tag, self.unseal_tree(node.value, entries, depth))
        if here:
            node = self.unseal(node, [entry[-4:] for entry in here])
        if deeper:
            items = list(node)
            for index, found in deeper.items():
                items[index] = self.unseal_tree(items[index], found, depth + 1)
            node = items
        return node

    def unseal_all(self, values: dict, sealed: dict) -> dict:
        """name (or index) -> value, with the sealed ones opened."""
        values = dict(values)
        for name, entries in sealed.items():
            if name in values:
                values[name] = self.unseal(values[name], entries)
        return values


def new_salt() -> str:
    return os.urandom(16).hex()
