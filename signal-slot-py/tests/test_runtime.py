"""The package's own promises, beyond the original's test file: what arrives, in which order, what a raising
slot, a killed child and a full queue do, both start methods."""

import logging
import os
import threading
import time

import pytest

from signal_slot.signal_slot import (
    EventLoop,
    EventLoopObject,
    EventLoopProcess,
    EventLoopStatus,
    Timer,
    TightLoop,
    signal,
)

# A test that fails must not hang the suite: every loop stops after this at the latest.
DEADLINE = 60.0


def stop_after(loop, seconds=DEADLINE):
    t = Timer(loop, seconds, single_shot=True)
    t.timeout.connect(loop.stop)
    return t


class Pinger(EventLoopObject):
    def __init__(self, loop, object_id, rounds):
        super().__init__(loop, object_id)
        self.rounds = rounds
        self.seen = []
        self.pids = set()

    @signal
    def ping(self):
        ...

    @signal
    def done(self):
        ...

    def on_pong(self, seq, pid):
        self.seen.append(seq)
        self.pids.add(pid)
        if seq + 1 < self.rounds:
            self.ping.emit(seq + 1)
        else:
            self.done.emit()


class Ponger(EventLoopObject):
    @signal
    def pong(self):
        ...

    def on_ping(self, seq):
        self.pong.emit(seq, os.getpid())


def test_round_trips_with_a_child(context):
    loop = EventLoop("rt_main")
    stop_after(loop)
    pinger = Pinger(loop, "pinger", rounds=500)
    p = EventLoopProcess("rt_child", context)
    ponger = Ponger(p.event_loop, "ponger")
    pinger.ping.connect(ponger.on_ping)
    ponger.pong.connect(pinger.on_pong)
    pinger.done.connect(loop.stop)
    loop.terminate.connect(p.stop)

    p.start()
    pinger.ping.emit(0)
    assert loop.exec() == EventLoopStatus.NORMAL_TERMINATION
    p.join(timeout=DEADLINE)

    assert pinger.seen == list(range(500))
    assert pinger.pids == {p.pid} and p.pid != os.getpid()
    assert p.exitcode == 0 and not p.is_alive()


def test_round_trips_with_a_loop_on_a_thread():
    loop = EventLoop("thread_main")
    stop_after(loop)
    worker = EventLoop("thread_worker")
    stop_after(worker)
    pinger = Pinger(loop, "pinger", rounds=2000)
    ponger = Ponger(worker, "ponger")
    pinger.ping.connect(ponger.on_ping)
    ponger.pong.connect(pinger.on_pong)
    pinger.done.connect(loop.stop)
    loop.terminate.connect(worker.stop)

    thread = threading.Thread(target=worker.exec)
    thread.start()
    pinger.ping.emit(0)
    loop.exec()
    thread.join(timeout=DEADLINE)

    assert not thread.is_alive()
    assert pinger.seen == list(range(2000))


class Counter(EventLoopObject):
    def __init__(self, loop, object_id, expected):
        super().__init__(loop, object_id)
        self.expected = expected
        self.next = 0
        self.out_of_order = 0

    @signal
    def report(self):
        ...

    def on_data(self, seq, payload):
        if seq != self.next:
            self.out_of_order += 1
        self.next = seq + 1
        if self.next == self.expected:
            self.report.emit(self.next, self.out_of_order, len(payload))


class Sink(EventLoopObject):
    def __init__(self, loop, object_id):
        super().__init__(loop, object_id)
        self.reports = []

    def on_report(self, *report):
        self.reports.append(report)
        self.event_loop.stop()


class Source(EventLoopObject):
    @signal
    def data(self):
        ...


def test_emit_many_arrives_whole_and_in_order(context):
    loop = EventLoop("many_main")
    stop_after(loop)
    sink = Sink(loop, "sink")
    source = Source(loop, "source")
    p = EventLoopProcess("many_child", context)
    counter = Counter(p.event_loop, "counter", expected=20_000)
    source.data.connect(counter.on_data)
    counter.report.connect(sink.on_report)
    loop.terminate.connect(p.stop)

    # Half before the child starts (queued for it), half after.
    payload = b"x" * 100
    source.data.emit_many([(seq, payload) for seq in range(10_000)])
    p.start()
    for first in range(10_000, 20_000, 100):
        source.data.emit_many([(seq, payload) for seq in range(first, first + 100)])
    loop.exec()
    p.join(timeout=DEADLINE)

    assert sink.reports == [(20_000, 0, 100)]
    assert p.exitcode == 0


