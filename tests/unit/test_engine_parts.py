"""Engine parts in this process: the alias sweep, insertion-ordered sets, the installation's
lock across fork, a switch-out spot's frame key, a divergence's report as data."""

import sys

import pytest

from fakes import LoggingEngine


def test_sweep_finds_aliases_in_globals_class_attributes_and_defaults():
    import time
    import types

    from retrace.bootstrap.install import Installer
    from retrace.boundaries.spec import Family, Patch

    original = time.get_clock_info
    module = types.ModuleType("retrace_test_aliases")
    exec(
        "import time\n"
        "alias = time.get_clock_info\n"
        "def positional(x, clock=time.get_clock_info): return clock\n"
        "def keyword(*, clock=time.get_clock_info): return clock\n"
        "class Holder:\n"
        "    factory = time.get_clock_info\n"
        "    def method(self, clock=time.get_clock_info): return clock\n",
        module.__dict__,
    )
    module.Holder.__module__ = module.__name__
    sys.modules[module.__name__] = module
    installer = Installer(LoggingEngine(), [Family("test", patches=(Patch("time", "get_clock_info", why="test"),))])
    try:
        installer.install()
        replacement = time.get_clock_info
        assert replacement is not original
        assert module.alias is replacement
        assert module.positional(1) is replacement
        assert module.keyword() is replacement
        assert module.Holder.factory is replacement
        assert module.Holder().method() is replacement
    finally:
        installer.uninstall()
        del sys.modules[module.__name__]
    assert time.get_clock_info is original
    assert module.alias is original and module.positional(1) is original and module.keyword() is original
    assert module.Holder.factory is original and module.Holder().method() is original


def test_an_insertion_ordered_set_iterates_as_added_whatever_the_addresses():
    import copy

    from retrace.boundaries.orderings import InsertionOrderedSet

    made = [object() for _ in range(50)]
    ordered = InsertionOrderedSet()
    for item in reversed(made):
        ordered.add(item)
    assert list(ordered) == made[::-1] and isinstance(ordered, set) and len(ordered) == 50
    ordered.discard(made[10])
    ordered.remove(made[20])
    assert list(ordered) == [m for m in made[::-1] if m not in (made[10], made[20])]
    assert list(copy.copy(ordered)) == list(ordered) == list(ordered.copy())
    assert ordered.pop() is made[-1]
    extra = object()
    ordered |= {extra}  # set's own operator: iterates after the others
    assert list(ordered)[-1] is extra and made[10] not in ordered
    ordered.add(made[10])  # taken out, then added again: at the end
    assert list(ordered)[-1] is made[10]
    ordered.clear()
    assert list(ordered) == [] and not ordered
    assert type(copy.deepcopy(InsertionOrderedSet([1, 2]))) in (set, InsertionOrderedSet)


@pytest.mark.timeout(30)
def test_a_fork_while_another_thread_works_the_installation_out_does_not_hang_the_child():
    """The recorder's writer thread may be working out where the installation is
    (retrace/installation.py, behind a lock) when the program forks: the child must work
    it out again, not wait for a thread it does not have."""
    import os
    import threading

    from retrace import installation

    saved = installation._roots, installation._ways_in
    installation._roots = None
    inside, go_on = threading.Event(), threading.Event()
    real_find = installation._find

    def slow_find():
        inside.set()
        go_on.wait(10)
        return real_find()

    installation._find = slow_find
    worker = threading.Thread(target=installation.roots)
    worker.start()
    try:
        assert inside.wait(10)
        pid = os.fork()
        if pid == 0:  # the child: the lock's holder is not here
            installation._find = real_find
            os._exit(0 if installation.holds(os.__file__) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        go_on.set()
        worker.join(10)
        installation._find = real_find
        installation._roots, installation._ways_in = saved


def test_a_frames_key_holds_for_its_own_values_only():
    """The key replay checks at each pass of a switch-out's line (engine/preempt.py): the
    frame's plain locals and container lengths, a NaN left out (its hash is its address)."""
    from retrace.engine.preempt import KeyCheck, frame_key

    def frame_with(count, name, items, ratio):
        return sys._getframe()

    frame = frame_with(7, "seven", [1, 2], float("nan"))
    entries = frame_key(frame)
    assert [entry[0] for entry in entries] == ["count", "name", "items"]
    assert KeyCheck(entries).rest(frame)
    assert KeyCheck(entries).rest(frame_with(7, "seven", [3, 4], 0.5))  # (lengths, not contents)
    for other in (frame_with(8, "seven", [1, 2], 1.0), frame_with(7, "eight", [1, 2], 1.0),
                  frame_with(7, "seven", [1], 1.0), frame_with(7.0, "seven", [1, 2], 1.0)):
        check = KeyCheck(entries)
        assert not check.rest(other)
        assert check.probe in check.entries  # the entry that differed: read first next time


def test_a_divergence_carries_its_report_as_data():
    """What a replay expected and what it got, for tools that read more than the text."""
    import json
    import os

    from retrace.engine.replayer import Replayer
    from retrace.errors import Diverged

    class OneClockRead:
        path, tear = "x", None

        def chunks(self):
            return iter([[{"b": [1, "time.time"]}, {"s": [1, "app.py", 3, "<module>"]}, [1, 1, 1.5]]])

    def stop(error):
        raise error

    getpid = Replayer(OneClockRead(), stop=stop).leaf("os.getpid", os.getpid)
    with pytest.raises(Diverged) as caught:
        getpid()
    report = caught.value.report
    assert str(caught.value) == report.render()
    data = json.loads(json.dumps(report.as_dict()))
    assert data["event"] == 0
    assert data["expected"] == {"boundary": "time.time", "site": {"file": "app.py", "line": 3, "function": "<module>"}}
    assert data["got"]["boundary"] == "os.getpid" and data["got"]["args"] == []
    assert data["got"]["site"]["function"] == "test_a_divergence_carries_its_report_as_data"
