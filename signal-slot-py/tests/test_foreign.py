"""Rust and Python in one system: a Rust program (examples/inference_server.rs) started as a child of this process,
its objects connected to Python objects by name, with values both sides read."""

import array
import os
import pathlib
import subprocess
import sys

import pytest

from signal_slot.foreign import ProgramProcess
from signal_slot.signal_slot import EventLoop, EventLoopObject, EventLoopProcess, Timer, signal

DEADLINE = 60.0
ROOT = pathlib.Path(__file__).resolve().parents[2]

sys.path.insert(0, str(ROOT / "signal-slot-py" / "examples"))
import rollout  # noqa: E402  (the example's workers, coordinator and the policy's formula)


@pytest.fixture(scope="session")
def server():
    """The inference_server example, built (CI builds it and names it in SIGNAL_SLOT_INFERENCE_SERVER)."""
    path = os.environ.get("SIGNAL_SLOT_INFERENCE_SERVER")
    if path is None:
        subprocess.run(
            ["cargo", "build", "--release", "--example", "inference_server"], cwd=ROOT, check=True
        )
        path = ROOT / "target" / "release" / "examples" / "inference_server"
    assert os.access(path, os.X_OK), f"{path} is not a program"
    return str(path)


def start_server(server, name, sizes=(rollout.OBSERVATION_SIZE, rollout.ACTION_SIZE)):
    process = ProgramProcess(name, server, init="inference_server::serve", init_args=sizes)
    process.start()
    return process


def stop_after(loop, seconds=DEADLINE):
    t = Timer(loop, seconds, single_shot=True)
    t.timeout.connect(loop.stop)
    return t


def stop_and_join(process):
    process.stop()
    process.join(DEADLINE)
    return process.exitcode


def test_a_rust_policy_serves_python_workers_in_child_processes(server, context):
    """The example's system, smaller: every answer checked against the policy's formula by the worker, every step
    served once, every process ending normally."""
    policy_process = start_server(server, "inference")
    policy = policy_process.object("policy")
    assert policy.type_name == "Policy"
    assert set(policy.slots) >= {"on_observations", "on_count", "on_values"}

    main_loop = EventLoop("main")
    guard = stop_after(main_loop)
    coordinator = rollout.Coordinator(main_loop, workers=3)
    coordinator.count.connect(policy.on_count)
    policy.served.connect(coordinator.on_served)
    processes = []
    for i in range(3):
        process = EventLoopProcess(f"rollout{i}", multiprocessing_context=context)
        worker = rollout.RolloutWorker(process.event_loop, i, steps=300)
        process.event_loop.start.connect(worker.on_start)
        worker.observations.connect(policy.on_observations)
        policy.actions.connect(worker.on_actions)
        worker.done.connect(coordinator.on_done)
        processes.append(process)
    for process in processes:
        process.start()
    main_loop.exec()
    guard.stop()

    assert coordinator.remaining == 0
    assert coordinator.steps == 900
    assert coordinator.served == 900
    assert [stop_and_join(p) for p in processes] == [0, 0, 0]
    assert stop_and_join(policy_process) == 0


class Mirror(EventLoopObject):
    """Sends values to the Rust policy's `on_values` and keeps what its `values` signal brings back."""

    def __init__(self, loop):
        super().__init__(loop, "mirror")
        self.received = []
        self.expected = 0

    @signal
    def values(self):
        ...

    def on_values(self, *args):
        self.received.append(args)
        if len(self.received) == self.expected:
            self.event_loop.stop()