class Subscriber(EventLoopObject):
    def __init__(self, loop, object_id):
        super().__init__(loop, object_id)
        self.got = []

    @signal
    def got_it(self):
        ...

    def on_news(self, news):
        self.got.append(news)
        self.got_it.emit(self.object_id, news)


class Collector(EventLoopObject):
    def __init__(self, loop, object_id, expected):
        super().__init__(loop, object_id)
        self.expected = expected
        self.got = []

    def on_got_it(self, who, news):
        self.got.append((who, news))
        if len(self.got) == self.expected:
            self.event_loop.stop()


class News(EventLoopObject):
    @signal
    def news(self):
        ...


def test_broadcast_reaches_every_subscriber_of_the_loop_in_another_process(context):
    loop = EventLoop("bcast_main")
    stop_after(loop)
    collector = Collector(loop, "collector", expected=4)
    news = News(loop, "news")
    p = EventLoopProcess("bcast_child", context)
    subscribers = [Subscriber(p.event_loop, f"sub{i}") for i in range(2)]
    news.news.broadcast_on(p.event_loop)
    for s in subscribers:
        s.subscribe("news", s.on_news)
        s.got_it.connect(collector.on_got_it)
    loop.terminate.connect(p.stop)

    p.start()
    news.news.emit("first")
    news.news.emit("second")
    loop.exec()
    p.join(timeout=DEADLINE)

    assert sorted(collector.got) == [("sub0", "first"), ("sub0", "second"), ("sub1", "first"), ("sub1", "second")]


class Raiser(EventLoopObject):
    def boom(self, x):
        raise ZeroDivisionError(f"boom {x}")


def test_a_raising_slot_ends_exec_with_its_exception(caplog):
    loop = EventLoop("raise_main")
    stop_after(loop)
    source = Source(loop, "source")
    raiser = Raiser(loop, "raiser")
    source.data.connect(raiser.boom)
    source.data.emit(7)
    with caplog.at_level(logging.ERROR):
        with pytest.raises(ZeroDivisionError, match="boom 7"):
            loop.exec()
    # Reported as the original reports it: the loop, the slot, the emitter and the arguments.
    assert "unhandled exception in slot='boom'" in caplog.text and "args=(7,)" in caplog.text


def test_a_raising_slot_ends_the_child_with_its_traceback(context, capfd):
    p = EventLoopProcess("raise_child", context)
    raiser = Raiser(p.event_loop, "raiser")
    loop = EventLoop("raise_child_main")
    source = Source(loop, "source")
    source.data.connect(raiser.boom)
    p.start()
    source.data.emit(9)
    p.join(timeout=DEADLINE)
    assert p.exitcode == 1  # as multiprocessing's for an exception in the target
    assert "ZeroDivisionError: boom 9" in capfd.readouterr().err


def test_an_init_function_runs_in_the_child_before_any_slot(context):
    loop = EventLoop("init_main")
    stop_after(loop)
    sink = Sink(loop, "sink")
    p = EventLoopProcess("init_child", context, init_func=set_env, args=("SIGNAL_SLOT_PY_TEST", "set"))
    reporter = EnvReporter(p.event_loop, "reporter")
    reporter.report.connect(sink.on_report)
    source = Source(loop, "source")
    source.data.connect(reporter.on_ask)
    loop.terminate.connect(p.stop)

    source.data.emit("SIGNAL_SLOT_PY_TEST")  # queued before the start
    p.start()
    loop.exec()
    p.join(timeout=DEADLINE)

    assert sink.reports == [("SIGNAL_SLOT_PY_TEST", "set", p.pid)]
    assert "SIGNAL_SLOT_PY_TEST" not in os.environ


def set_env(name, value):
    os.environ[name] = value


class EnvReporter(EventLoopObject):
    @signal
    def report(self):
        ...

    def on_ask(self, name):
        self.report.emit(name, os.environ.get(name), os.getpid())


def test_a_full_queue_drops_and_counts_what_does_not_fit():
    loop = EventLoop("full_main")
    source = Source(loop, "source")
    counter = Counter(loop, "counter", expected=-1)
    source.data.connect(counter.on_data)
    sent = 150_000  # more than a loop's queue holds (100,000 signals)
    for seq in range(sent):
        source.data.emit(seq, b"")
    dropped = loop.dropped_signals
    for _ in range(1000):  # each call runs a bounded share of what waits
        if counter.next + dropped == sent:
            break
        loop.process_events()
    # Every signal is delivered or counted, and the ones delivered are the first ones, in order.
    assert dropped > 0
    assert counter.next + dropped == sent
    assert counter.out_of_order == 0


