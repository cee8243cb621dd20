"""Randomness replays: seeded generators, entropy reads, uuids, the hash seed.

Each end-to-end test records twice: the two recordings must differ (the values
really are nondeterministic) and a replay must print what its recording printed.
"""

import random
import subprocess
import sys
import textwrap

import pytest

from conftest import PYTHON, Program, assert_same_run, run
from fakes import script_env

from retrace.trace.reader import TraceReader


def events(recording) -> list[str]:
    """Boundary names of the recorded events, in order."""
    reader = TraceReader(str(recording / "trace.bin"))
    names, found = {}, []
    for items in reader.chunks():
        for item in items:
            if type(item) is list:
                found.append(item[0])
            elif "b" in item:
                names[item["b"][0]] = item["b"][1]
    return [names[bid] for bid in found]


def record_twice(program, tmp_path, source: str, name: str = "app.py"):
    """Record ``source`` twice (two recordings); both must succeed."""
    first = program(source, name)
    second = Program(tmp_path / "again", source, name)
    recorded, other = first.record(), second.record()
    assert recorded.returncode == 0, recorded.stderr
    assert other.returncode == 0, other.stderr
    return first, recorded, other


RANDOM_PROGRAM = """
    import os, random, secrets, uuid
    from random import random as rand, randint
    print("module", random.random(), random.randint(1, 10**9), random.choice("abcdefghij" * 9))
    deck = list(range(52)); random.shuffle(deck); print("shuffle", deck[:8])
    print("alias", rand(), randint(1, 10**9), random.gauss(0, 1))
    print("instance", random.Random().random(), random.Random(None).getrandbits(64))
    random.seed(); print("reseeded", random.random())
    random.seed(42); print("seed42", random.random())
    print("sysrandom", random.SystemRandom().random(), random.SystemRandom().getrandbits(40))
    print("secrets", secrets.token_hex(8), secrets.randbelow(10**9), secrets.token_urlsafe(6))
    print("urandom", os.urandom(8).hex(), os.getrandom(8).hex())
    print("uuid4", uuid.uuid4())
    print("uuid1", uuid.uuid1())
    print("uuid1-python", uuid.uuid1(node=0x0123456789ab).hex[:20])
    print("getnode", uuid.getnode() == uuid.getnode())
    print("urandom-alias", random._urandom is os.urandom)
"""


def test_random_functions_aliases_and_entropy_replay(program, tmp_path):
    app, recorded, other = record_twice(program, tmp_path, RANDOM_PROGRAM)
    lines = dict(line.split(" ", 1) for line in recorded.stdout.splitlines())
    again = dict(line.split(" ", 1) for line in other.stdout.splitlines())
    assert len(lines) == 14
    deterministic = {"seed42", "getnode", "urandom-alias"}
    for label, text in lines.items():
        if label in deterministic:
            assert again[label] == text
        else:  # really nondeterministic: a second recording saw other values
            assert again[label] != text, label
    assert float(lines["seed42"]) == random.Random(42).random()
    assert lines["urandom-alias"] == "True"

    replayed = app.replay()
    assert_same_run(recorded, replayed)
    assert_same_run(recorded, app.replay())


def test_generators_are_seeded_not_recorded_per_call(program):
    app = program("""
        import random
        r = random.Random()
        total = sum(random.random() + r.random() for _ in range(20000))
        print(round(total, 6), random.getrandbits(128))
    """)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    names = [n for n in events(app.recording) if "random" in n or "urandom" in n]
    assert names == ["random.entropy_seed", "random.entropy_seed"]  # hidden instance, r
    assert_same_run(recorded, app.replay())


def test_user_module_draws_at_import_time(program, tmp_path):
    source = """
        import helper
        from helper import VALUE
        print(VALUE, helper.PICK, helper.STAMP, helper.TOKEN, helper.PID, helper.pid_of())
    """
    helper = """
        import os, time
        from random import random, randint
        from time import time as now
        VALUE = random()
        PICK = randint(0, 10**12)
        STAMP = (now(), time.monotonic())
        from os import getpid as pid_of, urandom as entropy
        TOKEN = entropy(6).hex()
        PID = pid_of()
    """
    app = program(source)
    app.write("helper.py", helper)
    other = Program(tmp_path / "again", source)
    other.write("helper.py", helper)
    recorded, second = app.record(), other.record()
    assert recorded.returncode == 0, recorded.stderr
    assert second.returncode == 0, second.stderr
    for a, b in zip(recorded.stdout.split(), second.stdout.split()):
        assert a != b
    assert_same_run(recorded, app.replay())


