"""The order in which the processes of a tree wrote to the stdout and stderr they share.

Processes of one tree (a pool's workers, a prefork server's, a formatter's) print to
the same terminal or pipe, and the lines come out in whatever order the processes
ran. Each process replays alone from its own recording, so without help the replayed
tree prints the same lines in another order.

Recording: once a process is part of a tree (a child, or a parent that has started
one), each of its writes to descriptor 1 or 2 is made under a lock shared by the
tree (a POSIX record lock on ``DIR/output-order``) and logged there, in the order the
writes happened, as ``<process> <fd> <bytes written so far>``. A process alone writes
directly and logs nothing.

Replay of the whole tree: the log becomes numbered *turns* (a process's consecutive
writes to one descriptor are one turn). A process writing byte ``n`` of its stream
waits until every earlier turn is done, writes up to the end of its turn, then hands
on (a counter in a small file of the replay's own, read and written with
``pread``/``pwrite``). Offsets, not write calls, make the turns: a replay that
buffers differently writes the same bytes in the same places. A process whose replay
ends hands on its remaining turns; a turn that never comes (a process that never
started) is waited for ``PATIENCE`` seconds, then the wait is abandoned with one line
on stderr. Replaying one process alone (``--process``), or under the debugger, writes
directly.

Uses ``posix`` and ``_io`` (no fcntl, no mmap): the program's modules are the same in both modes.
"""

from __future__ import annotations

import _io
import os
import posix
from functools import partial

from retrace import originals
from retrace.descriptors import move_up
from retrace.layout import ROOT_PROCESS

_allocate_lock = originals.allocate_lock
_monotonic = originals.monotonic

PATIENCE = 20.0  # seconds a turn may keep a process waiting without the tree moving on


def _nowhere(data) -> int:
    """A write the recording made into a file (the program's stdout was redirected)."""
    return memoryview(data).nbytes


def _write_all(fd, view) -> int:
    done = 0
    while done < len(view):
        done += posix.write(fd, view[done:])
    return done


class DirectOutput:
    """A process alone, or one replaying alone: writes go straight to the descriptor.

    ``serve`` gives a raw stream of sys.stdout or sys.stderr its ``write``: while the
    process is alone, ``posix.write`` of the descriptor itself (a C function: no Python
    frame, so nothing added and no signal handler lands inside it); once it is part of a
    tree (``enter_tree``: the root starts its first child; a child is from its start),
    the ordered write. Offsets count from there, in both modes alike.

    ``streams`` says which of the process's stdout (1) and stderr (2) each descriptor
    writes to, or None: a copy (``os.dup``, ``fcntl``'s F_DUPFD), a path that names one
    (``/dev/stdout``, ``/dev/fd/1``), and what a file put at 1 or 2 (``os.dup2``:
    pytest's capture, a redirection) takes away. Both modes follow the program's calls
    (boundaries/files.py), so a write counts for the same stream in both. On replay,
    where none of those calls is made, it is also where a write shows: what the
    recording wrote into a file at 1 never comes out on the replay's terminal."""

    def __init__(self) -> None:
        self.in_tree = False
        self._raws: list = []
        self.streams: dict = {1: 1, 2: 2}

    def serve(self, raw) -> None:
        self._raws.append(raw)
        self._point(raw)

    def enter_tree(self) -> None:
        if not self.in_tree:
            self.in_tree = True
            for raw in self._raws:
                self._point(raw)

    def _point(self, raw) -> None:
        fd = raw.fileno()
        if self.in_tree:
            raw.write = partial(self.write, fd)
        else:
            target = self._direct(fd)
            raw.write = partial(posix.write, target) if target is not None else _nowhere

    def _direct(self, fd: int):
        """Where a write to the program's ``fd`` goes for real (replay: its stream's, or nowhere)."""
        return self.streams.get(fd)

    # -- what the program's dup/dup2/close/open did (boundaries/files.py) -------------------
    def copied(self, fd: int, new) -> None:
        """``new`` is a copy of ``fd`` now (``dup``, ``dup2``, F_DUPFD)."""
        if type(new) is int and new != fd:
            self._set(new, self.streams.get(fd))

    def opened(self, fd, path) -> None:
        """``fd`` was opened at ``path``: a copy of the descriptor the path names, or new."""
        if type(fd) is int:
            named = named_descriptor(path)
            self._set(fd, None if named is None else self.streams.get(named))

    def closed(self, fd) -> None:
        if fd == 1 or fd == 2:
            self._set(fd, None)
        else:
            self.streams.pop(fd, None)

    def closed_range(self, low, high) -> None:
        if type(low) is int and type(high) is int:
            for fd in [fd for fd in self.streams if low <= fd < high]:
                self.closed(fd)

    def _set(self, fd: int, stream) -> None:
        if stream is None and fd != 1 and fd != 2:
            self.streams.pop(fd, None)
        else:
            self.streams[fd] = stream
        if fd == 1 or fd == 2:
            for raw in self._raws:
                self._point(raw)

    def target(self, fd: int):
        """The stream (1 or 2) that a write to the program's ``fd`` shows on, or None."""
        return self.streams.get(fd)

    def write(self, fd: int, data) -> int:
        target = self.streams.get(fd)
        return posix.write(target, data) if target is not None else _nowhere(data)

    def become(self, process_id: str) -> None:
        """Replay: this process replays ``process_id`` now (a replayed fork's child)."""

    def end(self) -> None:
        """This process writes no more."""


