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
    """A set that iterates in the order its items were added through ``add``.

    Still a ``set`` for every other purpose; items that came in another way (``update``,
    ``|=``) iterate after the others, in the set's own order. Meant for small sets that
    are iterated now and then (each iteration makes a list)."""

    __slots__ = ("_order",)

    def __init__(self, items=()) -> None:
        super().__init__()
        self._order: dict = {}
        for item in items:
            self.add(item)

    def add(self, item) -> None:
        set.add(self, item)
        self._order[item] = None

    def __iter__(self):
        order = self._order
        added = [item for item in order if item in self]
        return iter(added + [item for item in set.__iter__(self) if item not in order])

    def __reduce__(self):
        return set, (list(self),)


def _django_checks_in_registration_order(engine, module):
    """Django runs its system checks (runserver, migrate, check...) by iterating
    ``CheckRegistry.registered_checks``, a set of functions; the checks stat files and
    directories (static files, locales, templates) in that order."""
    registry_class = module.CheckRegistry
    original_init = registry_class.__init__

    def ordered(registry) -> None:
        registry.registered_checks = InsertionOrderedSet(registry.registered_checks)
        registry.deployment_checks = InsertionOrderedSet(registry.deployment_checks)

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        ordered(self)

    registry_class.__init__ = __init__
    if isinstance(getattr(module, "registry", None), registry_class):
        ordered(module.registry)

    def undo() -> None:
        registry_class.__init__ = original_init

    return undo


FAMILY = Family(
    name="orderings",
    doc=__doc__,
    on_import=(
        OnImport("django.core.checks.registry", _django_checks_in_registration_order,
                 why="system checks run in the order of a set of functions (addresses)"),
    ),
)
