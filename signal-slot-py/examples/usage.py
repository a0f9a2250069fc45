"""The original's usage example, unchanged but for its length: object `a` on the main loop, object `b` on a loop in
a child process, talking through signals until a timer stops both.

    python signal-slot-py/examples/usage.py [--seconds 10] [--spawn]
"""

import argparse
import datetime
import multiprocessing
import time

from signal_slot.signal_slot import EventLoop, EventLoopObject, EventLoopProcess, Timer, signal

now = datetime.datetime.now


# classes derived from EventLoopObject define signals and slots (actually any method can be a slot)
class A(EventLoopObject):
    @signal
    def signal_a(self):
        ...

    def on_signal_b(self, msg: str):
        print(f"{now()} {self.object_id} received signal_b: {msg}")
        time.sleep(1)
        self.signal_a.emit("hello from A", 42)


class B(EventLoopObject):
    @signal
    def signal_b(self):
        ...

    def on_signal_a(self, msg: str, other_data: int):
        print(f"{now()} {self.object_id} received signal_a: {msg} {other_data}")
        time.sleep(1)
        self.signal_b.emit("hello from B")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--spawn", action="store_true", help="start the child by spawn (default: fork)")
    args = parser.parse_args()

    # create main event loop and object of type A
    main_event_loop = EventLoop("main_loop")
    a = A(main_event_loop, "object: a")

    # create a background process with a separate event loop and object b that lives on that event loop
    context = multiprocessing.get_context("spawn" if args.spawn else "fork")
    bg_process = EventLoopProcess(unique_process_name="background_process", multiprocessing_context=context)
    b = B(bg_process.event_loop, "object: b")

    # connect signals and slots
    a.signal_a.connect(b.on_signal_a)
    b.signal_b.connect(a.on_signal_b)

    # emit signal from a to kick off the communication
    a.signal_a.emit("Initial hello from A", 1337)

    # create a timer that will stop our system after a while
    stop_timer = Timer(main_event_loop, args.seconds, single_shot=True)
    stop_timer.start()

    # connect the stop method of the event loop to the timeout signal of the timer
    stop_timer.timeout.connect(main_event_loop.stop)
    stop_timer.timeout.connect(bg_process.stop)  # stops the event loop of the background process

    # start the background process
    bg_process.start()

    # start the main event loop
    main_event_loop.exec()

    # if we get here, the main event loop has stopped
    # wait for the background process to finish
    bg_process.join()

    print(f"{now()} Done!")


if __name__ == "__main__":
    main()