_NAMED = {"/dev/stdout": 1, "/dev/stderr": 2}
_FD_FOLDERS = ("/dev/fd/", "/proc/self/fd/")


def named_descriptor(path):
    """The descriptor a path stands for (``/dev/stdout``, ``/dev/fd/N``,
    ``/proc/self/fd/N``), or None."""
    if type(path) is bytes:
        path = path.decode("utf-8", "surrogateescape")
    elif type(path) is not str:
        try:
            path = posix.fspath(path)
        except TypeError:
            return None
        if type(path) is bytes:
            path = path.decode("utf-8", "surrogateescape")
    named = _NAMED.get(path)
    if named is None and path.startswith(_FD_FOLDERS):
        number = path.rpartition("/")[2]
        if number.isdigit() and number.isascii():
            named = int(number)
    return named


class WriteLog(DirectOutput):
    """Recording: the writes of a process that is part of a tree, logged in tree order."""

    def __init__(self, path: str, tree) -> None:
        super().__init__()
        self.path = path
        self.tree = tree  # (its process_id names this process in the log)
        self.in_tree = tree.process_id != ROOT_PROCESS
        self.written = {1: 0, 2: 0}
        self._fd = -1
        self._lock = _allocate_lock()

    def _direct(self, fd: int):
        return fd  # (recording: the program's calls redirected it for real)

    def write(self, fd: int, data) -> int:
        stream = self.streams.get(fd)
        if not self.in_tree or stream is None:
            return posix.write(fd, data)
        with self._lock:
            log = self._log()
            if log < 0:
                return posix.write(fd, data)
            _lock_file(log)
            try:
                count = posix.write(fd, data)
                if count:
                    self.written[stream] += count
                    # (pwrite on an O_APPEND file appends, on Linux, and leaves the offset at 0,
                    # where the lock counts from)
                    posix.pwrite(log, f"{self.tree.process_id} {stream} {self.written[stream]}\n".encode(), 0)
            finally:
                _unlock_file(log)
            return count

    def _log(self) -> int:
        if self._fd == -1:
            try:
                fd = posix.open(self.path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o600)
            except OSError:
                self._fd = -2  # (not again: the recording's folder is gone or unwritable)
                return -2
            self._fd = move_up(fd)
        return self._fd

    def forked(self, recorded: bool) -> None:
        """In a forked child: one that records is part of the tree, its streams counted
        from nothing (its record locks are its own: they are not inherited; the log stays
        open); one forked by C code, unrecorded, writes directly."""
        self.written = {1: 0, 2: 0}
        self._lock = _allocate_lock()
        if recorded:
            self.enter_tree()
        else:
            self.in_tree = False
            for raw in self._raws:
                self._point(raw)


