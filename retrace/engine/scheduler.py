"""Threads take turns: one recorded thread runs at a time, and every hand-over is recorded.

Races on plain Python data (``counter += 1`` from four threads) can only be replayed
if the points where one thread stops and another goes on are the same in both runs.
So retrace lets one recorded thread at a time *hold the baton* and run; the others
wait. A thread hands the baton over only at points that replay can find again:

- around each boundary call (the real call runs without the baton, so a sleep or a
  ``recv`` lets the other threads go on);
- when it must wait for a lock, a condition, a queue, a join (``lock_wait``);
- when it ends;
- when it has held the baton for a whole time slice while others wait: it is then
  switched out at its next line, a spot that replay finds by position and the values
  of plain locals (engine/preempt.py) -- or, when it is blocked inside a C call that is
  no boundary, right there, from the preempter's thread (``preempt_in_c``).

Recording appends a hand-over item (``N``: thread N runs from here) to the trace each
time the baton goes to another thread, in the same critical section that moves it,
so the trace is the interleaving. Replay never decides: at the same points, a thread
reads the next item; a hand-over makes it wake thread N and wait for its own turn.
Logical thread ids are given in creation order (0 is the main thread); creation
happens in the running thread, so the ids are the same in both runs.

Threads that retrace does not schedule (its own, a debugger's, those started by
them) run freely and are never recorded (``ThreadState.busy``).
"""

from __future__ import annotations

import sys
from collections import deque
from types import MethodType

from retrace import originals
from retrace.engine.state import state
from retrace.trace.format import GC_ID, PREEMPT_ID, SWITCH_ID

_allocate_lock = originals.allocate_lock
_RLock = originals.RLock
_start_new_thread = originals.start_new_thread
_get_ident = originals.get_ident
_monotonic = originals.monotonic

STALL_SECONDS = 10.0  # replay: no progress for this long is a divergence (RETRACE_STALL_TIMEOUT)
# ...unless a thread is running meanwhile: it may be computing (traced, when it looks for
# a switch-out spot) for as long as the recording took, a few times over.
RUNNING_FACTOR = 20.0


class Slot:
    """One scheduled thread: its logical id and the lock it parks on while others run."""

    __slots__ = ("tid", "ident", "park", "finished", "waiting_on", "sentinel", "doing", "preempt",
                 "first_turn_due", "starting", "in_c", "unregistered")

    def __init__(self, tid: int) -> None:
        self.tid = tid
        self.ident = None
        self.park = _allocate_lock()
        self.park.acquire()          # held: park() blocks until someone releases it (wake)
        self.finished = False
        self.waiting_on = None       # recording: the lock whose release makes it runnable
        self.sentinel = None         # threading's "thread is over" lock for this thread
        self.doing = "starting"      # what it is at, for reports
        self.preempt = None          # replay: the switch-out spot it is looking for
        self.first_turn_due = False  # a threading.Thread: its first turn comes just before run()
        self.starting = 0            # inside threading.Thread.start(): waits there are real
        self.in_c = None             # recording: switched out inside a C call (its frame): must take
                                     # the baton again before running any Python (engine/preempt.py)
        self.unregistered = _allocate_lock()  # held until threading has registered it (wait_registered)
        self.unregistered.acquire()

    def name(self) -> str:
        threading = sys.modules.get("threading")
        thread = None if threading is None else threading._active.get(self.ident)
        name = getattr(thread, "name", None) or ("MainThread" if self.tid == 0 else "?")
        return f"thread {self.tid} ({name})"