def test_values_both_ways_as_each_side_reads_them(server):
    process = start_server(server, "values_server")
    policy = process.object("policy")
    loop = EventLoop("values_main")
    guard = stop_after(loop)
    mirror = Mirror(loop)
    mirror.values.connect(policy.on_values)
    policy.values.connect(mirror.on_values)

    sent = [
        ("héllo", b"\x00\x01\xff", [1, -2, 2**62], {"a": 1.5, "b": -0.25}, None, (True, "pair")),
        ("", bytearray(b"raw"), array.array("q", [7, 8]), {}, 42, [False, ""]),
    ]
    mirror.expected = len(sent)
    for args in sent:
        mirror.values.emit(*args)
    # Values the Rust slot cannot take: refused at emit, nothing sent.
    with pytest.raises(TypeError, match="cannot be sent to a slot of another program"):
        mirror.values.emit("text", b"", [1], {"a": 1.0}, None, {1, 2})
    with pytest.raises(TypeError, match="outside of 64 bits"):
        mirror.values.emit("text", b"", [2**64], {}, None, (True, ""))
    loop.exec()
    guard.stop()

    text, blob, numbers, table, maybe, pair = mirror.received[0]
    assert text == "héllo" and blob == b"\x00\x01\xff"
    # a Rust Vec<i64> argument arrives as the bytes of its numbers
    assert list(array.array("q", numbers)) == [1, -2, 2**62]
    assert table == {"a": 1.5, "b": -0.25} and maybe is None
    assert pair == [True, "pair"]  # a Rust tuple arrives as a list
    text, blob, numbers, table, maybe, pair = mirror.received[1]
    assert (text, blob, list(array.array("q", numbers)), table, maybe, pair) == ("", b"raw", [7, 8], {}, 42, [False, ""])
    assert stop_and_join(process) == 0


class Asker(EventLoopObject):
    def __init__(self, loop, object_id="asker"):
        super().__init__(loop, object_id)
        self.answers = []

    @signal
    def observations(self):
        ...

    @signal
    def count(self):
        ...

    def on_actions(self, worker, step, actions):
        self.answers.append((worker, step, list(array.array("f", actions))))

    def on_served(self, served):
        self.answers.append(("served", served))
        self.event_loop.stop()


def test_arguments_a_rust_slot_cannot_decode_are_dropped_there_and_it_goes_on(server):
    process = start_server(server, "decode_server", sizes=(2, 1))
    policy = process.object("policy")
    loop = EventLoop("decode_main")
    guard = stop_after(loop)
    asker = Asker(loop)
    asker.observations.connect(policy.on_observations)
    asker.count.connect(policy.on_count)
    policy.actions.connect(asker.on_actions)
    policy.served.connect(asker.on_served)
    asker.observations.emit(0, 0, "not numbers")  # the Rust slot cannot decode it
    asker.observations.emit(-1, 1, [1.0, 2.0])  # nor a negative u32
    asker.observations.emit(3, 2, [2.0, 4.0])
    asker.count.emit()
    loop.exec()
    guard.stop()
    weights = [((at % 7) - 3.0) / 4.0 for at in range(2)]
    assert asker.answers == [(3, 2, [weights[0] * 2.0 + weights[1] * 4.0]), ("served", 1)]
    assert stop_and_join(process) == 0


def test_names_that_are_not_there_are_errors(server):
    process = start_server(server, "names_server")
    policy = process.object("policy")
    with pytest.raises(AttributeError, match="has no signal or slot `on_nothing`"):
        policy.on_nothing
    loop = EventLoop("names_main")
    mirror = Mirror(loop)
    with pytest.raises(ValueError, match="is a slot of `policy`, not a signal"):
        policy.on_values.connect(mirror.on_values)
    with pytest.raises(RuntimeError, match="no object `nobody`|nobody"):
        process.object("nobody", timeout=0.5)
    assert stop_and_join(process) == 0

    unknown = ProgramProcess("unknown_init", server, init="inference_server::no_such_function", init_args=(1,))
    try:
        unknown.start()
    except RuntimeError as error:
        assert "no init function `inference_server::no_such_function`" in str(error)
    else:
        unknown.join(DEADLINE)
        assert unknown.exitcode == 1


def test_a_python_signal_disconnected_from_a_rust_slot_and_back(server):
    process = start_server(server, "disconnect_server", sizes=(1, 1))
    policy = process.object("policy")
    loop = EventLoop("disconnect_main")
    guard = stop_after(loop)
    asker = Asker(loop)
    asker.observations.connect(policy.on_observations)
    asker.count.connect(policy.on_count)
    policy.served.connect(asker.on_served)
    asker.observations.emit(0, 0, [1.0])
    asker.observations.disconnect(policy.on_observations)
    asker.observations.emit(0, 1, [1.0])  # goes nowhere
    asker.observations.connect(policy.on_observations)
    asker.observations.emit(0, 2, [1.0])
    asker.count.emit()
    loop.exec()
    guard.stop()
    assert asker.answers == [("served", 2)]
    assert stop_and_join(process) == 0