def test_a_killed_child_is_reported_and_what_is_sent_to_it_counted(context):
    p = EventLoopProcess("killed_child", context)
    Counter(p.event_loop, "counter", expected=-1)
    loop = EventLoop("killed_main")
    source = Source(loop, "source")
    source.data.connect(p.event_loop.objects["counter"].on_data)
    p.start()
    p.kill()
    p.join(timeout=DEADLINE)
    assert p.exitcode == -9 and not p.is_alive()

    before = p.dropped_signals
    for seq in range(100):
        source.data.emit(seq, b"")  # never raises
    assert p.dropped_signals - before == 100


class Ticks(EventLoopObject):
    def __init__(self, loop, object_id):
        super().__init__(loop, object_id)
        self.ticks = []

    def on_tick(self):
        self.ticks.append(time.monotonic())


def test_timers_fire_on_time():
    loop = EventLoop("timer_main")
    periodic, once, tight = Ticks(loop, "periodic"), Ticks(loop, "once"), Ticks(loop, "tight")
    t = Timer(loop, 0.02)
    t.timeout.connect(periodic.on_tick)
    s = Timer(loop, 0.1, single_shot=True)
    s.timeout.connect(once.on_tick)
    tl = TightLoop(loop)
    tl.iteration.connect(tight.on_tick)
    stop = Timer(loop, 0.5, single_shot=True)
    stop.timeout.connect(loop.stop)
    started = time.monotonic()
    loop.exec()
    elapsed = time.monotonic() - started

    assert 0.45 < elapsed < 5.0
    assert 10 <= len(periodic.ticks) <= 26
    assert len(once.ticks) == 1 and 0.08 < once.ticks[0] - started < 0.45
    assert len(tight.ticks) > 100


def test_an_object_that_cannot_be_pickled_fails_the_spawn_start_clearly():
    import multiprocessing

    p = EventLoopProcess("unpicklable_child", multiprocessing.get_context("spawn"))
    o = Source(p.event_loop, "source")
    o.lock = threading.Lock()
    with pytest.raises(RuntimeError, match="pickle"):
        p.start()


def test_loop_names_can_be_reused_while_an_old_loop_lives():
    first = EventLoop("same_name")
    second = EventLoop("same_name")
    assert first._native.name != second._native.name
    sink = Sink(second, "sink")
    source = Source(second, "source")
    source.data.connect(sink.on_report)
    source.data.emit(1)
    second.process_events()
    assert sink.reports == [(1,)]


class Worker(EventLoopObject):
    @signal
    def result(self):
        ...

    def work(self, index, payload):
        self.result.emit(os.getpid(), index, len(payload), payload[-1:])


class Boss(EventLoopObject):
    def __init__(self, loop, object_id, expected):
        super().__init__(loop, object_id)
        self.expected = expected
        self.got = []

    @signal
    def task(self):
        ...

    def on_result(self, *result):
        self.got.append(result)
        if len(self.got) == self.expected:
            self.event_loop.stop()


def descriptors_and_memory():
    import gc

    gc.collect()
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return len(os.listdir("/proc/self/fd")), rss // 1024


# From bytes to 32 MiB: past the ring's half (4 MiB), a signal goes beside it in shared memory.
SIZES = [0, 1, 100, 10_000, 1 << 20, 5 << 20, 32 << 20]


def test_waves_of_processes_deliver_every_size_and_leave_nothing_behind(context):
    after = []
    for wave in range(5):
        loop = EventLoop(f"wave_main_{wave}")
        stop_after(loop)
        boss = Boss(loop, "boss", expected=3 * len(SIZES))
        processes = []
        for j in range(3):
            p = EventLoopProcess(f"wave{wave}_{j}", context)
            worker = Worker(p.event_loop, f"worker{j}")
            boss.task.connect(worker.work)
            worker.result.connect(boss.on_result)
            loop.terminate.connect(p.stop)
            processes.append(p)
        for p in processes:
            p.start()
        for index, size in enumerate(SIZES):
            boss.task.emit(index, bytes([index]) * size)
        loop.exec()
        for p in processes:
            p.join(timeout=DEADLINE)

        expected = {(p.pid, i, size, bytes([i]) * min(size, 1)) for p in processes for i, size in enumerate(SIZES)}
        assert set(boss.got) == expected and len(boss.got) == len(expected)
        assert [p.exitcode for p in processes] == [0, 0, 0]
        assert loop.dropped_signals == 0
        del loop, boss, processes, p, worker
        after.append(descriptors_and_memory())

    # Flat after the first waves: descriptors exactly, memory within a few MiB.
    (fds_first, rss_first), (fds_last, rss_last) = after[1], after[-1]
    assert fds_last <= fds_first, after
    assert rss_last <= rss_first + 16, after