class Scheduler:
    """What both modes share: slots, thread start and end."""

    def __init__(self) -> None:
        # Reentrant only so that a signal handler can tell it interrupted the main
        # thread inside a critical section (hold_for_signal); never taken twice.
        self.mutex = _RLock()
        main = Slot(0)
        main.ident = _get_ident()
        main.doing = "running"
        self.slots: list[Slot] = [main]
        self.holder: Slot | None = main
        self.active = False  # False until the first thread starts: then every boundary takes turns
        self.idle = True     # (not active), read by the boundary wrappers' hot path
        state.slot = main

    def reset_for_child(self) -> None:
        """A forked child: its only thread (the one that forked) is thread 0 of its own."""
        slot = state.slot if state.slot is not None else Slot(0)
        slot.tid = 0
        slot.ident = _get_ident()
        slot.doing = "running"
        self.mutex = _RLock()
        self.slots = [slot]
        self.holder = slot
        self.active = False
        self.idle = True
        state.slot = slot

    def start_new_thread(self, real_start, function, args, kwargs):
        """``_thread.start_new_thread`` by a scheduled thread: the new thread gets the next id."""
        if state.slot is None or state.busy:
            return real_start(_unscheduled, (function, args, kwargs))
        slot = Slot(len(self.slots))
        self.slots.append(slot)
        self.active = True
        self.idle = False
        self.threads_started()
        entry = self._bootstrap
        if _is_thread_bootstrap(function):
            # Bound to the thread: a debugger's thread-start hook (pydevd's) takes the
            # thread from the started function's __self__, as without retrace.
            entry = MethodType(self._bootstrap_of, function.__self__)
        return real_start(entry, (slot, function, args, kwargs))

    def threads_started(self) -> None:
        """A second thread exists (recording: the preempter starts watching)."""

    def _bootstrap_of(self, thread, slot: Slot, function, args, kwargs) -> None:
        self._bootstrap(slot, function, args, kwargs)

    def _bootstrap(self, slot: Slot, function, args, kwargs) -> None:
        state.slot = slot
        slot.ident = _get_ident()
        if _is_thread_bootstrap(function):
            # threading's own start-up (ident, "over" lock, "started" event, registry)
            # runs first, while its starter waits for it with the baton: thread start is
            # no hand-over. The thread's first turn comes as it registers (threads.py).
            slot.first_turn_due = True
        else:
            slot.unregistered.release()  # (no registry to wait for)
            self.first_turn(slot)
        try:
            function(*args, **kwargs)
        except SystemExit:
            pass
        except BaseException as exc:  # as _thread reports it, but while holding the baton
            _report_thread_exception(function, exc)
        finally:
            if slot.unregistered.locked():  # (it ended before threading registered it)
                slot.unregistered.release()
            self.thread_ends(slot)

    def current(self) -> Slot | None:
        """The calling thread's slot, when it is the one holding the baton."""
        slot = state.slot
        return slot if slot is not None and slot is self.holder else None

    def waits_in_turns(self) -> bool:
        """Whether the calling thread's lock waits go through the scheduler (else: real)."""
        slot = state.slot
        return not self.idle and slot is not None and slot is self.holder and not slot.starting

    def registered(self) -> None:
        """threading registered a new thread (threads.py): its first turn, before run()."""
        slot = state.slot
        if slot is not None and slot.first_turn_due:
            slot.first_turn_due = False
            slot.unregistered.release()
            self.first_turn(slot)

    def wait_registered(self, slot: Slot) -> None:
        """The starter of a threading.Thread, holding the baton, waits until the new thread
        has registered itself (under ``threading._active_limbo_lock``) and waits for its
        first turn. ``Thread.start`` returns once the thread has *started*, a moment
        before that: the new thread, turnless, would still take the registry's lock while
        the baton moves on, and a thread ending meanwhile (``_delete`` takes the same
        lock) would wait for it in one run and not in the other."""
        slot.unregistered.acquire()
        slot.unregistered.release()


def _is_thread_bootstrap(function) -> bool:
    threading = sys.modules.get("threading")
    owner = getattr(function, "__self__", None)
    return threading is not None and isinstance(owner, threading.Thread) and function.__name__ == "_bootstrap"


def _unscheduled(function, args, kwargs) -> None:
    """A thread started by retrace's own machinery or an unscheduled thread: never recorded."""
    state.busy = True
    function(*args, **kwargs)


def _report_thread_exception(function, exc: BaseException) -> None:
    try:
        import traceback

        sys.stderr.write(f"Exception ignored in thread started by: {function!r}\n")
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    except Exception:
        pass


_OUTSIDE = "outside"  # (hold_for_signal: where the handler interrupted the thread)
_PARKED = "parked"


