"""How sealed originals are kept: encrypted to a passphrase or to a public key.

Sealing (retrace/sealing.py) decides what is a secret; this module only encrypts
the originals and opens them again. Two ciphers, both from the ``cryptography``
package (imported the first time a value is encrypted, in the trace's flusher
thread, never on the start-up path):

- ``RETRACE_KEY`` (a passphrase, on both machines): Fernet, its key derived by
  PBKDF2-HMAC-SHA256 with a salt of the recording's own;
- ``RETRACE_SEAL_TO`` (a public key, on the production machine; the private key
  file only where replays run): X25519 with an ephemeral key of the recording
  process, HKDF-SHA256, ChaCha20-Poly1305. A token carries the ephemeral public
  key, so each one opens on its own (a process killed after writing it still has
  every token it wrote) and the settings need no secret at all.

``retrace-python keygen KEYFILE`` makes the pair: the private key file (0600) and
its public key, printed as ``retrace-seal-pk1:<base64>``.
"""

from __future__ import annotations

import os

from retrace.errors import RecordingError, RetraceError

PASSPHRASE_VAR = "RETRACE_KEY"      # a passphrase: seals when recording, opens when replaying
SEAL_TO_VAR = "RETRACE_SEAL_TO"     # a public key (its text, or a file holding it): seals only
KEY_FILE_VAR = "RETRACE_KEY_FILE"   # a private key file (keygen's): opens what SEAL_TO sealed
KEY_VARS = (PASSPHRASE_VAR, SEAL_TO_VAR, KEY_FILE_VAR)  # never stored, not even sealed

PUBLIC_PREFIX = "retrace-seal-pk1:"
PRIVATE_PREFIX = "retrace-seal-sk1:"
_PBKDF2_ROUNDS = 200_000
_HKDF_INFO = b"retrace-python sealed value v1"
_NONCE = 12
_RAW = 32  # X25519 keys, raw


# What the ciphers import as they first seal or open a value (the trace's flusher thread
# seals): a keyed recording and its replay import them all on the main thread at the start
# instead (import_cipher_modules). threading, imported first by the flusher thread, would
# take that thread for the main one (the interpreter's exit would wait for it forever);
# random (cryptography's RSA module imports it), imported by retrace mid-run, would make
# the program's own import of it find it done and read no entropy: a divergence.
_CIPHER_MODULES = (
    "threading", "base64", "encodings.ascii", "hashlib", "cryptography.exceptions",
    "cryptography.fernet", "cryptography.hazmat.backends.openssl.backend",
    "cryptography.hazmat.primitives.hashes", "cryptography.hazmat.primitives.serialization",
    "cryptography.hazmat.primitives.kdf.hkdf", "cryptography.hazmat.primitives.asymmetric.x25519",
    "cryptography.hazmat.primitives.ciphers.aead",
)


def import_cipher_modules() -> None:
    """Before the program starts, in a keyed recording and in its replay alike (with or
    without the key): the program then finds the same modules in both."""
    from importlib import import_module

    for name in _CIPHER_MODULES:
        try:
            import_module(name)
        except ImportError:
            return  # (no cryptography: the cipher says so when it is made)


def _crypto():
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise RetraceError("sealing with a key needs the cryptography package") from None


# -- passphrase -----------------------------------------------------------------------
class PassphraseCipher:
    """RETRACE_KEY: the same passphrase seals and opens."""

    def __init__(self, passphrase: str, salt: bytes) -> None:
        self._passphrase = passphrase
        self._salt = salt
        self._fernet = None
        self._invalid = None  # cryptography's InvalidToken, once imported

    def _made(self):
        if self._fernet is None:
            _crypto()
            from base64 import urlsafe_b64encode
            from hashlib import pbkdf2_hmac

            from cryptography.fernet import Fernet

            derived = pbkdf2_hmac("sha256", self._passphrase.encode(), self._salt, _PBKDF2_ROUNDS)
            self._fernet = Fernet(urlsafe_b64encode(derived))
        return self._fernet

    def encrypt(self, data: bytes) -> str:
        return self._made().encrypt(data).decode("ascii")

    def opened(self) -> "PassphraseCipher":
        """Made now, at a replay's start (see PrivateKeyCipher): its imports with it."""
        from cryptography.fernet import InvalidToken

        self._made()
        self._invalid = InvalidToken
        return self

    def decrypt(self, token: str) -> bytes:
        if self._invalid is None:
            self.opened()
        try:
            return self._made().decrypt(token.encode("ascii"))
        except self._invalid:
            raise RecordingError(f"{PASSPHRASE_VAR} does not open this recording's sealed values "
                                 "(it was sealed with another key)") from None
        except (ValueError, TypeError, UnicodeError):
            raise RecordingError("a sealed value of this recording is damaged") from None


