"""Randomness OpenSSL draws in C for ``cryptography``: generated keys, randomized signatures.

``cryptography`` asks OpenSSL's own generator for the randomness of a new key, of an
ECDSA or DSA signature's nonce, of PSS and OAEP padding: none of it passes
``os.urandom``, so a replay would make other keys and other signatures and say
nothing. These calls are leaves: a generated private key is stored as its PKCS#8 DER
bytes (the replay loads the same key, and everything done with it afterwards is
computed for real, the same way), a signature or ciphertext as its bytes.
Deterministic operations (Ed25519 signatures, PKCS#1 v1.5 signing, AES-GCM with the
program's nonce, hashing) are not boundaries: they run for real in both modes.
``ssl.RAND_bytes`` is a leaf of the randomness family.

Not recorded yet: DH and DSA parameter generation, a DH key made from parameters.
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, Patch

_RUST = "cryptography.hazmat.bindings._rust"


def _private_bytes(key, args, kwargs):
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_private(data, args, kwargs):
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_private_key(data, None)


def _key_arguments(*args, **kwargs):
    """What a key's generation was asked (an exponent and a size, a curve's name)."""
    return tuple(arg if type(arg) in (int, str, bytes) else type(arg).__name__ for arg in args)


def _make_generate(engine, original, name):
    return engine.leaf(name, original, key=_key_arguments, store=_private_bytes, load=_load_private)


def _data_of(key, data=b"", *rest, **kwargs):
    """A signature's or a ciphertext's key: the data (the key object is no plain value)."""
    return data if type(data) is bytes else type(data).__name__


def _make_randomized(engine, original, name):
    return engine.leaf(name, original, key=_data_of)


_GENERATED = ("rsa.generate_private_key", "ec.generate_private_key", "ed25519.generate_key",
              "x25519.generate_key", "ed448.generate_key", "x448.generate_key",
              "dsa.DSAParameters.generate_private_key")
_RANDOMIZED = ("rsa.RSAPrivateKey.sign", "rsa.RSAPublicKey.encrypt", "ec.ECPrivateKey.sign",
               "dsa.DSAPrivateKey.sign")

FAMILY = Family(
    name="cryptokeys",
    doc=__doc__,
    patches=(
        *(Patch(_RUST, f"openssl.{path}", why="OpenSSL draws a new key's randomness in C",
                make=_make_generate, optional=True) for path in _GENERATED),
        *(Patch(_RUST, f"openssl.{path}", why="OpenSSL draws a nonce or padding at random in C",
                make=_make_randomized, optional=True) for path in _RANDOMIZED),
    ),
)