class Grid(EventLoopObject):
    def __init__(self, loop):
        super().__init__(loop, "grid")
        self.cells = []
        self.local = []

    @signal
    def cells_out(self):
        ...

    def on_grid(self, cells):
        self.cells.append(cells)
        if len(self.cells) == 2:
            self.event_loop.stop()

    def on_local(self, cells):
        self.local.append(cells)


def test_one_signal_to_python_and_rust_slots_map_keys_and_buffers_of_numbers(server):
    process = start_server(server, "grid_server", sizes=(2, 1))
    policy = process.object("policy")
    loop = EventLoop("grid_main")
    guard = stop_after(loop)
    grid = Grid(loop)
    # one signal, two receivers: a Rust slot and a Python slot
    grid.cells_out.connect(policy.on_grid)
    grid.cells_out.connect(grid.on_local)
    policy.grid.connect(grid.on_grid)
    # a map whose keys are tuples in Rust arrives with tuple keys; a batch goes whole
    grid.cells_out.emit_many([({(0, 1): 1.5, (2, 3): -1.0},), ({(4, 4): 0.25},)])
    # a set is not sent to the Rust slot, nor to the Python one: nothing was sent
    with pytest.raises(TypeError):
        grid.cells_out.emit({(0, 0): {1, 2}})
    loop.exec()
    guard.stop()
    assert grid.cells == [{(0, 1): 3.0, (2, 3): -2.0}, {(4, 4): 0.5}]
    assert grid.local == [{(0, 1): 1.5, (2, 3): -1.0}, {(4, 4): 0.25}]
    assert stop_and_join(process) == 0


def test_buffers_of_numbers_reach_a_rust_vec_of_any_width(server):
    process = start_server(server, "buffer_server", sizes=(2, 1))
    policy = process.object("policy")
    loop = EventLoop("buffer_main")
    guard = stop_after(loop)
    asker = Asker(loop)
    asker.observations.connect(policy.on_observations)
    asker.count.connect(policy.on_count)
    policy.actions.connect(asker.on_actions)
    policy.served.connect(asker.on_served)
    weights = [((at % 7) - 3.0) / 4.0 for at in range(2)]
    observations = [
        array.array("d", [1.0, 2.0]),  # float64: as numbers, not as their bytes
        array.array("f", [3.0, 4.0]),
        array.array("q", [5, 6]),
        memoryview(array.array("f", [7.0, 8.0]).tobytes()),  # bytes: the Vec<f32>'s own
    ]
    for step, values in enumerate(observations):
        asker.observations.emit(0, step, values)
    asker.count.emit()
    loop.exec()
    guard.stop()
    expected = [(0, step, [weights[0] * a + weights[1] * b]) for step, (a, b) in enumerate([(1, 2), (3, 4), (5, 6), (7, 8)])]
    assert asker.answers == expected + [("served", 4)]
    assert stop_and_join(process) == 0


class Unhooker(Asker):
    """Disconnects the policy's actions from the others, then from itself, one answer at a time."""

    def __init__(self, loop, policy, other):
        super().__init__(loop, "unhooker")
        self.policy, self.other = policy, other

    def on_actions(self, worker, step, actions):
        super().on_actions(worker, step, actions)
        if step == 0:
            self.policy.actions.disconnect(self.other.on_actions)  # one of two on this loop
            self.observations.emit(0, 1, [1.0])
        elif step == 1:
            self.policy.actions.disconnect(self.on_actions)  # the last: this loop hears of it no more
            self.observations.emit(0, 2, [1.0])
            self.count.emit()


def test_a_rust_signal_disconnected_from_python_slots(server):
    process = start_server(server, "unhook_server", sizes=(1, 1))
    policy = process.object("policy")
    loop = EventLoop("unhook_main")
    guard = stop_after(loop)
    second = Asker(loop, "asker2")
    first = Unhooker(loop, policy, second)
    first.observations.connect(policy.on_observations)
    first.count.connect(policy.on_count)
    policy.actions.connect(first.on_actions)
    policy.actions.connect(second.on_actions)
    policy.served.connect(first.on_served)
    first.observations.emit(0, 0, [1.0])  # both hear it
    loop.exec()
    guard.stop()
    w = -0.75
    assert first.answers == [(0, 0, [w]), (0, 1, [w]), ("served", 3)]
    assert second.answers == [(0, 0, [w])]
    assert stop_and_join(process) == 0


