"""A keyed recording and its replay import what the ciphers use before the program starts
(retrace/ciphers.py's import_cipher_modules): sealing and opening values afterwards, in
the trace's flusher thread, must import nothing more (a module imported by retrace
mid-run is one the program's own import finds done: no entropy read by ``random``)."""

import subprocess
import sys

CHECK = """
import sys
from retrace import ciphers

public = ciphers.keygen(sys.argv[1])
ciphers.import_cipher_modules()
before = set(sys.modules)
salt = b"0" * 16
passphrase, _ = ciphers.for_recording({"RETRACE_KEY": "a passphrase"}, salt)
assert passphrase.decrypt(passphrase.encrypt(b"value")) == b"value"
sealing, info = ciphers.for_recording({"RETRACE_SEAL_TO": public}, salt)
sealed = sealing.encrypt(b"value")
opening = ciphers.for_replay(dict(info, salt=salt.hex()), {"RETRACE_KEY_FILE": sys.argv[1]})
assert opening.decrypt(sealed) == b"value"
print(sorted(set(sys.modules) - before))
"""


def test_sealing_and_opening_import_nothing_past_the_start(tmp_path):
    done = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path / "retrace.key")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