def put_pid(queue):
    queue.put(("hello from", os.getpid()))


def test_a_queue_of_queue_utils_reaches_a_child_as_an_init_argument(context):
    # As Sample Factory passes its buffer and request queues to its processes.
    from signal_slot.queue_utils import get_mp_queue

    queue = get_mp_queue()
    p = EventLoopProcess("queue_child", context, init_func=put_pid, args=(queue,))
    p.start()
    got = queue.get_many(timeout=DEADLINE)
    p.stop()
    p.join(timeout=DEADLINE)
    assert got == [("hello from", p.pid)]
    assert p.exitcode == 0


class Interrupter(EventLoopObject):
    def __init__(self, loop, object_id):
        super().__init__(loop, object_id)
        self.ticks = 0

    def on_tick(self, pid):
        self.ticks += 1
        if self.ticks == 3:
            import signal as signals

            os.kill(os.getpid(), signals.SIGINT)  # Ctrl-C, to this process only


class TickSource(EventLoopObject):
    @signal
    def tick(self):
        ...

    def on_timeout(self):
        self.tick.emit(os.getpid())


def test_ctrl_c_ends_exec_as_interrupted_and_the_child_still_stops_when_asked(context):
    loop = EventLoop("ctrl_c_main")
    stop_after(loop)
    interrupter = Interrupter(loop, "interrupter")
    p = EventLoopProcess("ctrl_c_child", context)
    source = TickSource(p.event_loop, "source")
    timer = Timer(p.event_loop, 0.02)
    timer.timeout.connect(source.on_timeout)
    source.tick.connect(interrupter.on_tick)
    p.start()

    assert loop.exec() == EventLoopStatus.INTERRUPTED
    assert interrupter.ticks == 3
    p.stop()
    p.join(timeout=DEADLINE)
    assert p.exitcode == 0


class Nested(EventLoopObject):
    """Calls process_events from inside its slot, as Sample Factory's runner does while it starts processes."""

    def __init__(self, loop):
        super().__init__(loop, "nested")
        self.seen = []

    def on_value(self, value, _payload):
        self.seen.append(value)
        if value == 0:
            for _ in range(3):
                self.event_loop.process_events()  # returns at once: the next signals wait for this slot
            self.seen.append("returned")
        if len(self.seen) == 4:
            self.event_loop.stop()


def test_process_events_inside_a_slot_returns_and_leaves_what_is_due_for_later():
    loop = EventLoop("nested_loop")
    guard = stop_after(loop)
    nested = Nested(loop)
    src = Source(loop, "nested_source")
    src.data.connect(nested.on_value)
    for value in range(3):
        src.data.emit(value, b"")
    loop.exec()
    guard.stop()
    assert nested.seen == [0, "returned", 1, 2]


def test_qsize_says_how_many_signals_wait_for_a_loop():
    loop = EventLoop("qsize_loop")
    counter = Counter(loop, "qsize_counter", expected=100)
    src = Source(loop, "qsize_source")
    src.data.connect(counter.on_data)
    assert loop.signal_queue.qsize() == 0 and loop.signal_queue.empty()
    for value in range(100):
        src.data.emit(value, b"")
    assert loop.signal_queue.qsize() == 100
    loop.process_events()
    assert loop.signal_queue.qsize() == 0
    assert counter.next == 100 and counter.out_of_order == 0


class PipeWriter(EventLoopObject):
    def on_pipe(self, connection, text):
        connection.send((text, os.getpid()))
        connection.close()


def test_arguments_are_pickled_as_multiprocessing_pickles_them(context):
    """What `multiprocessing` shares rather than copies (here one end of a pipe; in Sample Factory, a model whose
    weights live in shared memory) reaches the slot of another process shared, as with the original's queue: the
    child writes into the parent's pipe."""
    import multiprocessing

    loop = EventLoop("forking_pickler_main")
    source = Source(loop, "source")
    p = EventLoopProcess("forking_pickler_child", context)
    writer = PipeWriter(p.event_loop, "writer")
    source.data.connect(writer.on_pipe)
    p.start()
    ours, theirs = multiprocessing.Pipe()
    source.data.emit(theirs, "through the pipe")
    assert ours.poll(DEADLINE), "nothing came through the pipe"
    assert ours.recv() == ("through the pipe", p.pid)
    p.stop()
    p.join(timeout=DEADLINE)
    assert p.exitcode == 0
