"""Python rollout workers served by a Rust inference loop in another process.

Each worker (an `EventLoopProcess`, a Python child) steps a small made-up environment and emits its observations;
the policy, a Rust object on the loop of a Rust program started as a child of this process (`ProgramProcess`),
answers each with actions; the worker checks them against the policy's formula, steps again, and reports when its
episode is done. The main loop counts the reports, then asks the policy how many observations it served.

    cargo build --release --example inference_server
    python signal-slot-py/examples/rollout.py --server target/release/examples/inference_server [--spawn]
"""

import argparse
import array
import math
import multiprocessing
import time

from signal_slot.foreign import ProgramProcess
from signal_slot.signal_slot import EventLoop, EventLoopObject, EventLoopProcess, signal

OBSERVATION_SIZE = 8
ACTION_SIZE = 2


def expected_actions(observations):
    """The Rust policy's formula (examples/inference_server.rs), to check each answer."""
    weights = [((at % 7) - 3.0) / 4.0 for at in range(OBSERVATION_SIZE * ACTION_SIZE)]
    return [
        sum(w * o for w, o in zip(weights[row * OBSERVATION_SIZE : (row + 1) * OBSERVATION_SIZE], observations))
        for row in range(ACTION_SIZE)
    ]


class RolloutWorker(EventLoopObject):
    def __init__(self, event_loop, worker: int, steps: int):
        super().__init__(event_loop, f"worker{worker}")
        self.worker = worker
        self.steps = steps
        self.step = 0
        self.state = [math.sin(worker + i) for i in range(OBSERVATION_SIZE)]
        self.total_reward = 0.0

    @signal
    def observations(self):
        ...

    @signal
    def done(self):
        ...

    def on_start(self):
        self.observations.emit(self.worker, self.step, self.state)  # a list of floats: the Rust Vec<f32> takes it

    def on_actions(self, worker: int, step: int, actions: bytes):
        if worker != self.worker:
            return  # the policy's answers go to every worker; this one is another's
        # a Rust Vec<f32> arrives as the bytes of its numbers (numpy.frombuffer(actions, numpy.float32) reads it too)
        actions = array.array("f", actions)
        assert step == self.step, f"worker {self.worker}: action for step {step}, expected {self.step}"
        expected = expected_actions(self.state)
        # f32 on the Rust side
        assert all(abs(a - e) < 1e-3 * (1 + abs(e)) for a, e in zip(actions, expected)), (actions, expected)
        self.total_reward += actions[0]
        self.state = [math.tanh(s + 0.1 * actions[i % ACTION_SIZE]) for i, s in enumerate(self.state)]
        self.step += 1
        if self.step < self.steps:
            self.observations.emit(self.worker, self.step, self.state)
        else:
            self.done.emit(self.worker, self.step, self.total_reward)


class Coordinator(EventLoopObject):
    def __init__(self, event_loop, workers: int):
        super().__init__(event_loop, "coordinator")
        self.remaining = workers
        self.steps = 0
        self.served = None

    @signal
    def count(self):
        ...

    def on_done(self, worker: int, steps: int, total_reward: float):
        print(f"worker {worker}: {steps} steps, total reward {total_reward:.3f}")
        self.steps += steps
        self.remaining -= 1
        if self.remaining == 0:
            self.count.emit()

    def on_served(self, count: int):
        self.served = count
        self.event_loop.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True, help="the inference_server example, built")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--spawn", action="store_true", help="start the Python workers by spawn (default: fork)")
    args = parser.parse_args()

    server = ProgramProcess("inference", args.server, init="inference_server::serve",
                            init_args=(OBSERVATION_SIZE, ACTION_SIZE))
    server.start()
    policy = server.object("policy")

    main_loop = EventLoop("main")
    coordinator = Coordinator(main_loop, args.workers)
    coordinator.count.connect(policy.on_count)
    policy.served.connect(coordinator.on_served)

    context = multiprocessing.get_context("spawn" if args.spawn else "fork")
    processes = []
    for i in range(args.workers):
        process = EventLoopProcess(f"rollout{i}", multiprocessing_context=context)
        worker = RolloutWorker(process.event_loop, i, args.steps)
        process.event_loop.start.connect(worker.on_start)
        worker.observations.connect(policy.on_observations)
        policy.actions.connect(worker.on_actions)
        worker.done.connect(coordinator.on_done)
        processes.append(process)

    started = time.perf_counter()
    for process in processes:
        process.start()
    main_loop.exec()
    elapsed = time.perf_counter() - started

    for process in processes:
        process.stop()
        process.join()
    server.stop()
    server.join()
    assert coordinator.served == coordinator.steps, (coordinator.served, coordinator.steps)
    codes = [process.exitcode for process in processes] + [server.exitcode]
    assert codes == [0] * len(codes), codes
    print(f"{coordinator.steps} steps in {elapsed:.2f} s: {coordinator.steps / elapsed:,.0f} round trips/s "
          f"between Python workers and the Rust policy")
    print("Done!")


if __name__ == "__main__":
    main()