# -- public key -----------------------------------------------------------------------
def _hkdf_tools():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF, hashes.SHA256


def _data_key(shared: bytes, ephemeral: bytes, recipient: bytes, salt: bytes, tools=None) -> bytes:
    HKDF, SHA256 = tools or _hkdf_tools()
    return HKDF(algorithm=SHA256(), length=32, salt=salt, info=_HKDF_INFO + ephemeral + recipient).derive(shared)


def _raw_public(private_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class PublicKeyCipher:
    """RETRACE_SEAL_TO: seals to a public key (it cannot open what it sealed: only its
    private key file, PrivateKeyCipher, does)."""

    def __init__(self, recipient: bytes, salt: bytes) -> None:
        self.recipient = recipient
        self._salt = salt
        self._sealing = None  # (ephemeral public key, AEAD): one per recording process

    def encrypt(self, data: bytes) -> str:
        if self._sealing is None:
            _crypto()
            from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
            from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

            ephemeral = X25519PrivateKey.generate()
            shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(self.recipient))
            ephemeral_public = _raw_public(ephemeral)
            key = _data_key(shared, ephemeral_public, self.recipient, self._salt)
            self._sealing = (ephemeral_public, ChaCha20Poly1305(key))  # (the ephemeral private key: dropped)
        from base64 import b64encode

        ephemeral_public, aead = self._sealing
        nonce = os.urandom(_NONCE)
        return b64encode(ephemeral_public + nonce + aead.encrypt(nonce, data, ephemeral_public)).decode("ascii")


class PrivateKeyCipher:
    """RETRACE_KEY_FILE: opens what was sealed to its public key."""

    def __init__(self, private_key, salt: bytes) -> None:
        from base64 import b64decode

        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
        from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

        self._private = private_key
        self.recipient = _raw_public(private_key)
        self._salt = salt
        self._opened: dict[bytes, object] = {}  # ephemeral public key -> AEAD
        # Everything decrypt needs, imported now: a replay takes the modules its start
        # imported out of sys.modules before the program runs, and classes imported again
        # later would not be the ones cryptography's own checks know.
        self._tools = (b64decode, InvalidTag, X25519PublicKey, ChaCha20Poly1305, _hkdf_tools())

    def decrypt(self, token: str) -> bytes:
        b64decode, InvalidTag, X25519PublicKey, ChaCha20Poly1305, hkdf = self._tools
        try:
            blob = b64decode(token.encode("ascii"), validate=True)
            if len(blob) < _RAW + _NONCE + 16:
                raise ValueError("short")
            ephemeral, nonce, sealed = blob[:_RAW], blob[_RAW:_RAW + _NONCE], blob[_RAW + _NONCE:]
            aead = self._opened.get(ephemeral)
            if aead is None:  # (one per recording process, usually)
                shared = self._private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
                aead = self._opened[ephemeral] = ChaCha20Poly1305(
                    _data_key(shared, ephemeral, self.recipient, self._salt, hkdf))
            return aead.decrypt(nonce, sealed, ephemeral)
        except InvalidTag:
            raise RecordingError("a sealed value of this recording is damaged or was not sealed to "
                                 f"{KEY_FILE_VAR}'s key") from None
        except (ValueError, TypeError, UnicodeError):
            raise RecordingError("a sealed value of this recording is damaged") from None