class RecordScheduler(Scheduler):
    """Recording: a fair baton; each change of holder appends a hand-over item."""

    def __init__(self, append) -> None:
        super().__init__()
        self._append = append          # the trace writer's events.append
        self.runnable: deque[Slot] = deque()
        self.last = 0                  # the thread the trace's next items belong to
        self.turns = 0                 # hand-overs so far (the preempter watches it move)
        self.turn_began = _monotonic()  # when the holder got the baton
        self.preempter = None          # engine/preempt.py, once a second thread exists
        self.off = False               # recording has stopped: threads run freely again

    def reset_for_child(self) -> None:
        super().reset_for_child()
        self.runnable.clear()
        self.last = 0
        self.turns = 0
        self.turn_began = _monotonic()
        self.preempter = None  # (its thread did not survive the fork)
        self.off = False

    def after_fork_in_child(self) -> None:
        """A forked child has one thread (the one that forked): no turns any more. The
        mutex may have been held by a thread that the child does not have: a new one."""
        self.mutex = _RLock()
        self.off = True
        self.idle = True
        self.holder = None
        self.runnable.clear()

    def stop(self) -> None:
        """Recording stopped (the program's end, a full disk): no more turns; every
        waiting thread goes on at once, as without retrace."""
        with self.mutex:
            self.off = True
            self.idle = True
            self.holder = None
            waiting = list(self.runnable) + [slot for slot in self.slots if slot.waiting_on is not None]
            self.runnable.clear()
            for slot in waiting:
                if slot.waiting_on is not None:
                    slot.waiting_on._waiters.remove(slot)
                    slot.waiting_on = None
                slot.park.release()

    # -- with the mutex held --------------------------------------------------------------
    def _hold(self, slot: Slot) -> None:
        self.holder = slot
        self.turns += 1
        self.turn_began = _monotonic()
        if slot.tid != self.last:
            self.last = slot.tid
            self._append((SWITCH_ID, None, 0, slot.tid, None))

    def _pass_on(self) -> None:
        """The holder lets go: the first runnable thread gets the baton, if any."""
        if self.runnable:
            nxt = self.runnable.popleft()
            self._hold(nxt)
            nxt.park.release()
        else:
            self.holder = None

    # -- turns ------------------------------------------------------------------------------
    def give(self, slot: Slot) -> None:
        with self.mutex:
            if self.holder is slot:
                self._pass_on()

    def take(self, slot: Slot) -> None:
        """Wait for the baton (in arrival order)."""
        self.mutex.acquire()
        if self.off:
            self.mutex.release()
            return
        if self.holder is None:
            self._hold(slot)
            self.mutex.release()
            return
        self.runnable.append(slot)
        self.mutex.release()
        slot.park.acquire()

    def outside(self, call, args, kwargs):
        """A boundary call runs without the baton: others may run meanwhile."""
        slot = self.current()
        if slot is None:
            return call(*args, **kwargs)
        self.give(slot)
        try:
            return call(*args, **kwargs)
        finally:
            self.take(slot)

    def first_turn(self, slot: Slot) -> None:
        slot.doing = "running"
        self.take(slot)

    def threads_started(self) -> None:
        if self.preempter is None:
            from retrace.engine.preempt import Preempter

            self.preempter = Preempter.start(self)

    def thread_ends(self, slot: Slot) -> None:
        with self.mutex:
            slot.finished = True
            slot.doing = "finished"
            sentinel = slot.sentinel
            if sentinel is not None and sentinel._waiters:
                self._notify_locked(sentinel)
            if self.holder is slot:
                self._pass_on()

    # -- waiting for a lock -------------------------------------------------------------------
    def wait_for_release(self, lock, timeout: float) -> bool:
        """Park until ``lock`` is released by another thread (True) or ``timeout`` passes (False)."""
        slot = self.current()
        if slot is None or self.off:  # not scheduled: wait for real
            if lock._real.acquire(True, timeout):
                lock._real.release()
                return True
            return False
        deadline = None if timeout < 0 else _monotonic() + timeout
        with self.mutex:
            if self.off:
                return True  # (the caller tries the lock again)
            if lock._waiters is None:
                lock._waiters = []
            lock._waiters.append(slot)
            slot.waiting_on = lock
            self._pass_on()
        if deadline is None:
            slot.park.acquire()
            return True
        if slot.park.acquire(True, max(0.0, deadline - _monotonic())):
            return True
        with self.mutex:
            if self.off:
                return False
            if slot.waiting_on is not lock:  # released just as the time ran out: it was woken
                woken = True
            else:
                woken = False
                lock._waiters.remove(slot)
                slot.waiting_on = None
                if self.holder is None:
                    self._hold(slot)
                    return False
                self.runnable.append(slot)
        slot.park.acquire()
        return woken

    def notify(self, lock) -> None:
        """``lock`` was released: the threads waiting for it become runnable."""
        if self.off:
            lock._waiters.clear()
            return
        with self.mutex:
            self._notify_locked(lock)
            if self.holder is None and self.runnable:
                self._pass_on()

    def _notify_locked(self, lock) -> None:
        for slot in lock._waiters:
            slot.waiting_on = None
            self.runnable.append(slot)
        lock._waiters.clear()

    # -- signal handlers (boundaries/signals.py) ----------------------------------------------
    def hold_for_signal(self, slot):
        """A signal handler is about to run in ``slot``'s thread (the main thread), which
        may be waiting for the baton or running a boundary call without it: it takes the
        baton first (ahead of the queue), so the handler's run is ordered with the other
        threads. Returns what ``release_after_signal`` needs to put things back."""
        if slot is None or self.off or self.holder is slot or self.mutex._is_owned():
            return None  # (interrupted inside the scheduler itself: runs unordered)
        with self.mutex:
            if slot.waiting_on is not None:  # parked in wait_for_release
                slot.waiting_on._waiters.remove(slot)
                slot.waiting_on = None
                resume = _PARKED
            elif slot in self.runnable:      # parked in take
                self.runnable.remove(slot)
                resume = _PARKED
            else:                            # inside a boundary call (outside)
                resume = _OUTSIDE
            if self.holder is None:
                self._hold(slot)
                return resume
            self.runnable.appendleft(slot)
        slot.park.acquire()
        return resume

    def release_after_signal(self, slot, resume, raised: bool) -> None:
        if resume is _OUTSIDE:
            self.give(slot)  # back to the boundary call, which runs without the baton
        elif resume is _PARKED and not raised:
            slot.park.release()  # the interrupted wait returns at once: the thread holds the baton

    # -- switch-outs (engine/preempt.py) -------------------------------------------------------
    def preempt(self, slot: Slot, spot) -> None:
        """``slot`` held the baton for a whole time slice while others waited: switch it out
        here (``spot`` says where, for replay)."""
        with self.mutex:
            if self.holder is not slot or not self.runnable or self.off:
                return
            self._append((PREEMPT_ID, None, 0, spot, None))
            self._pass_on()
        self.take(slot)

    def preempt_in_c(self, slot: Slot, frame, spot_of) -> bool:
        """``slot`` holds the baton but is blocked inside a C call that is no boundary (a
        libzmq or gRPC wait, a C queue): it cannot switch itself out, and the others would
        wait for it forever. From the preempter's thread: switch it out where it is, as if
        the call were a boundary running without the baton; it takes the baton again
        before it runs any Python (``return_from_c``). True if done."""
        with self.mutex:
            if self.holder is not slot or not self.runnable or self.off or slot.in_c is not None:
                return False
            self._append((PREEMPT_ID, None, 0, spot_of(frame), None))
            slot.in_c = frame
            self._pass_on()
            return True

    def return_from_c(self, slot: Slot) -> None:
        """In ``slot``'s thread, at its first Python event after the C call: the baton first."""
        slot.in_c = None
        self.take(slot)


