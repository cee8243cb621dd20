"""TraceWriter: the recording side of trace.bin.

The hot path only appends a tuple to ``events`` (a plain list; ``list.append`` is
atomic under the GIL, so no lock is taken per event). A background flusher
thread encodes and writes whatever has accumulated at least every
``FLUSH_INTERVAL`` seconds, so a process killed with SIGKILL loses at most that
much. All I/O goes through ``posix`` directly: the writer never passes through
the boundaries it is recording.
"""

from __future__ import annotations

import posix

from retrace import originals
from retrace.descriptors import move_up
from retrace.trace import format as fmt
from retrace.trace.cbor import dumps
from retrace.trace.digest import digest_of
from retrace.trace.format import GC_ID, PREEMPT_ID, SWITCH_ID
from retrace.trace.framing import frame
from retrace.trace.values import Opaque, _short_repr, to_wire, wire_safe

_start_new_thread = originals.start_new_thread
_allocate_lock = originals.allocate_lock

FLUSH_INTERVAL = 0.05
MAX_CHUNK_ITEMS = 2048  # items per chunk; a flush writes as many chunks as it needs


def _salvage(item):
    """An item that encodes: surrogates tagged, else the event's value made Opaque."""
    try:
        dumps(item)
        return item
    except Exception:
        pass
    item = wire_safe(item)
    try:
        dumps(item)
        return item
    except Exception:
        pass
    if type(item) is list and len(item) >= 3:  # an event: keep it, lose its value
        return [item[0], item[1], to_wire(Opaque("unencodable", _short_repr(item[2]))), *item[3:]]
    return {"unencodable": _short_repr(item)}  # readers skip unknown maps


