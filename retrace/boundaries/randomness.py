"""Randomness: entropy reads, random seeding, and the uuid module's machine facts.

The ``random`` generators are not recorded call by call. They are *seeded* from a
leaf instead: ``random.Random.seed`` with no seed (``a is None``: a new
``Random()``, ``random.seed()``) takes a 256-bit seed from the leaf
``random.entropy_seed`` (the real ``os.urandom`` while recording, the trace on
replay) and seeds the Mersenne Twister with it. Everything drawn afterwards
(``random.random()``, ``randint``, ``shuffle``, ``from random import random``)
is then the same computation in both modes, at no cost per call.

The hidden instance behind the module functions (``random._inst``) was seeded
from entropy in C when ``random`` was imported, before we could patch it; it is
reseeded through the leaf once, right after the import. ``random.seed`` is a
method bound to the *original* ``Random.seed`` at import, so it is rebound.
After a fork CPython reseeds ``_inst`` from entropy in C; a fork hook reseeds it
again through the leaf so a child's generator replays too.

``SystemRandom`` and ``secrets`` draw every value from ``os.urandom`` (through
``random._urandom``, an alias the installer redirects), so ``os.urandom`` and
``os.getrandom`` are leaves. ``uuid.uuid4`` uses ``os.urandom``; ``uuid.uuid1``
asks libuuid (``uuid._generate_time_safe``, a C function bound at import, or
None) or else reads the clock, ``random`` and ``uuid.getnode`` (the MAC address):
both are leaves.

The hash seed (set and dict order of strings) is not a boundary: the launcher
pins ``PYTHONHASHSEED`` and replay restores it.
"""

from __future__ import annotations

import posix

from retrace.boundaries.spec import Family, Leaf, OnImport, Patch, Turn, all_args

SEED_BITS = 256


def _fresh_entropy() -> int:
    # posix, not os: the os attribute is the recorded leaf.
    return int.from_bytes(posix.urandom(SEED_BITS // 8), "big")


def _make_seed(engine, original, name):
    entropy = engine.leaf("random.entropy_seed", _fresh_entropy, depth=2)

    def seed(self, a=None, version=2):
        if a is None:
            a = entropy()
        return original(self, a, version)

    seed.__name__ = original.__name__
    seed.__qualname__ = original.__qualname__
    seed.__doc__ = original.__doc__
    seed.__module__ = original.__module__
    seed.__wrapped__ = original
    seed.__retrace_entropy__ = True
    return seed


def _rebind_seed(engine, original, name):
    """``random.seed`` is ``_inst.seed`` bound at import: bind it to the patched method."""
    instance = getattr(original, "__self__", None)
    if instance is None:
        return original
    return instance.seed


def _reseed_hidden_instance(engine, module) -> None:
    instance = getattr(module, "_inst", None)
    if instance is None:
        return
    instance.seed()

    def reseed_in_child():
        # CPython's own hook (registered at import, so it runs first) reseeded
        # _inst from entropy in C; reseed through the leaf while still installed.
        if getattr(type(instance).seed, "__retrace_entropy__", False):
            instance.seed()

    register = getattr(posix, "register_at_fork", None)
    if register is not None:
        register(after_in_child=reseed_in_child)


FAMILY = Family(
    name="randomness",
    doc=__doc__,
    patches=(
        Patch("os", "urandom", why="reads the kernel's entropy pool", key=all_args, turn=Turn.QUICK),
        Patch("os", "getrandom", why="reads the kernel's entropy pool", key=all_args, optional=True, turn=Turn.QUICK),
        Patch("ssl", "RAND_bytes", why="reads OpenSSL's random generator", key=all_args, turn=Turn.QUICK),
        Patch("random", "Random.seed", why="seeding without a seed reads entropy in C", make=_make_seed),
        # After Random.seed (patches of a module apply in this order): rebinds to the patched one.
        Patch("random", "seed", why="a method bound at import to the original Random.seed",
              make=_rebind_seed),
        Patch("uuid", "_generate_time_safe", why="libuuid reads the clock and the MAC address in C",
              optional=True),
        Patch("uuid", "getnode", why="reads the MAC address (interfaces, subprocesses)"),
    ),
    on_import=(
        OnImport("random", _reseed_hidden_instance,
                 why="the hidden instance behind random.random() was seeded from entropy in C at import"),
    ),
    leaves=(
        Leaf("random.entropy_seed", why="a seed drawn from the kernel's entropy pool"),
    ),
)