class ReplayScheduler(Scheduler):
    """Replay: the trace's hand-over items say who runs; threads wait for their turn."""

    def __init__(self, engine) -> None:
        super().__init__()
        self.engine = engine
        self.stall_seconds = STALL_SECONDS
        self.recorded_seconds = None  # how long the recorded process ran, if known
        self.progress = 0           # hand-overs done: with the trace's index, what "progress" is
        self.watcher = None         # engine/preempt.py's spot watcher, once needed
        engine.source.preempt_ahead = self._preempt_ahead

    def outside(self, call, args, kwargs):
        """A wait that is no boundary but handed the baton over when recorded (a lock shared
        with other processes): follow the recorded hand-overs here, then wait for real.
        (Boundary wrappers never call this: their hand-overs come through ``_take``.)"""
        slot = self.current()
        if slot is not None:
            source = self.engine.source
            following = self.collect_noted()
            while following is not None and following[0] == SWITCH_ID:
                source.next_event()
                source.index -= 1
                self.switch_to(following[2])
                following = self.collect_noted()
        return call(*args, **kwargs)

    def collect_noted(self):
        """Run the collections the trace has next (``{"g": ...}`` items that no boundary
        call of this thread's takes: CPython's own collection, which ran at an allocation
        while the thread ran Python, before its switch-out, its end or a hand-over);
        returns the item after them."""
        source = self.engine.source
        following = source.peek()
        while following is not None and following[0] == GC_ID:
            source.next_event()
            source.index -= 1  # (not a numbered event)
            self.engine.garbage.collect_recorded(following[2])
            following = source.peek()
        return following

    def reset_for_child(self) -> None:
        super().reset_for_child()
        self.progress = 0
        self.watcher = None
        self.engine.source.preempt_ahead = self._preempt_ahead

    def switch_to(self, tid, park: bool = True) -> None:
        """The holder met a hand-over item: thread ``tid`` runs now; the holder waits its turn."""
        me = state.slot
        if type(tid) is not int or not 0 <= tid < len(self.slots) or self.slots[tid].finished:
            self.engine.thread_diverged(
                f"the recording hands over to thread {tid} here, which "
                + ("has already ended" if type(tid) is int and 0 <= tid < len(self.slots) else "the replay has not started"))
        target = self.slots[tid]
        with self.mutex:
            self.holder = target
            self.progress += 1
            target.park.release()
        if park and me is not None:
            me.doing = "waiting for its turn"
            self._park(me)
            me.doing = "running"

    def _park(self, slot: Slot) -> None:
        """Wait for the turn; a replay that stops moving is reported, never left hanging."""
        seen = (self.engine.source.index, self.progress)
        since = _monotonic()
        while not slot.park.acquire(True, 0.25):
            now = (self.engine.source.index, self.progress)
            if now != seen:
                seen, since = now, _monotonic()
            elif _monotonic() - since > self._patience():
                self.engine.thread_diverged(self.stall_report(), stalled=True)
        self._turn_begins(slot)

    def _patience(self) -> float:
        holder = self.holder
        if holder is None or holder.doing != "running" or holder.finished:
            return self.stall_seconds  # every thread waits: nothing can move any more
        recorded = self.recorded_seconds if self.recorded_seconds is not None else 6 * self.stall_seconds
        return self.stall_seconds + RUNNING_FACTOR * recorded

    def _turn_begins(self, slot: Slot) -> None:
        following = self.engine.source.switch_out_ahead(looking_ahead=True)  # (past collections)
        if following is not None:
            self._preempt_ahead(following)

    def first_turn(self, slot: Slot) -> None:
        slot.doing = "waiting for its first turn"
        self._park(slot)
        slot.doing = "running"

    def thread_ends(self, slot: Slot) -> None:
        if self.watcher is not None:
            self.watcher.missed(slot, "its end")
        following = self.collect_noted()  # (before its end's hand-over, as they ran)
        slot.finished = True
        slot.doing = "finished"
        if following is not None and following[0] == PREEMPT_ID:
            self.missed_switch_out(following, "its end")
        if following is not None and following[0] == SWITCH_ID:
            self.engine.source.next_event()
            self.engine.source.index -= 1
            self.switch_to(following[2], park=False)

    def wait_for_release(self, lock, timeout: float) -> bool:  # (replay answers from the trace)
        raise AssertionError("replay waits through the threading.wait leaf")

    def notify(self, lock) -> None:
        pass

    def threads_started(self) -> None:
        # Imported where the recorder imports it (its Preempter): the program's sys.modules
        # shows it from the same point on (bootstrap/replay.py's _modules_as_recorded).
        from retrace.engine import preempt  # noqa: F401

    def hold_for_signal(self, slot):  # (replay delivers handlers from the trace)
        return None

    def release_after_signal(self, slot, resume, raised: bool) -> None:
        pass

    def missed_switch_out(self, item, what: str) -> None:
        from retrace.engine import preempt

        if self.watcher is not None:
            self.watcher.missed(state.slot, what)
        preempt.missed_item(self.engine, item, what)

    def _preempt_ahead(self, item) -> None:
        from retrace.engine.preempt import SpotWatcher

        if self.watcher is None:
            self.watcher = SpotWatcher(self)
        self.watcher.arm(state.slot, item)

    def stall_report(self) -> str:
        source = self.engine.source
        following = source.peek(looking_ahead=True)
        if following is None:
            expected = "the recording has no more events"
        elif following[0] == SWITCH_ID:
            expected = f"the recording hands over to thread {following[2]} next"
        else:
            holder = self.holder
            who = "the running thread" if holder is None else holder.name()
            expected = f"the recording expects {source.names.get(following[0], '?')} from {who} next"
        lines = [f"replay diverged at event {source.index}: no progress for {self._patience():g} s; {expected}"]
        frames = sys._current_frames()
        from retrace.engine.divergence import user_site

        for slot in self.slots:
            where = ""
            frame = frames.get(slot.ident) if not slot.finished else None
            if frame is not None:
                where = f" at {user_site(frame)}"
            lines.append(f"  {slot.name()}: {slot.doing}{where}")
        return "\n".join(lines)