class TraceWriter:
    def __init__(self, path: str, header: dict, *, on_failure=None, thread_setup=None,
                 start_thread=_start_new_thread) -> None:
        self.path = path
        self.events: list = []
        self.names: dict[int, str] = {}
        self._named: set[int] = set()
        self._sites: dict = {}
        self._lock = _allocate_lock()
        self._wake = _allocate_lock()
        self._wake.acquire()
        self._closed = False
        self._on_failure = on_failure
        self._thread_setup = thread_setup
        self._start_thread = start_thread  # start_thread(function, args): the flusher's
        self.failed: BaseException | None = None
        self.on_tick = None  # called in the flusher thread after each flush
        self.count = 0
        self.handovers = 0  # of the items counted in ``count``
        self.size = 0  # bytes written to the file so far
        self.limit: int | None = None  # RETRACE_MAX_SIZE: past it, ``on_limit()`` (once)
        self.on_limit = None
        self.sealer = None  # secrets in str/bytes values (retrace/sealing.py), unless RETRACE_SECRETS=off
        self._sealable: dict[int, bool] = {}  # boundary id -> whether its values are scanned
        self._open(path, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_APPEND | posix.O_CLOEXEC)
        self._write(fmt.MAGIC + frame(dumps(header)))

    # -- flushing -------------------------------------------------------------
    def start_flusher(self) -> None:
        self._start_thread(self._flush_loop, ())

    def _flush_loop(self) -> None:
        if self._thread_setup is not None:
            self._thread_setup()
        while not self._closed:
            self._wake.acquire(True, FLUSH_INTERVAL)
            if self._closed:
                break
            try:
                self.flush()
                if self.on_tick is not None:
                    self.on_tick()
            except Exception as exc:  # a failure of ours: the recording stops, never the program
                with self._lock:
                    if self.failed is None:
                        self._fail(exc)
                return

    def flush(self, extra_items: list | None = None) -> None:
        """Encode and write every pending event (and ``extra_items``) as one chunk."""
        with self._lock:
            if self.failed is not None or self._fd < 0:
                return
            events = self.events
            count = len(events)
            batch = events[:count]
            del events[:count]
            if not batch and not extra_items:
                return
            try:
                items = self._encode(batch)
            except Exception as exc:  # a failure of ours: what is written stays, nothing more
                self._fail(exc)
                return
            if extra_items:
                items.extend(extra_items)
            # Bounded chunks: a write cut short (full disk, SIGKILL) costs one small chunk.
            frames = []
            for start in range(0, len(items), MAX_CHUNK_ITEMS):
                part = items[start:start + MAX_CHUNK_ITEMS]
                try:
                    payload = dumps(part)
                except Exception:  # a str cbor2 cannot encode (lone surrogates), or worse
                    payload = dumps([_salvage(item) for item in part])
                frames.append(frame(payload))
            try:
                self._write(b"".join(frames))
            except Exception as exc:  # full disk, vanished directory: stop recording
                self._fail(exc)
                return
            self.count += count
            self.handovers += sum(1 for item in batch if item[0] < 0)
        if self.limit is not None and self.size >= self.limit and self.on_limit is not None:
            reached, self.on_limit = self.on_limit, None
            reached()

    def events_so_far(self, *, locked: bool = True) -> int:
        """How many events this trace has so far, written or pending: the index the next
        one gets (hand-overs between threads are items, not events). ``locked=False`` in a
        forked child, where a lock the parent's flusher held stays held."""
        if locked:
            with self._lock:
                return self.events_so_far(locked=False)
        pending = sum(1 for item in list(self.events) if item[0] >= 0)
        return self.count - self.handovers + pending

    def _encode(self, batch: list) -> list:
        """Hot-path tuples -> trace items, naming new boundaries and call sites first.

        Consecutive events usually come from the same boundary and call site (a
        loop), so the last ones are remembered to skip the set and dict lookups.
        Hand-overs between threads are rare and take the slow branch.
        """
        items = []
        add = items.append
        sealer = self.sealer
        sealable = self._sealable
        sites = self._sites
        named = self._named
        last_bid = last_code = last_line = last_sid = None
        repeat = None  # the previous event's boundary and site (a float may repeat them)
        for bid, code, line, value, digest in batch:
            if bid is not last_bid:
                if bid < 0:  # a thread hand-over, a switch-out, imports, a collection (fmt.*_ID)
                    add(value if bid == SWITCH_ID else {"p": value} if bid == PREEMPT_ID else
                        {"g": value} if bid == GC_ID else {"i": value})
                    last_bid = repeat = None
                    continue
                if bid not in named:
                    named.add(bid)
                    add({"b": [bid, self.names[bid]]})
                last_bid = bid
            if code is not last_code or line != last_line:
                key = (code, line)
                last_sid = sites.get(key)
                if last_sid is None:
                    last_sid = sites[key] = len(sites)
                    if code is None:
                        add({"s": [last_sid, "", 0, ""]})
                    else:
                        add({"s": [last_sid, code.co_filename, line, code.co_name]})
                last_code, last_line = code, line
            kind = type(value)
            if digest is None and kind is float and repeat is not None and repeat[0] is bid and repeat[1] == last_sid:
                add(value)  # (a clock read in a loop: 9 bytes instead of 13)
                continue
            if digest is not None:  # (a call's key, frozen: sealed, then hashed here, off the program's path)
                if sealer is None:
                    digest = digest_of(digest)
                else:
                    sealed_key, positions = sealer.seal_key(digest)
                    digest = digest_of(sealed_key) if positions is None else [digest_of(sealed_key), positions]
            if sealer is not None and kind is not float and kind is not int and value is not None:
                scan = sealable.get(bid)  # (whether its values are data the program received)
                if scan is None:
                    scan = sealable[bid] = sealer.carries_data(self.names[bid])
                if scan or sealer.known:
                    value, sealed = sealer.seal(value, scan)
                    if sealed:
                        add({"x": sealed})  # (before its event: a chunk boundary never splits them the wrong way)
            add([bid, last_sid, value] if digest is None else [bid, last_sid, value, digest])
            repeat = (bid, last_sid)
        return items

    def _open(self, path: str, flags: int) -> None:
        self._fd = move_up(posix.open(path, flags, 0o600))  # (retrace/descriptors.py)
        self._inode = posix.fstat(self._fd).st_ino

    def _write(self, data: bytes) -> None:
        self._still_ours()
        view = memoryview(data)
        while view:
            written = posix.write(self._fd, view)
            self.size += written
            view = view[written:]

    def _still_ours(self) -> None:
        """A program may close every descriptor it does not know (a daemon, a pty child
        before its exec: ``os.closerange(3, ...)``), or reuse the number: the trace file is
        opened again, at its end, rather than the recording lost or written elsewhere."""
        try:
            if posix.fstat(self._fd).st_ino == self._inode:
                return
        except OSError:
            pass
        self._open(self.path, posix.O_WRONLY | posix.O_APPEND | posix.O_CLOEXEC)

    def _fail(self, exc: BaseException) -> None:
        self.failed = exc
        try:
            posix.close(self._fd)
        except OSError:
            pass
        self._fd = -1
        if self._on_failure is not None:
            self._on_failure(exc)

    # -- ending -----------------------------------------------------------------
    def close(self, end: dict | None = None) -> None:
        """Write the remaining events and, for a clean end, the end marker."""
        self._closed = True
        try:
            self._wake.release()
        except RuntimeError:
            pass
        self.flush([{"end": end}] if end is not None else None)
        with self._lock:
            if self._fd >= 0:
                posix.close(self._fd)
                self._fd = -1

    def restart_in_child(self, path: str, header: dict) -> None:
        """In a forked child: write to the child's own trace from now on. The events list
        stays the same object (boundary wrappers append to it); what the parent had not
        flushed belongs to the parent. The locks may have been held by the parent's
        flusher at the fork: new ones. Names and sites are declared again in the new file."""
        self.events.clear()
        self._lock = _allocate_lock()
        self._wake = _allocate_lock()
        self._wake.acquire()
        self._named = set()
        self._sites = {}
        self.count = 0
        self.handovers = 0
        self.size = 0
        self.failed = None
        self._closed = False
        self.path = path
        self._open(path, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_APPEND | posix.O_CLOEXEC)
        self._write(fmt.MAGIC + frame(dumps(header)))
        self.start_flusher()

    def abandon_after_fork(self) -> None:
        """In a forked child: forget the parent's file and pending events."""
        self._closed = True
        self._fd = -1
        self.events.clear()