def _lock_file(fd: int) -> None:
    """The whole log, locked (lockf counts from the descriptor's offset, which stays at 0:
    the log is written with pwrite)."""
    while True:
        try:
            posix.lockf(fd, posix.F_LOCK, 0)
            return
        except InterruptedError:
            continue
        except OSError:
            return  # (a file system without locks: order as it comes)


def _unlock_file(fd: int) -> None:
    try:
        posix.lockf(fd, posix.F_ULOCK, 0)
    except OSError:
        pass


def read_turns(path: str, process_id: str) -> dict:
    """From the log: this process's turns, ``{fd: [(end offset, turn number)]}``. A log
    cut short (the recording was killed) keeps its whole lines."""
    try:
        with _io.FileIO(path, "r") as handle:
            text = handle.readall().decode("ascii", "replace")
    except OSError:
        return {}
    mine: dict = {1: [], 2: []}
    turns, last = 0, None
    for line in text.split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        who, fd, end = parts[0], int(parts[1]), int(parts[2])
        if fd not in mine:
            continue
        if (who, fd) == last:  # one turn: the same process writing on
            if who == process_id:
                mine[fd][-1] = (end, mine[fd][-1][1])
            continue
        last = (who, fd)
        if who == process_id:
            mine[fd].append((end, turns))
        turns += 1
    return mine


def turn_counter_path() -> str:
    """A new file name for a tree's turn counter, in the replaying machine's temp dir
    (asked as the replay starts, before its boundaries are installed)."""
    name = f"retrace-turns-{posix.getpid()}-{posix.urandom(4).hex()}"
    folder = os.environ.get("TMPDIR")
    return f"{folder.rstrip('/') if folder and os.path.isdir(folder) else '/tmp'}/{name}"


class TurnCounter:
    """The number of turns done, in a file the replayed processes of the tree share.

    Byte *t* of the file, as a POSIX record lock, is held by the process whose turn *t*
    is, from when it starts until that turn is done (``hold``, ``done_with``): a process
    waiting for turn *t* blocks on that byte, and wakes the moment the turn is done or
    its owner is gone (record locks die with their process). An owner not started yet
    holds nothing: the waiter then polls."""

    def __init__(self, path: str, create: bool) -> None:
        self.path = path
        self.fd = self._open(create)
        if create:
            posix.pwrite(self.fd, bytes(8), 0)

    def _open(self, create: bool = False) -> int:
        flags = posix.O_RDWR | posix.O_CLOEXEC | ((posix.O_CREAT | posix.O_EXCL) if create else 0)
        return move_up(posix.open(self.path, flags, 0o600))

    def reopen(self) -> None:
        """In a forked child: a descriptor of its own (the offset that locks count from is
        shared with the parent's), of the same file even if the root removed it already."""
        fresh = move_up(posix.open(f"/proc/self/fd/{self.fd}", posix.O_RDWR | posix.O_CLOEXEC))
        posix.close(self.fd)
        self.fd = fresh

    def done(self) -> int:
        return int.from_bytes(posix.pread(self.fd, 8, 0), "little")

    def hold(self, turns) -> None:
        """Lock the bytes of this process's turns (from the first not done yet)."""
        for turn in turns:
            self._lock(turn, posix.F_TLOCK)

    def done_with(self, turn: int) -> None:
        posix.pwrite(self.fd, (turn + 1).to_bytes(8, "little"), 0)
        self._lock(turn, posix.F_ULOCK)

    def wait_on(self, turn: int) -> None:
        """Block while the owner of ``turn`` holds it (not at all if nobody does)."""
        if self._lock(turn, posix.F_LOCK):
            self._lock(turn, posix.F_ULOCK)

    def _lock(self, turn: int, how: int) -> bool:
        try:
            posix.lseek(self.fd, 8 + turn, 0)
            posix.lockf(self.fd, how, 1)
            return True
        except OSError:  # (EINTR, EDEADLK, a file system without locks: the waiter polls)
            return False

    def remove(self) -> None:
        try:
            posix.unlink(self.path)
        except OSError:
            pass


