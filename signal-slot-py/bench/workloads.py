"""The benchmark's workloads W1-W4 (see BENCHMARKS.md), written against the API of ``signal-slot-mp``: the same
script runs on the original and on this package, whichever ``signal_slot`` the interpreter imports.

    python workloads.py --workload W1 --placement process --n 20000 --runs 3

prints one JSON line per timed run (after one untimed warm-up run): the time from the first emission to the last
delivery (the final ack), and what was delivered. A run that loses a signal does not finish: it is reported as
failed after ``--timeout`` seconds, never as fast.
"""

import argparse
import json
import os
import sys
import threading
import time

from signal_slot.signal_slot import EventLoop, EventLoopObject, EventLoopProcess, Timer, signal

# W2, W2b, W3: window and ack interval; W4: 64 KiB payloads, window 64, ack every 16.
SHAPES = {
    "W1": dict(window=1, ack_every=1, payload=0, batch=1),
    "W2": dict(window=10_000, ack_every=1_000, payload=0, batch=1),
    "W2b": dict(window=10_000, ack_every=1_000, payload=0, batch=100),
    "W3": dict(window=10_000, ack_every=1_000, payload=0, batch=1),
    "W4": dict(window=64, ack_every=16, payload=64 * 1024, batch=1),
}


class Sender(EventLoopObject):
    def __init__(self, loop, object_id, n, window, batch, payload, loops):
        super().__init__(loop, object_id)
        self.n, self.window, self.batch, self.loops = n, window, batch, loops
        self.payload = b"x" * payload
        self.sent = 0
        self.acked = {}
        self.started = self.finished = None

    @signal
    def data(self):
        ...

    @signal
    def done(self):
        ...

    def acked_all(self):
        return min(self.acked.values()) if len(self.acked) == self.loops else 0

    def send(self):
        limit = min(self.n, self.acked_all() + self.window)
        while self.sent < limit:
            if self.batch > 1:
                count = min(self.batch, limit - self.sent)
                self.data.emit_many([(seq, self.payload) for seq in range(self.sent, self.sent + count)])
                self.sent += count
            else:
                self.data.emit(self.sent, self.payload)
                self.sent += 1

    def on_start(self):
        self.started = time.perf_counter()
        self.send()

    def on_ack(self, loop_name, count):
        self.acked[loop_name] = count
        if self.acked_all() >= self.n:
            self.finished = time.perf_counter()
            self.done.emit()
            self.event_loop.stop()
        else:
            self.send()


class Receiver(EventLoopObject):
    def __init__(self, loop, object_id, n, ack_every, acks):
        super().__init__(loop, object_id)
        self.n, self.ack_every, self.acks = n, ack_every, acks
        self.expected = 0
        self.errors = 0

    @signal
    def ack(self):
        ...

    def on_data(self, seq, payload):
        if seq != self.expected:
            self.errors += 1
        self.expected = seq + 1
        if self.acks and (self.expected % self.ack_every == 0 or self.expected == self.n):
            self.ack.emit(self.event_loop.object_id, self.expected - self.errors)


def run_once(workload, placement, n, tag, timeout):
    shape = SHAPES[workload]
    main = EventLoop(f"bench_main_{tag}")
    deadline = Timer(main, timeout, single_shot=True)
    deadline.timeout.connect(main.stop)
    loops_wanted = 2 if workload == "W3" else 1
    per_loop = 4 if workload == "W3" else 1
    sender = Sender(main, "sender", n, shape["window"], shape["batch"], shape["payload"], loops_wanted)

    others, processes, threads = [], [], []
    for i in range(loops_wanted):
        if placement == "process":
            p = EventLoopProcess(f"bench_p{i}_{tag}")
            processes.append(p)
            loop = p.event_loop
            main.terminate.connect(p.stop)
        else:
            loop = EventLoop(f"bench_t{i}_{tag}")
            main.terminate.connect(loop.stop)
        others.append(loop)
        for j in range(per_loop):
            r = Receiver(loop, f"receiver{i}_{j}", n, shape["ack_every"], acks=(j == 0))
            sender.data.connect(r.on_data)
            if j == 0:
                r.ack.connect(sender.on_ack)

    # the start: once every loop runs, the first emission
    starter = Timer(main, 0.3, single_shot=True)
    starter.timeout.connect(sender.on_start)

    for p in processes:
        p.start()
    for loop in others if placement == "thread" else ():
        t = threading.Thread(target=loop.exec)
        t.start()
        threads.append(t)
    main.exec()
    for p in processes:
        p.join()
    for t in threads:
        t.join()

    if sender.finished is None:
        return None
    return sender.finished - sender.started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", required=True, choices=list(SHAPES))
    parser.add_argument("--placement", required=True, choices=["thread", "process"])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--system", default="signal_slot")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--no-warmup", action="store_true")
    args = parser.parse_args()

    if not args.no_warmup:
        run_once(args.workload, args.placement, max(args.n // 10, 100), "warmup", args.timeout)
    for run in range(args.runs):
        took = run_once(args.workload, args.placement, args.n, f"r{run}", args.timeout)
        if took is None:
            value, unit = None, "failed"
        elif args.workload == "W1":
            value, unit = args.n / took, "round trips/s"
        elif args.workload == "W3":
            value, unit = args.n * 8 / took, "deliveries/s"
        elif args.workload == "W4":
            value, unit = args.n * SHAPES["W4"]["payload"] / took / 1e6, "MB/s"
        else:
            value, unit = args.n / took, "signals/s"
        record = dict(system=args.system, workload=args.workload, placement=args.placement, n=args.n)
        record.update(value=value, unit=unit, seconds=took)
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