def test_string_set_order_replays(program, tmp_path):
    source = """
        words = {f"word{i}" for i in range(60)}
        print(list(words))
        print(list({"k" + str(i): i for i in range(40)}.keys() & {"k" + str(i) for i in range(0, 40, 3)}))
        print(hash("retrace"))
    """
    app, recorded, other = record_twice(program, tmp_path, source)
    plain = [run([PYTHON, str(app.script)]) for _ in range(2)]
    assert plain[0].returncode == plain[1].returncode == 0
    assert plain[0].stdout != plain[1].stdout  # the hash seed changes per plain run
    assert other.stdout != recorded.stdout     # and per recording
    replayed = app.replay()
    assert_same_run(recorded, replayed)


def test_random_imported_before_install_is_covered(tmp_path):
    """The alias sweep and the module-level seed cover a ``random`` imported first."""
    script = textwrap.dedent("""
        import os, random, secrets, sys
        originals = [os.urandom, random.seed]  # in a list: the alias sweep leaves it alone
        from random import seed as early_seed
        from retrace.engine import Engine
        from retrace.boundaries import families
        from retrace.bootstrap.install import Installer

        from fakes import LoggingEngine as Logging

        engine = Logging()
        installer = Installer(engine, [f for f in families() if f.name == "randomness"])
        installer.install()
        assert engine.log == ["random.entropy_seed"], engine.log  # hidden instance reseeded
        assert random._urandom is os.urandom is not originals[0]
        assert random.seed.__func__ is random.Random.seed is early_seed.__func__
        random.seed(); secrets.token_bytes(4); random.SystemRandom().random()
        assert engine.log[1:] == ["random.entropy_seed", "os.urandom", "os.urandom"], engine.log
        installer.uninstall()
        assert random._urandom is os.urandom is originals[0]
        assert random.seed is originals[1] and early_seed is originals[1]
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
                          env=script_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"


def test_random_imported_after_install_is_covered(tmp_path):
    script = textwrap.dedent("""
        import os, sys
        assert "random" not in sys.modules
        from retrace.engine import Engine
        from retrace.boundaries import families
        from retrace.bootstrap.install import Installer

        from fakes import LoggingEngine as Logging

        engine = Logging()
        installer = Installer(engine, [f for f in families() if f.name == "randomness"])
        installer.install()
        import random, uuid
        assert engine.log == ["random.entropy_seed"], engine.log
        assert random._urandom is os.urandom and os.urandom.__name__ == "wrapper"
        assert random.seed.__func__ is random.Random.seed
        uuid.uuid4(); uuid.uuid1()
        print(engine.log[1:])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
                          env=script_env())
    assert done.returncode == 0, done.stderr
    import uuid

    expected = ["os.urandom", "uuid._generate_time_safe"] if uuid._generate_time_safe else None
    if expected is not None:
        assert done.stdout == f"{expected}\n"


@pytest.mark.compat("cryptography")
def test_keys_and_signatures_openssl_randomizes_replay_the_same(program):
    """cryptography's keys, PSS/ECDSA signatures and OAEP ciphertexts draw OpenSSL's own
    randomness in C (not os.urandom): replayed, they must be the recorded ones (the
    replay printed other keys, silently, before boundaries/cryptokeys.py)."""
    app = program("""
        import ssl
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        print(key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).hex())
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        print(key.sign(b"data", pss, hashes.SHA256()).hex())
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        sealed = key.public_key().encrypt(b"secret", oaep)
        print(sealed.hex(), key.decrypt(sealed, oaep))
        curve_key = ec.generate_private_key(ec.SECP256R1())
        print(curve_key.sign(b"x", ec.ECDSA(hashes.SHA256())).hex())
        print(ed25519.Ed25519PrivateKey.generate().sign(b"m").hex())
        print(x25519.X25519PrivateKey.generate().public_key().public_bytes_raw().hex(), ssl.RAND_bytes(8).hex())
    """)
    recorded = app.record()
    assert recorded.returncode == 0, recorded.stderr
    assert "b'secret'" in recorded.stdout
    assert_same_run(recorded, app.replay())
    assert_same_run(recorded, app.replay())
