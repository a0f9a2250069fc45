"""A loop made in the parent and run in a child, as Sample Factory runs its batcher: created with its objects and
connections in the parent, referred to by an object of an `EventLoopProcess`, and run on a thread of that process.
The loop goes with the process when it starts (both start methods), and every signal reaches it there."""

import os
import threading

import pytest

from signal_slot.signal_slot import EventLoop, EventLoopObject, EventLoopProcess, EventLoopStatus, Timer, signal

DEADLINE = 60.0


class Batcher(EventLoopObject):
    """Lives on the loop made in the parent: turns trajectories into batches for the learner."""

    @signal
    def batch_ready(self):
        ...

    def on_trajectory(self, n, source):
        self.batch_ready.emit(n, source, os.getpid())


class Learner(EventLoopObject):
    """Lives on the process's loop; runs the batcher's loop on a thread of its own, as Sample Factory's learner."""

    def __init__(self, loop, object_id, batcher):
        super().__init__(loop, object_id)
        self.batcher = batcher
        self.thread = None

    @signal
    def trained(self):
        ...

    def init(self):
        self.batcher.event_loop.process = self.event_loop.process
        self.thread = threading.Thread(target=self.batcher.event_loop.exec)
        self.thread.start()

    def on_batch(self, n, source, batcher_pid):
        self.trained.emit(n, source, batcher_pid, os.getpid())

    def on_stop(self):
        self.batcher.event_loop.stop()
        self.thread.join()
        self.event_loop.stop()


class Rollout(EventLoopObject):
    @signal
    def trajectory(self):
        ...

    def produce(self, first, count):
        for n in range(first, first + count):
            self.trajectory.emit(n, "rollout")


class Main(EventLoopObject):
    def __init__(self, loop, object_id, expected):
        super().__init__(loop, object_id)
        self.expected = expected
        self.seen = []

    @signal
    def trajectory(self):
        ...

    @signal
    def produce(self):
        ...

    @signal
    def stop_learner(self):
        ...

    def on_trained(self, n, source, batcher_pid, learner_pid):
        self.seen.append((n, source, batcher_pid, learner_pid))
        if len(self.seen) == self.expected:
            self.stop_learner.emit()


def test_a_loop_made_in_the_parent_runs_in_the_child_that_refers_to_it(context):
    loop = EventLoop("carry_main")
    timeout = Timer(loop, DEADLINE, single_shot=True)
    timeout.timeout.connect(loop.stop)
    main = Main(loop, "main", expected=9)

    batcher_loop = EventLoop("carry_batcher_evt_loop")
    batcher = Batcher(batcher_loop, "batcher")
    batcher_loop.owner = batcher
    learner_proc = EventLoopProcess("carry_learner", context)
    learner = Learner(learner_proc.event_loop, "learner", batcher)
    learner_proc.event_loop.start.connect(learner.init)
    rollout_proc = EventLoopProcess("carry_rollout", context)
    rollout = Rollout(rollout_proc.event_loop, "rollout")

    main.trajectory.connect(batcher.on_trajectory)
    rollout.trajectory.connect(batcher.on_trajectory)
    batcher.batch_ready.connect(learner.on_batch)
    learner.trained.connect(main.on_trained)
    main.produce.connect(rollout.produce)
    main.stop_learner.connect(learner.on_stop)
    learner_proc.event_loop.terminate.connect(loop.stop)
    loop.terminate.connect(rollout_proc.stop)

    for n in range(3):
        main.trajectory.emit(n, "main")  # queued before the start: they go with the loop
    learner_proc.start()
    rollout_proc.start()
    for n in range(3, 6):
        main.trajectory.emit(n, "main")
    main.produce.emit(100, 3)

    assert loop.exec() == EventLoopStatus.NORMAL_TERMINATION
    learner_proc.join(timeout=DEADLINE)
    rollout_proc.join(timeout=DEADLINE)
    assert (learner_proc.exitcode, rollout_proc.exitcode) == (0, 0)

    assert [n for n, source, *_ in main.seen if source == "main"] == list(range(6))
    assert [n for n, source, *_ in main.seen if source == "rollout"] == [100, 101, 102]
    pids = {(batcher_pid, learner_pid) for *_, batcher_pid, learner_pid in main.seen}
    assert pids == {(learner_proc.pid, learner_proc.pid)}, "the batcher ran in the learner's process"
    # The parent gave the loop away: running it here says where it went.
    with pytest.raises(RuntimeError, match="went with process `carry_learner_evt_loop`"):
        batcher_loop.exec()


def test_a_loop_that_ran_stays_where_it_is(context):
    loop = EventLoop("carry_ran_main")
    loop.process_events()  # it ran: it is this process's
    holder_proc = EventLoopProcess("carry_ran_child", context)
    Holder(holder_proc.event_loop, "holder", Batcher(loop, "kept_batcher"))
    holder_proc.start()
    holder_proc.stop()
    holder_proc.join(timeout=DEADLINE)
    assert holder_proc.exitcode == 0
    loop.process_events()  # still runs here: it would raise if it had gone with the child


class Holder(EventLoopObject):
    def __init__(self, loop, object_id, other):
        super().__init__(loop, object_id)
        self.other = other