class Viewer(EventLoopObject):
    """Asks the Rust policy for frames, one at a time, and reads each in place."""

    def __init__(self, loop, frames):
        super().__init__(loop, "viewer")
        self.frames = frames
        self.seen = []
        self.views = []

    @signal
    def ask(self):
        ...

    def on_frame(self, step, pixels):
        view = memoryview(pixels)
        expected = bytes((step + at) % 251 for at in range(len(pixels)))
        self.seen.append((step, type(pixels).__name__, len(pixels), view.readonly, view.tobytes() == expected))
        if step == 0:
            self.views.append(view)  # held past the slot: its frame stays out of the pool
        if len(self.seen) == self.frames:
            self.event_loop.stop()
        else:
            self.ask.emit(step + 1, 1000 + (step + 1) * 4099)


def test_a_rust_shared_buffer_is_read_in_place_and_goes_back_to_its_pool(server):
    """A Rust signal's `SharedBuffer` arrives as a buffer object over the shared memory (read-only); a frame goes
    back to its pool once Python lets it go: 30 frames from a pool of 8, one of them held to the end."""
    process = start_server(server, "frames_server")
    policy = process.object("policy")
    loop = EventLoop("frames_main")
    guard = stop_after(loop)
    viewer = Viewer(loop, frames=30)
    viewer.ask.connect(policy.on_frame)
    policy.frame.connect(viewer.on_frame)
    viewer.ask.emit(0, 1000)
    loop.exec()
    guard.stop()

    assert len(viewer.seen) == 30, viewer.seen
    assert all(name == "SharedBuffer" and readonly and same for _, name, _, readonly, same in viewer.seen)
    assert [length for _, _, length, _, _ in viewer.seen] == [1000 + step * 4099 for step in range(30)]
    held = viewer.views[0]
    assert held.tobytes() == bytes(at % 251 for at in range(1000))  # still there, while held
    with pytest.raises(TypeError):
        held[0] = 1  # read-only
    held.release()
    assert stop_and_join(process) == 0


class FrameReporter(EventLoopObject):
    """In a child process: reads each frame where it is and says what it found."""

    @signal
    def ask(self):
        ...

    @signal
    def report(self):
        ...

    def on_start(self):
        self.ask.emit(0, 70_000)

    def on_frame(self, step, pixels):
        expected = bytes((step + at) % 251 for at in range(len(pixels)))
        self.report.emit(step, len(pixels), bytes(memoryview(pixels)) == expected, os.getpid())
        if step < 9:
            self.ask.emit(step + 1, 70_000 + step)


class FrameSink(EventLoopObject):
    def __init__(self, loop):
        super().__init__(loop, "frame_sink")
        self.reports = []

    def on_report(self, *report):
        self.reports.append(report)
        if len(self.reports) == 10:
            self.event_loop.stop()


def test_a_rust_shared_buffer_reaches_a_python_child_process(server, context):
    """The frames of the Rust program read in a Python child (fork or spawn): its pool is found through the root,
    mapped there, and its buffers go back as the child lets them go (10 frames, a pool of 8)."""
    process = start_server(server, "child_frames_server")
    policy = process.object("policy")
    loop = EventLoop("child_frames_main")
    guard = stop_after(loop)
    sink = FrameSink(loop)
    child = EventLoopProcess("child_frames_reader", context)
    reporter = FrameReporter(child.event_loop, "reporter")
    child.event_loop.start.connect(reporter.on_start)
    reporter.ask.connect(policy.on_frame)
    policy.frame.connect(reporter.on_frame)
    reporter.report.connect(sink.on_report)
    child.start()
    loop.exec()
    guard.stop()
    assert stop_and_join(child) == 0
    assert stop_and_join(process) == 0
    assert [(step, length, same) for step, length, same, _ in sink.reports] == [
        (step, 70_000 + max(step - 1, 0), True) for step in range(10)
    ]
    assert {pid for *_, pid in sink.reports} == {child.pid}