class WriteTurns(DirectOutput):
    """Replay of the whole tree: this process's writes to stdout and stderr, each in its turn."""

    def __init__(self, log_path: str, counter: TurnCounter, process_id: str, say) -> None:
        super().__init__()
        self.log_path = log_path
        self.counter = counter
        self.say = say  # one line on stderr
        self.given_up = False
        self._take_turns(process_id)

    def become(self, process_id: str) -> None:
        """In a replayed fork's child: it replays ``process_id``, with a descriptor of the
        counter of its own."""
        try:
            self.counter.reopen()
        except OSError as error:
            self.process_id, self.turns, self.given_up = process_id, {}, True
            self.say(f"process {process_id} writes its output out of the recorded order: "
                     f"cannot reopen the turn counter ({error.strerror or error})")
            return
        self._take_turns(process_id)

    def _take_turns(self, process_id: str) -> None:
        """This process's turns, from the first not done yet, held (TurnCounter)."""
        self.process_id = process_id
        self.turns = read_turns(self.log_path, process_id)
        self.next = {1: 0, 2: 0}
        self.written = {1: 0, 2: 0}
        self._lock = _allocate_lock()
        done = self.counter.done()
        self.counter.hold(sorted(turn for turns in self.turns.values() for _, turn in turns if turn >= done))
        if process_id != ROOT_PROCESS:
            self.enter_tree()

    def write(self, fd: int, data) -> int:
        stream = self.streams.get(fd)
        turns = self.turns.get(stream)
        if not turns or self.given_up or not self.in_tree:
            return super().write(fd, data)
        with self._lock:
            view = memoryview(data).cast("B")
            done = 0
            while done < len(view):
                index = self.next[stream]
                if index >= len(turns) or self.given_up:  # past the recorded output
                    done += _write_all(stream, view[done:])
                    break
                end, turn = turns[index]
                self._wait_for(turn)
                piece = view[done:done + max(0, end - self.written[stream])]
                if piece:
                    _write_all(stream, piece)
                done += len(piece)
                self.written[stream] += len(piece)
                if self.written[stream] >= end:
                    self.next[stream] = index + 1
                    self._hand_on(turn)
            return done

    def end(self) -> None:
        """This process writes no more: its turns left are handed on, in order. (Called
        where its replay ends, from any thread: a write stuck in its turn does not keep
        it waiting for ever.)"""
        if not self._lock.acquire(timeout=PATIENCE):
            return
        try:
            left = sorted(turn for fd, turns in self.turns.items() for _, turn in turns[self.next[fd]:])
            self.turns = {}
            for turn in left:
                if self.given_up:
                    return
                self._wait_for(turn)
                self._hand_on(turn)
        finally:
            self._lock.release()

    def _wait_for(self, turn: int) -> None:
        counter = self.counter
        done = counter.done()
        if done >= turn:
            return
        pause, still_since, seen = 0.0002, _monotonic(), done
        sleeper = _allocate_lock()
        sleeper.acquire()
        while True:
            counter.wait_on(done)  # (the turn after the last one done: its owner's)
            done = counter.done()
            if done >= turn:
                return
            if done != seen:
                seen, still_since, pause = done, _monotonic(), 0.0002
                continue
            sleeper.acquire(timeout=pause)  # (its owner has not started: a real sleep, not time.sleep's)
            pause = min(pause * 2, 0.005)
            if _monotonic() - still_since > PATIENCE:
                self.given_up = True
                self.say(f"process {self.process_id} waited {PATIENCE:.0f} s for its turn to write "
                         f"(turn {turn}, the tree is at {done}); its output is no longer in the recorded order")
                return

    def _hand_on(self, turn: int) -> None:
        self.counter.done_with(turn)
