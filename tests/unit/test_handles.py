"""Handles (engine/handles/) in one process: a library's objects recorded as proxies whose
calls are boundaries, replayed without the library, and the check of which handle is used."""

import datetime

import pytest

from retrace.engine import Engine
from retrace.engine.handles import HandleProxy, handles_for
from retrace.engine.state import state
from retrace.trace.cbor import dumps, loads
from retrace.trace.digest import call_digest
from retrace.trace.values import Raised, decode_tag, to_wire


class _Recorder(Engine):
    """Records like the real engine does: every kept value crosses the trace's codec."""

    mode = "record"

    def __init__(self):
        super().__init__()
        self.events = []

    def leaf(self, name, call, *, key=None, store=None, load=None, depth=1, after_end=None):
        def wrapper(*args, **kwargs):
            if state.busy:
                return call(*args, **kwargs)
            digest = None if key is None else call_digest(key, args, kwargs)
            state.busy = True
            try:
                result = call(*args, **kwargs)
            except BaseException as exc:
                del state.busy
                self.events.append((name, digest, dumps(to_wire(Raised.capture(exc)))))
                raise
            del state.busy
            kept = result if store is None else store(result, args, kwargs)
            self.events.append((name, digest, dumps(to_wire(kept))))
            return result

        return wrapper


class _Replayer(Engine):
    mode = "replay"

    def __init__(self, events):
        super().__init__()
        self.events = list(events)

    def leaf(self, name, call, *, key=None, store=None, load=None, depth=1, after_end=None):
        def wrapper(*args, **kwargs):
            if state.busy:
                return call(*args, **kwargs)
            recorded, digest, data = self.events.pop(0)
            assert (recorded, digest) == (name, None if key is None else call_digest(key, args, kwargs))
            value = loads(data, tag_hook=decode_tag)
            if type(value) is Raised:
                raise value.rebuild()
            return value if load is None else load(value, args, kwargs)

        return wrapper


class Resource:
    """A pure-Python "external object" (its state would even encode: it must still be a handle)."""

    kind = "thing"

    def __init__(self, log):
        self.log = log
        self.items = [1, 2]

    def read(self, size):
        self.log.append(("read", size))
        return b"x" * size

    def child(self):
        return Resource(self.log)

    def me(self):
        return self

    def pair(self):
        return [self, Resource(self.log)]

    def fail(self):
        raise KeyError("nope")

    def kind_of(self):
        return Resource

    def when(self):
        return datetime.date(2020, 1, 2)

    @property
    def size(self):
        return len(self.log)

    def __len__(self):
        return 3

    def __iter__(self):
        return iter([10, 20])

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.log.append("exit")
        return False

    def __getitem__(self, key):
        return key * 2


def _use(open_resource):
    out = []
    r = open_resource("x")
    out.append((type(r).__name__, isinstance(r, HandleProxy)))
    out.append(r.read(3))
    out.append(r.child() is not r)
    out.append(r.me() is r)
    a, b = r.pair()
    out.append(a is r and b is not r and type(b) is type(r))
    try:
        r.fail()
    except KeyError as exc:
        out.append(("error", exc.args))
    out.append(r.kind_of() is Resource)
    out.append(r.when())
    out.append(r.size)
    out.append((len(r), list(r), r[4], r.kind))
    with r as same:
        out.append(same is r)
    out.append(r.items)
    r.items = [9]
    out.append(r.items)
    callback = lambda: 1  # noqa: E731
    r.callback = callback
    out.append(r.callback is callback)
    out.append([hasattr(r, name) for name in ("__len__", "__iter__", "__next__", "__call__", "__contains__",
                                              "__enter__", "read", "size", "items", "nothing")])
    try:
        r.nothing
    except AttributeError as exc:
        out.append(("attribute error", str(exc)))
    return out


def test_handles_record_then_replay_in_process():
    log = []
    recorder = _Recorder()
    opened = handles_for(recorder).function("test_handles.open", lambda name: Resource(log))
    recorded = _use(opened)
    assert ("read", 3) in log and "exit" in log
    assert recorded[0] == ("Resource", True)
    assert recorded[7] == datetime.date(2020, 1, 2)  # a value, not a handle
    assert recorded[-2] == [True, True, False, False, False, True, True, True, True, False]

    def must_not_run(name):
        raise AssertionError("replay called the real function")

    replayer = _Replayer(recorder.events)
    replayed = _use(handles_for(replayer).function("test_handles.open", must_not_run))
    assert replayed == recorded
    assert replayer.events == []
    names = [name for name, _, _ in recorder.events]
    assert names[:3] == ["test_handles.open", "test_handles.Resource.read", "test_handles.Resource.child"]
    assert "test_handles.Resource.__getattr__" in names and "test_handles.Resource.__setattr__=" in names


def test_replay_checks_which_handle_is_used():
    """Keys hold the handle's number: the same call on another handle is a divergence."""
    recorder = _Recorder()
    opened = handles_for(recorder).function("test_handles.open", lambda name: Resource([]))
    first, second = opened("a"), opened("b")
    first.read(1)
    replayer = _Replayer(recorder.events)
    opened = handles_for(replayer).function("test_handles.open", None)
    first, second = opened("a"), opened("b")
    with pytest.raises(AssertionError):
        second.read(1)
