"""Not a boundary: libraries whose order of work follows object addresses.

A set of functions (or of any object without its own ``__hash__``) iterates in an
order that follows the objects' memory addresses. Addresses differ between the
recording and the replay (the replay's machinery allocates other objects than the
recorder's), so a library that iterates such a set and touches the outside world on
the way makes its calls in a different order on replay: a divergence no recording
can prevent. Each library found doing so is listed here and made to iterate in
insertion order, in both record and replay (a set promises no order, so the program
sees nothing it could not have seen before).
"""

from __future__ import annotations

from retrace.boundaries.spec import Family, OnImport


class InsertionOrderedSet(set):
    """A set that iterates in the order its items were added.

    Still a ``set`` for every other purpose (``isinstance``, ``in``, operators, which
    return plain sets). Meant for the small sets of callbacks and registrations that
    libraries iterate now and then: each iteration makes a list."""

    __slots__ = ("_order",)

    def __init__(self, items=()) -> None:
        super().__init__()
        self._order: dict = {}
        self.update(items)

    def add(self, item) -> None:
        if not set.__contains__(self, item):
            order = self._order
            order.pop(item, None)  # taken out earlier (discard, -=): it goes to the end now
            set.add(self, item)
            order[item] = None

    def update(self, *iterables) -> None:
        for items in iterables:
            for item in items:
                self.add(item)

    def clear(self) -> None:
        set.clear(self)
        self._order.clear()

    def copy(self):
        return InsertionOrderedSet(self)

    __copy__ = copy  # copy.copy(): kombu's hub iterates a copy of its tick callbacks

    def pop(self):
        for item in self:
            self.discard(item)
            return item
        raise KeyError("pop from an empty set")

    def __iter__(self):
        order = self._order
        items = [item for item in order if item in self]
        if len(items) != len(self):  # some came in through set's own operators (|=): now last
            extra = [item for item in set.__iter__(self) if item not in order]
            order.update(dict.fromkeys(extra))
            items += extra
        if len(order) > 2 * len(items) + 8:  # forget what was taken out
            self._order = dict.fromkeys(items)
        return iter(items)

    def __reduce__(self):  # pickled (sent to another process), it is a plain set
        return set, (list(self),)


class InsertionOrderedFrozenSet(frozenset):
    """A frozenset that iterates in the order of the items it was made from."""

    __slots__ = ("_order",)

    def __new__(cls, items=()):
        items = list(items)  # (an InsertionOrderedSet gives them in its order)
        made = super().__new__(cls, items)
        made._order = tuple(dict.fromkeys(items))
        return made

    def __iter__(self):
        return iter(self._order)

    def __reduce__(self):
        return frozenset, (list(self._order),)


def sets_in_insertion_order(*made_at_import: str):
    """An on-import action: ``set()`` and ``frozenset()`` in the module's code make
    insertion-ordered ones (module globals that shadow the builtins). ``made_at_import``
    names sets the module made while it was imported (``"registry.registered_checks"``),
    converted then. Set displays and comprehensions (``{a, b}``) are unchanged: none of
    the places listed below iterates one."""

    def action(engine, module):
        module.set = InsertionOrderedSet
        module.frozenset = InsertionOrderedFrozenSet
        for dotted in made_at_import:
            owner_path, _, attr = dotted.rpartition(".")
            owner = module
            for part in filter(None, owner_path.split(".")):
                owner = getattr(owner, part, None)
            found = getattr(owner, attr, None)
            if type(found) is set:
                setattr(owner, attr, InsertionOrderedSet(found))

        def undo() -> None:
            for name, ours in (("set", InsertionOrderedSet), ("frozenset", InsertionOrderedFrozenSet)):
                if module.__dict__.get(name) is ours:
                    delattr(module, name)

        return undo

    return action


FAMILY = Family(
    name="orderings",
    doc=__doc__,
    on_import=(
        # System checks (runserver, migrate, check...) run by iterating
        # CheckRegistry.registered_checks, a set of functions; they stat static files,
        # locales and templates in that order.
        OnImport("django.core.checks.registry",
                 sets_in_insertion_order("registry.registered_checks", "registry.deployment_checks"),
                 why="system checks run in the order of a set of functions"),
        # Celery's event loop (kombu's Hub): callbacks run each tick (on_tick), ready
        # callbacks and connections to consolidate are sets of functions and objects;
        # they read from and write to the broker's sockets in that order.
        OnImport("kombu.asynchronous.hub", sets_in_insertion_order(),
                 why="the event loop's callbacks are sets of functions"),
        # The autoreloader (runserver's child) stats the file of every module in a
        # frozenset of paths: the replay's modules are not the recorder's (retrace's own
        # differ), so the set's order would differ for the program's own files too.
        OnImport("django.utils.autoreload", sets_in_insertion_order(),
                 why="module files are watched in the order of a set"),
        # Its Redis transport polls a set of channels, each with its own connection.
        OnImport("kombu.transport.redis", sets_in_insertion_order(),
                 why="the channels polled are a set of objects"),
    ),
)
