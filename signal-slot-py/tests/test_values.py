"""Arguments arrive as they were emitted: equal, and of the same types, through the runtime's own encoding of
plain values and pickle for the rest, both start methods."""

import collections
import datetime
import decimal
import math
import pickle

import pytest

from signal_slot.signal_slot import EventLoop, EventLoopObject, EventLoopProcess, Timer, signal


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)


class MyInt(int):
    pass


def deep(depth):
    value = "bottom"
    for _ in range(depth):
        value = [value]
    return value


VALUES = [
    None, True, False, 0, 1, -1, 127, 128, -33, 255, 65536, 2**63 - 1, -(2**63), 2**64 - 1, 2**100, -(2**100),
    1.5, -0.0, float("inf"), float("nan"), "", "text", "ünïcødé ✓", "\ud800 lone surrogate", b"", b"\x00\xff" * 40,
    (), (1,), (1, (2, [3, {4: (5,)}])), [], [1, "a", None], {}, {"a": 1, (1, 2): [3], 3: b"x", None: True},
    {1, 2}, frozenset({3}), MyInt(3), collections.OrderedDict(a=1), collections.defaultdict(list, a=[1]),
    datetime.date(2026, 12, 7), decimal.Decimal("1.10"), 3 + 4j, bytearray(b"ab"), Point(1, (2, 3)),
    [Point(0, 0), {"p": Point(1, 1)}], deep(10), deep(100), "x" * 70_000, b"y" * 70_000, list(range(70_000)),
]


def same(a, b):
    """Equal, and of the same types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(same(a[k], b[k]) for k in a)
    return a == b


class Echo(EventLoopObject):
    @signal
    def back(self):
        ...

    def echo(self, index, value):
        self.back.emit(index, value)


class Collect(EventLoopObject):
    def __init__(self, loop, object_id, expected):
        super().__init__(loop, object_id)
        self.expected = expected
        self.got = {}

    @signal
    def value(self):
        ...

    def on_back(self, index, value):
        self.got[index] = value
        if len(self.got) == self.expected:
            self.event_loop.stop()


def check(got):
    assert sorted(got) == list(range(len(VALUES)))
    for index, value in enumerate(VALUES):
        assert same(value, got[index]), f"{value!r:.60} came back as {got[index]!r:.60}"


def test_values_arrive_equal_and_of_the_same_types_from_a_child(context):
    loop = EventLoop("values_main")
    deadline = Timer(loop, 60, single_shot=True)
    deadline.timeout.connect(loop.stop)
    collect = Collect(loop, "collect", expected=len(VALUES))
    p = EventLoopProcess("values_child", context)
    echo = Echo(p.event_loop, "echo")
    collect.value.connect(echo.echo)
    echo.back.connect(collect.on_back)
    loop.terminate.connect(p.stop)
    p.start()
    for index, value in enumerate(VALUES):
        collect.value.emit(index, value)
    loop.exec()
    p.join(timeout=60)
    check(collect.got)


def test_values_arrive_equal_and_of_the_same_types_on_the_same_loop():
    loop = EventLoop("values_same_loop")
    collect = Collect(loop, "collect", expected=len(VALUES))
    echo = Echo(loop, "echo")
    collect.value.connect(echo.echo)
    echo.back.connect(collect.on_back)
    collect.value.emit_many([(index, value) for index, value in enumerate(VALUES)])
    for _ in range(100):
        if len(collect.got) == len(VALUES):
            break
        loop.process_events()
    check(collect.got)


def test_a_value_that_cannot_be_pickled_fails_the_emit():
    loop = EventLoop("values_unpicklable")
    collect = Collect(loop, "collect", expected=1)
    echo = Echo(loop, "echo")
    collect.value.connect(echo.echo)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        collect.value.emit(0, lambda: None)
    # nothing was sent
    loop.process_events()
    assert collect.got == {}


def explode():
    raise ValueError("this value cannot be revived here")


class Fragile:
    """Pickles, and fails to unpickle: as a class the receiving process cannot import."""

    def __reduce__(self):
        return explode, ()


def test_a_value_that_cannot_be_unpickled_ends_the_receiving_child_with_its_traceback(context, capfd):
    p = EventLoopProcess("unpickle_child", context)
    echo = Echo(p.event_loop, "echo")
    loop = EventLoop("unpickle_main")
    collect = Collect(loop, "collect", expected=1)
    collect.value.connect(echo.echo)
    p.start()
    collect.value.emit(0, Fragile())
    p.join(timeout=60)
    assert p.exitcode == 1
    assert "this value cannot be revived here" in capfd.readouterr().err
