"""A tiny program whose output depends on the outside world.

Record it, delete greeting.txt (or edit it), wait a second, replay: the replay
prints the recorded time, random numbers and file content.
"""

import os
import random
import time
import uuid

here = os.path.dirname(os.path.abspath(__file__))
greeting_file = os.path.join(here, "greeting.txt")
if not os.path.exists(greeting_file):
    with open(greeting_file, "w") as handle:
        handle.write("hello from a file\n")

with open(greeting_file) as handle:
    greeting = handle.read().strip()

print(f"{greeting} at {time.ctime()} (pid {os.getpid()})")
print("dice:", [random.randint(1, 6) for _ in range(5)], "id:", uuid.uuid4())
started = time.monotonic()
time.sleep(0.5)
print(f"slept {time.monotonic() - started:.3f} s")