# -- key files and public key text ------------------------------------------------------
def public_text(raw: bytes) -> str:
    from base64 import b64encode

    return PUBLIC_PREFIX + b64encode(raw).decode("ascii")


def _decode_key(text: str, prefix: str, what: str) -> bytes:
    from base64 import b64decode

    text = text.strip()
    if text.startswith(prefix):
        try:
            raw = b64decode(text[len(prefix):].encode("ascii"), validate=True)
        except (ValueError, UnicodeError):
            raw = b""
        if len(raw) == _RAW:
            return raw
    raise RetraceError(f"{what} is not a retrace key (expected {prefix}... as `retrace-python keygen` prints it)")


def parse_public(value: str) -> bytes:
    """RETRACE_SEAL_TO: the public key's text, or the path of a file holding it."""
    value = value.strip()
    if not value.startswith(PUBLIC_PREFIX):
        try:
            with open(value, encoding="ascii") as handle:
                value = handle.read().strip()
        except (OSError, UnicodeError) as exc:
            raise RetraceError(f"{SEAL_TO_VAR}: neither a public key ({PUBLIC_PREFIX}...) nor a readable "
                               f"file of one ({getattr(exc, 'strerror', None) or exc})") from None
    return _decode_key(value, PUBLIC_PREFIX, SEAL_TO_VAR)


def load_private(path: str):
    """The X25519 private key in keygen's file at ``path``."""
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read()
    except (OSError, UnicodeError) as exc:
        raise RecordingError(f"cannot read the key file {path} ({getattr(exc, 'strerror', None) or exc})") from None
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    try:
        raw = _decode_key(lines[0] if lines else "", PRIVATE_PREFIX, f"the key file {path}")
    except RetraceError as exc:
        raise RecordingError(str(exc)) from None
    _crypto()
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return X25519PrivateKey.from_private_bytes(raw)


def keygen(path: str) -> str:
    """Write a new private key file at ``path`` (0600, never over an existing file);
    return its public key's text."""
    _crypto()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    key = X25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    public = public_text(_raw_public(key))
    from base64 import b64encode

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise RetraceError(f"{path} exists already: keygen never overwrites a key file") from None
    except OSError as exc:
        raise RetraceError(f"cannot write {path} ({exc.strerror or exc})") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write("# retrace-python private key: it opens the secrets sealed to the public key below.\n"
                     f"# public key: {public}\n"
                     f"{PRIVATE_PREFIX}{b64encode(raw).decode('ascii')}\n")
    return public


# -- choosing one -----------------------------------------------------------------------
def for_recording(env, salt: bytes):
    """The cipher a recording seals with (None: originals are not kept), and what the
    settings say of it. RETRACE_SEAL_TO wins over RETRACE_KEY."""
    seal_to = (env.get(SEAL_TO_VAR) or "").strip()
    if seal_to:
        recipient = parse_public(seal_to)
        return PublicKeyCipher(recipient, salt), {"cipher": "x25519", "recipient": public_text(recipient)}
    passphrase = env.get(PASSPHRASE_VAR)
    if passphrase:
        return PassphraseCipher(passphrase, salt), {"cipher": "passphrase"}
    return None, {}


def for_replay(info: dict, env) -> object | None:
    """The cipher that opens a recording sealed as ``info`` (settings["sealing"]) with
    the key this replay was given, or None when it has none for it. A key that cannot
    be this recording's: RecordingError (exit 65)."""
    salt = bytes.fromhex(info["salt"])
    if info.get("cipher") == "x25519":
        path = env.get(KEY_FILE_VAR)
        if not path:
            return None
        cipher = PrivateKeyCipher(load_private(path), salt)
        if public_text(cipher.recipient) != info.get("recipient"):
            raise RecordingError(f"the key file {path} does not open this recording (it was sealed to "
                                 f"{info.get('recipient')})")
        return cipher
    passphrase = env.get(PASSPHRASE_VAR)
    return PassphraseCipher(passphrase, salt).opened() if passphrase else None
