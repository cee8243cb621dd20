"""The lists select/poll return pack and unpack as recorded."""

from retrace.boundaries import readiness


def test_ready_lists_pack_and_unpack():
    given = [object() for _ in range(300)]
    for ready in ([], [given[0]], [given[299], given[3]], given[::-1]):
        args = (given, given[:5], [])
        stored = readiness._store_select((ready, given[1:3], []), args, {})
        assert type(stored) is bytes
        r, w, x = readiness._load_select(stored, args, {})
        assert r == ready and w == given[1:3] and x == []
    pairs = [(4, 1), (7, 0x80000004), (1023, 0xFFFFFFFF)]
    assert readiness._load_pairs(readiness._store_pairs(pairs, (), {}), (), {}) == pairs
    assert readiness._load_pairs(readiness._store_pairs([], (), {}), (), {}) == []
