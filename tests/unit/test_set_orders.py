"""A constant set iterates in an order its source and the hash seed do not decide: the
compiler builds it again when one of its strings was interned before, by whatever the
process imported. The recording keeps each order (constsets.set_orders) and the replay's
compile of the same source is made to iterate alike (constsets.compiled_as_recorded)."""

import io
import itertools
import marshal
import subprocess
import sys
from contextlib import redirect_stdout

import pytest

from retrace.bootstrap import constsets

# Integers hash to themselves: the orders a set of these can iterate in are the same
# under every seed.
SOURCE = """
print(list({1, 2, 9}))
print([n for n in {1, 3, 9}])
def inner():
    return [n for n in {1, 4, 9}]
print(inner(), 5 in {1, 5, 9})
"""
SETS = [{1, 2, 9}, {1, 3, 9}, {1, 4, 9}, {1, 5, 9}]


def _another_order(elements: set) -> tuple:
    """An order, not the compiled one, that a frozenset of ``elements`` can iterate in."""
    return next(order for order in itertools.permutations(sorted(elements))
                if tuple(frozenset(order)) == order and order != tuple(frozenset(elements)))


def _positions(*elements):
    """set_orders' form of an order: positions in the elements sorted by repr."""
    ranked = sorted(elements, key=repr)
    return [ranked.index(element) for element in elements]


def _sets_depth_first(code) -> list:
    found = []
    for constant in code.co_consts:
        found += _sets_depth_first(constant) if hasattr(constant, "co_consts") else \
            [constant] if type(constant) is frozenset else []
    return found


def _output(code) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        exec(code, {"__name__": "__main__"})
    return out.getvalue()


def test_the_orders_are_read_off_the_compiled_code():
    code = compile(SOURCE, "app.py", "exec")
    compiled = _sets_depth_first(code)
    orders = constsets.set_orders(code)
    assert [[sorted(constant, key=repr)[index] for index in order] for constant, order in zip(compiled, orders)] \
        == [list(constant) for constant in compiled] and len(orders) == 4


@pytest.mark.parametrize("marshalled", [True, False], ids=["entry", "runner"])
def test_the_replayed_code_iterates_its_sets_in_the_recorded_orders(marshalled):
    orders = [_another_order(elements) for elements in SETS]
    as_recorded = f"{list(orders[0])}\n{list(orders[1])}\n{list(orders[2])} True\n"
    assert _output(compile(SOURCE, "app.py", "exec")) != as_recorded
    recorded = [_positions(*order) for order in orders]
    code = constsets.compiled_as_recorded(SOURCE, "app.py", recorded, marshalled)
    if marshalled:
        code = marshal.loads(marshal.dumps(code))
    assert _output(code) == as_recorded


def test_orders_of_another_script_are_refused():
    with pytest.raises(constsets.NotExact):
        constsets.compiled_as_recorded(SOURCE, "app.py", [[0, 1]], True)
    with pytest.raises(constsets.NotExact):
        constsets.compiled_as_recorded(SOURCE, "app.py", [], True)


WORDS = """
print(list({"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"}))
print([w for w in {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}])
"""


def test_an_interned_string_changes_the_compiled_order_for_some_seeds():
    """Why the orders are recorded: the same source compiled twice in one process (the
    first compile interns its strings) iterates a set of strings otherwise, for some seeds."""
    check = ("import sys; first, second = (compile(sys.argv[1], 's', 'exec') for _ in range(2))\n"
             "from retrace.bootstrap.constsets import set_orders\n"  # (after: its import interns strings)
             "print(set_orders(first) != set_orders(second))")
    differ = 0
    for seed in range(1, 41):
        result = subprocess.run([sys.executable, "-c", check, WORDS], env={"PYTHONHASHSEED": str(seed)},
                                capture_output=True, text=True, check=True)
        differ += result.stdout.strip() == "True"
    assert differ > 0
