"""Queues for user code, as ``signal-slot-mp`` gives them (``put_many``, ``get_many``..): Sample Factory passes
buffers and requests through them.

The event loops do not use them: their queues are the runtime's (shared-memory rings between processes).
``get_mp_queue`` gives ``faster_fifo.Queue``, as the original does (it travels to children started by fork or by
spawn); where faster-fifo is not installed (Windows), a queue over a pipe whose ``put`` is written before it returns,
shared with children started by fork.
"""

import multiprocessing
import time
from queue import Empty, Queue


def get_queue(serial=False, buffer_size_bytes=1_000_000):
    if serial:
        # for serial execution we don't need the multiprocessing queue
        return QueueWrapper()
    else:
        return get_mp_queue(buffer_size_bytes)


def get_mp_queue(buffer_size_bytes=1_000_000):
    try:
        from faster_fifo import Queue as FasterFifoQueue
    except ImportError:
        return MpQueue(max_size_bytes=buffer_size_bytes)
    return FasterFifoQueue(max_size_bytes=buffer_size_bytes)


class QueueWrapper(Queue):
    def get_many(self, block=True, timeout=float(1e3), max_messages_to_get=int(1e9)):
        msgs = []

        while len(msgs) < max_messages_to_get:
            try:
                if len(msgs) == 0:
                    msg = self.get(block, timeout)
                else:
                    msg = self.get_nowait()

                msgs.append(msg)
            except Empty:
                break

        if not msgs:
            raise Empty
        return msgs

    def get_many_nowait(self, max_messages_to_get=int(1e9)):
        return self.get_many(block=False, max_messages_to_get=max_messages_to_get)

    def put_many(self, xs, block=True, timeout=float(1e3)):
        started = time.time()

        for x in xs:
            self.put(x, block, timeout)
            time_elapsed = time.time() - started
            timeout = max(0.0, timeout - time_elapsed)

    def put_many_nowait(self, xs):
        self.put_many(xs, block=False)


class MpQueue:
    """A queue between processes: a pipe, written by ``put`` before it returns. ``max_size_bytes`` is accepted
    for compatibility (the pipe's own buffer bounds it: a ``put`` into a full pipe waits)."""

    def __init__(self, max_size_bytes=200000):
        self.max_size_bytes = max_size_bytes
        self.q = multiprocessing.SimpleQueue()
        self._closed = False

    def close(self):
        self.q.close()
        self._closed = True

    def is_closed(self):
        return self._closed

    def put(self, x, block=True, timeout=float(1e3)):
        self.q.put(x)

    def put_nowait(self, x):
        return self.put(x, block=False)

    def put_many(self, xs, block=True, timeout=float(1e3)):
        for x in xs:
            self.q.put(x)

    def put_many_nowait(self, xs):
        self.put_many(xs, block=False)

    def get_many(self, block=True, timeout=float(1e3), max_messages_to_get=int(1e9)):
        msgs = []
        # noinspection PyProtectedMember
        reader = self.q._reader
        if block and not reader.poll(timeout):
            raise Empty
        while len(msgs) < max_messages_to_get and not self.q.empty():
            msgs.append(self.q.get())
        if not msgs:
            raise Empty
        return msgs

    def get_many_nowait(self, max_messages_to_get=int(1e9)):
        return self.get_many(block=False, max_messages_to_get=max_messages_to_get)

    def get(self, block=True, timeout=float(1e3)):
        return self.get_many(block=block, timeout=timeout, max_messages_to_get=1)[0]

    def get_nowait(self):
        return self.get(block=False)

    def empty(self):
        return self.q.empty()
