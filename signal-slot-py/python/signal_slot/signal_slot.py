"""Event loops, signals and slots: the API of ``signal-slot-mp`` on the
signal-slot runtime.

Objects, their signals and connections are kept in Python as in the
original (a connection lives with its emitter and its receiver, an
emission goes once to each receiving loop, which calls the slots). What is
underneath is the runtime's: each ``EventLoop`` is a loop of the runtime,
its queue is the runtime's queue (shared-memory rings between processes),
an ``EventLoopProcess`` is a process of the runtime, started by fork or by
spawn, and what a full queue drops is counted (``EventLoop.dropped_signals``).

The API and much of this module follow ``signal-slot-mp`` (MIT licence,
Copyright (c) 2022 Aleksei Petrenko; see LICENSE-signal-slot-mp).
"""

from __future__ import annotations

import base64
import logging
import multiprocessing
import os
import pickle
import sys
import threading
import time
import types
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple, Union

from signal_slot import _native
from signal_slot.utils import error_log_every_n

log = logging.getLogger(__name__)

_send = _native.send
_send_many = _native.send_many

# what the loop's host is told after each piece of work: stop, or go on (and its next timer, if it changed)
_STOP = (True, None)
_GO = (False, None)


def configure_logger(logger):
    global log
    log = logger


# type aliases for clarity
ObjectID = Any  # ObjectID can be any hashable type, usually a string
MpQueue = Any  # here: the host of a loop (signal_slot._native.HostRef)
BoundMethod = Any
StatusCode = int


@dataclass(frozen=True)
class Emitter:
    object_id: ObjectID
    signal_name: str


@dataclass(frozen=True)
class Receiver:
    object_id: ObjectID
    slot_name: str


# noinspection PyPep8Naming
class signal:
    def __init__(self, _):
        self._name = None
        self._obj: Optional[EventLoopObject] = None

    @property
    def obj(self):
        return self._obj

    @property
    def name(self):
        return self._name

    def __set_name__(self, owner, name):
        self._name = name

    def __get__(self, obj, objtype=None):
        assert isinstance(
            obj, EventLoopObject
        ), f"signals can only be added to {EventLoopObject.__name__}, not {type(obj)}"
        self._obj = obj
        return self

    def connect(self, other: Union[EventLoopObject, BoundMethod], slot: str = None):
        self._obj.connect(self._name, other, slot)

    def disconnect(self, other: Union[EventLoopObject, BoundMethod], slot: str = None):
        self._obj.disconnect(self._name, other, slot)

    def emit(self, *args):
        # EventLoopObject.emit, inlined: the hot path
        obj, name = self._obj, self._name
        queues = obj._send_queues.get(name)
        if queues is None:
            queues = obj._queues_of(name)
        if queues:
            dropped = _send(queues, obj.object_id, name, args)
            if dropped:
                obj._dropped(name, dropped)

    def emit_many(self, list_of_args: Iterable[Tuple]):
        self._obj.emit_many(self._name, list_of_args)

    def broadcast_on(self, event_loop: EventLoop):
        self._obj.register_broadcast(self._name, event_loop)


class EventLoopObject:
    def __init__(self, event_loop, object_id=None):
        # the reason we can't use regular id() is because depending on the process spawn method the same objects
        # can have the same id() (in Fork method) or different id() (spawn method)
        self.object_id = object_id if object_id is not None else self._default_obj_id()

        # check if there is already an object with the same id on this event loop
        if self.object_id in event_loop.objects:
            raise ValueError(f"{self.object_id=} is already registered on {event_loop=}")

        self.event_loop: EventLoop = event_loop
        self.event_loop.objects[self.object_id] = self

        # receivers of signals emitted by this object
        self.send_signals_to: Dict[str, Set[ObjectID]] = dict()
        self.receiver_queues: Dict[ObjectID, MpQueue] = dict()
        self.receiver_refcount: Dict[ObjectID, int] = dict()

        # connections (emitter -> slot name)
        self.connections: Dict[Emitter, str] = dict()

        # the loops each signal goes to, found again after each connect or disconnect of this emitter
        self._send_queues: Dict[str, Tuple[MpQueue, ...]] = dict()

        self.event_loop._connections_changed()

    def _default_obj_id(self):
        return str(uuid.uuid4())

    def _add_to_loop(self, loop):
        self.event_loop = loop
        self.event_loop.objects[self.object_id] = self
        self.event_loop._connections_changed()

    @staticmethod
    def _add_to_dict_of_sets(d: Dict[Any, Set], key, value):
        if key not in d:
            d[key] = set()
        d[key].add(value)

    @staticmethod
    def _throw_if_different_processes(o1: EventLoopObject, o2: EventLoopObject):
        o1_p, o2_p = o1.event_loop.process, o2.event_loop.process
        if o1_p != o2_p:
            msg = f"Objects {o1.object_id} and {o2.object_id} live on different processes"
            log.error(msg)
            raise RuntimeError(msg)

    @staticmethod
    def _bound_method_to_obj_slot(obj, slot):
        if isinstance(obj, (types.MethodType, types.BuiltinMethodType)):
            slot = obj.__name__
            obj = obj.__self__

        assert isinstance(obj, EventLoopObject), f"slot should be a method of {EventLoopObject.__name__}"
        assert slot is not None
        return obj, slot

    def connect(self, signal_: str, other: EventLoopObject | BoundMethod, slot: str = None):
        if hasattr(other, "_native_slot"):
            return self._connect_foreign(signal_, other)
        other, slot = self._bound_method_to_obj_slot(other, slot)

        self._throw_if_different_processes(self, other)

        emitter = Emitter(self.object_id, signal_)
        receiver_id = other.object_id

        # check if we already have a different object with the same name
        if receiver_id in self.event_loop.objects:
            if self.event_loop.objects[receiver_id] is not other:
                raise ValueError(f"{receiver_id=} object is already registered on {self.event_loop.object_id=}")

        self._add_to_dict_of_sets(self.send_signals_to, signal_, receiver_id)

        receiving_loop = other.event_loop
        self._add_to_dict_of_sets(receiving_loop.receivers, emitter, receiver_id)

        q = receiving_loop.signal_queue
        self.receiver_queues[receiver_id] = q
        self.receiver_refcount[receiver_id] = self.receiver_refcount.get(receiver_id, 0) + 1

        other.connections[emitter] = slot
        self._send_queues.clear()
        receiving_loop._connections_changed()

    def disconnect(self, signal_, other: EventLoopObject | BoundMethod, slot: str = None):
        if hasattr(other, "_native_slot"):
            return self._disconnect_foreign(signal_, other)
        other, slot = self._bound_method_to_obj_slot(other, slot)

        self._throw_if_different_processes(self, other)

        if signal_ not in self.send_signals_to:
            log.warning(f"{self.object_id}:{signal_=} is not connected to anything")
            return

        receiver_id = other.object_id
        if receiver_id not in self.send_signals_to[signal_]:
            log.warning(f"{self.object_id}:{signal_=} is not connected to {receiver_id}:{slot=}")
            return

        self.send_signals_to[signal_].remove(receiver_id)

        self.receiver_refcount[receiver_id] -= 1
        if self.receiver_refcount[receiver_id] <= 0:
            del self.receiver_refcount[receiver_id]
            del self.receiver_queues[receiver_id]

        emitter = Emitter(self.object_id, signal_)
        del other.connections[emitter]

        loop_receivers = other.event_loop.receivers.get(emitter)
        if loop_receivers is not None:
            loop_receivers.remove(other.object_id)
        self._send_queues.clear()
        other.event_loop._connections_changed()

    def _connect_foreign(self, signal_: str, slot):
        """Connects to a slot of an object of another program (`signal_slot.foreign`): its reference is held as a
        receiving loop's host is, and an emission is encoded for it as plain MessagePack."""
        receiver_id = slot._receiver_id
        self._add_to_dict_of_sets(self.send_signals_to, signal_, receiver_id)
        if receiver_id not in self.receiver_queues:
            self.receiver_queues[receiver_id] = slot._native_slot
        self.receiver_refcount[receiver_id] = self.receiver_refcount.get(receiver_id, 0) + 1
        self._send_queues.clear()

    def _disconnect_foreign(self, signal_: str, slot):
        receiver_id = slot._receiver_id
        if receiver_id not in self.send_signals_to.get(signal_, ()):
            log.warning(f"{self.object_id}:{signal_=} is not connected to {receiver_id}")
            return
        self.send_signals_to[signal_].remove(receiver_id)
        self.receiver_refcount[receiver_id] -= 1
        if self.receiver_refcount[receiver_id] <= 0:
            del self.receiver_refcount[receiver_id]
            del self.receiver_queues[receiver_id]
        self._send_queues.clear()

    def register_broadcast(self, signal_: str, event_loop: EventLoop):
        self.connect(signal_, event_loop.broadcast)

    def subscribe(self, signal_: str, slot: Union[BoundMethod, str]):
        if isinstance(slot, (types.MethodType, types.BuiltinMethodType)):
            slot = slot.__name__
        self.event_loop.connect(signal_, self, slot)

    def unsubscribe(self, signal_: str, slot: Union[BoundMethod, str]):
        if isinstance(slot, (types.MethodType, types.BuiltinMethodType)):
            slot = slot.__name__
        self.event_loop.disconnect(signal_, self, slot)

    def emit(self, signal_: str, *args):
        queues = self._send_queues.get(signal_)
        if queues is None:
            queues = self._queues_of(signal_)
        if queues:
            # encoded once, here, for every receiving loop; each loop redistributes the signal to its receivers
            dropped = _send(queues, self.object_id, signal_, args)
            if dropped:
                self._dropped(signal_, dropped)

    def emit_many(self, signal_: str, list_of_args: Iterable[Tuple]):
        queues = self._send_queues.get(signal_)
        if queues is None:
            queues = self._queues_of(signal_)
        if queues:
            # one message to each receiving loop, all of them or none
            dropped = _send_many(queues, self.object_id, signal_, list_of_args)
            if dropped:
                self._dropped(signal_, dropped)

    def _queues_of(self, signal_: str):
        """The loops `signal_` goes to: one queue per receiving loop, however many receivers live there."""
        receiver_ids = self.send_signals_to.get(signal_, ())
        queues = tuple({self.receiver_queues[receiver_id]: None for receiver_id in receiver_ids})
        self._send_queues[signal_] = queues
        return queues

    def _dropped(self, signal_: str, dropped):
        # counted by the runtime (EventLoop.dropped_signals)
        receiver_ids = self.send_signals_to.get(signal_, ())
        for q, reason in dropped:
            receivers = sorted([r_id for r_id in receiver_ids if self.receiver_queues[r_id] is q])
            if reason in ("Gone", "AfterStop"):
                # the loop has ended or is stopping: the original queued these for nobody, silently
                log.debug(f"{self.object_id}:{signal_=} loop {q.loop_name} has ended. {receivers=}")
            elif reason == "Full":
                error_log_every_n(log, 100, f"{self.object_id}:{signal_=} queue is Full. {receivers=}")
            else:
                error_log_every_n(log, 100, f"{self.object_id}:{signal_=} dropped ({reason}). {receivers=}")

    def detach(self):
        """Detach the object from it's current event loop."""
        if self.event_loop:
            del self.event_loop.objects[self.object_id]
            self.event_loop._connections_changed()
            self.event_loop = None

    def __del__(self):
        self.detach()


class EventLoopStatus:
    NORMAL_TERMINATION, INTERRUPTED = range(2)


class EventLoop(EventLoopObject):
    def __init__(self, unique_loop_name, serial_mode=False, *, _process: bool = False):
        # objects living on this loop
        self.objects: Dict[ObjectID, EventLoopObject] = dict()

        # the receivers of each emitter's signal on this loop, and their slots, found again after each change
        self._dispatch: Dict[Tuple[ObjectID, str], Tuple[Emitter, Tuple[Tuple[EventLoopObject, str], ...]]] = dict()
        # set when a timer starts, stops or fires: the loop's host asks when it must wake next
        self._timers_changed = True

        super().__init__(self, unique_loop_name)

        # object responsible for stopping the loop (if any)
        self.owner: Optional[EventLoopObject] = None

        # here None means we're running on the main process, otherwise it is the process we belong to
        self.process: Optional[EventLoopProcess] = None

        # the runtime's loop: one in this process, or the loop of a child process. Every loop of the runtime is
        # an event loop of its own, so serial mode needs nothing more (`serial_mode` is accepted and kept).
        self.serial_mode = serial_mode
        self._native = _native.Process(self, unique_loop_name) if _process else _native.Loop(self, unique_loop_name)
        self.signal_queue = self._native.host()

        # Separate container to keep track of timers living on this thread. Start with one default timer.
        self.timers: List[Timer] = []
        self.default_timer = Timer(self, 0.05, object_id=f"{self.object_id}_timer")

        self.receivers: Dict[Emitter, Set[ObjectID]] = dict()

        # emitter of the signal which is currently being processed
        self.curr_emitter: Optional[Emitter] = None

        self.should_terminate = False

        self.verbose = False

        # connect to our own termination signal
        self._internal_terminate.connect(self._terminate)

    def __getstate__(self):
        # the runtime's loop stays with the process that made it; the host reaches it from anywhere. A loop that has
        # not run, pickled with the objects of a process started by spawn, goes with that process (see `_carrying`;
        # by fork, `_loops_referred_to` finds the same loops).
        state = self.__dict__.copy()
        native = state.pop("_native", None)
        carrying = _carrying()
        if carrying is not None and isinstance(native, _native.Loop) and native.can_carry():
            carrying.append(self)
            state["_carried"] = native.name
        return state

    def __setstate__(self, state):
        carried = state.pop("_carried", None)
        self.__dict__.update(state)
        if carried is not None:
            self._native = _native.Loop.carried(self, carried)

    @signal
    def start(self):
        """Emitted right before the start of the loop."""
        ...

    @signal
    def terminate(self):
        """Emitted upon loop termination."""
        ...

    @signal
    def _internal_terminate(self):
        """Internal signal: do not connect to this."""
        ...

    @property
    def dropped_signals(self) -> int:
        """Signals to this loop that this process dropped: its queue was full, or it had ended."""
        native = self.__dict__.get("_native")
        return native.dropped_signals() if native is not None else 0

    def add_timer(self, t: Timer):
        self.timers.append(t)
        self._timers_changed = True

    def remove_timer(self, t: Timer):
        self.timers.remove(t)
        self._timers_changed = True

    def _connections_changed(self):
        self._dispatch.clear()

    def stop(self):
        """
        Graceful termination: the loop will process all unprocessed signals before exiting.
        After this the loop does only one last iteration, if any new signals are emitted during this last iteration
        they will be ignored.
        """
        self._internal_terminate.emit()

    def _terminate(self):
        """Forceful termination, some of the signals currently in the queue might remain unprocessed."""
        self.should_terminate = True

    def broadcast(self, *args):
        curr_signal = self.curr_emitter.signal_name

        # we could re-emit the signal to reuse the existing signal propagation mechanism, but we can avoid
        # doing this to reduce overhead
        self._process_signal((self.object_id, curr_signal, args))

    def _process_signal(self, signal_):
        if self.verbose:
            log.debug(f"{self} received {signal_=}...")

        emitter_object_id, signal_name, args = signal_
        found = self._dispatch.get((emitter_object_id, signal_name))
        if found is None:
            found = self._receivers_of(Emitter(emitter_object_id, signal_name))
        emitter, receivers = found

        for obj, slot in receivers:
            self.curr_emitter = emitter
            if self.verbose:
                log.debug(f"{self} calling slot {obj.object_id}:{slot}")

            # noinspection PyBroadException
            try:
                getattr(obj, slot)(*args)
            except Exception as exc:
                self._slot_raised(emitter, slot, args, exc)

    def _slot_raised(self, emitter, slot, args, exc):
        log.error(f"{self} unhandled exception in {slot=} connected to {emitter=}, {args=}", exc_info=exc)
        raise exc

    def _receivers_of(self, emitter: Emitter):
        """The objects of this loop connected to `emitter`, and their slots, as the original finds them for each
        signal (with its warnings); kept until the connections or objects of this loop change."""
        receivers = []
        for obj_id in tuple(self.receivers.get(emitter, ())):
            obj = self.objects.get(obj_id)
            if obj is None:
                if self.verbose:
                    log.warning(
                        f"{self} attempting to call a slot on an object {obj_id} which is not found on this loop ({emitter=})"
                    )
                self.receivers[emitter].remove(obj_id)
                continue

            slot = obj.connections.get(emitter)
            if slot is None:
                log.warning(f"{self} {emitter=} does not appear to be connected to {obj_id=}")
                continue

            if not hasattr(obj, slot):
                log.warning(f"{self} {slot=} not found in object {obj_id}")
                continue

            if not callable(getattr(obj, slot)):
                log.warning(f"{self} {slot=} of {obj_id=} is not callable")
                continue

            receivers.append((obj, slot))

        found = (emitter, tuple(receivers))
        self._dispatch[(emitter.object_id, emitter.signal_name)] = found
        return found

    # --- called by the loop's host in the runtime -------------------------------------------------------------

    def _deliver(self, emitter_object_id, signal_name, args):
        """A signal for this loop's objects."""
        if self.should_terminate:
            # the loop's last iteration is over: signals that arrive now are ignored, as in the original
            return _STOP
        self._process_signal((emitter_object_id, signal_name, args))
        return self._after_work()

    def _foreign_undelivered(self, emitter_object_id, signal_name, why):
        """A signal of another program this loop cannot read (`signal_slot.foreign`): not delivered, and said."""
        error_log_every_n(
            log, 100, f"{self} cannot deliver {signal_name=} of {emitter_object_id}: {why}"
        )

    def _on_wake(self):
        """The closest timer may be due."""
        self._timers_changed = True
        # this is inefficient if we have a lot of short timers, but should do for now
        self._fire_due_timers()
        return self._after_work()

    def _after_work(self):
        """Whether the loop stops, and else how long until its next timer is due (None: as it was)."""
        if self.should_terminate:
            log.debug(f"Loop {self.object_id} terminating...")
            self.terminate.emit()
            return _STOP
        if not self._timers_changed:
            return _GO
        self._timers_changed = False
        if not self.timers:
            return _GO
        return False, max(0.0, min(t.next_timeout() for t in self.timers) - time.time())

    def _prepare_exec(self):
        self.default_timer.start()  # this will add timer to the loop's list of timers
        self.start.emit()

    def _child_start(self):
        """First thing in the child of an `EventLoopProcess`: its init function, then the loop starts."""
        if self.process is not None:
            self.process._run_init_func()
        self._prepare_exec()

    def exec(self) -> StatusCode:
        status: StatusCode = EventLoopStatus.NORMAL_TERMINATION
        if "_native" not in self.__dict__:
            raise RuntimeError(
                f"event loop {self.object_id} runs in another process: the one that created it, or the child whose "
                "objects referred to it when it started (a loop that has not run goes with it)"
            )

        try:
            self._prepare_exec()
            if self._native.exec() == 1:
                raise KeyboardInterrupt
        except Exception as exc:
            log.warning(f"Unhandled exception {exc} in evt loop {self.object_id}")
            raise exc
        except KeyboardInterrupt:
            log.info(f"Keyboard interrupt detected in the event loop {self}, exiting...")
            status = EventLoopStatus.INTERRUPTED

        return status

    def process_events(self):
        """Runs what is due now (signals, timers), without waiting. Called by a slot of this loop while it runs (as
        Sample Factory does while it starts processes), it returns at once: what is due runs once the slot returns
        (the original ran it inside the slot)."""
        self._native.process_events()

    def _fire_due_timers(self):
        for t in tuple(self.timers):
            if t.remaining_time() <= 0:
                t.fire()

    def __str__(self):
        return f"EvtLoop [{self.object_id}, process={process_name(self.process)}]"


class Timer(EventLoopObject):
    def __init__(self, event_loop: EventLoop, interval_sec: float, single_shot=False, object_id=None):
        super().__init__(event_loop, object_id)

        self._interval_sec = interval_sec
        self._single_shot = single_shot
        self._is_active = False
        self._next_timeout = None
        self.start()

    @signal
    def timeout(self):
        pass

    def set_interval(self, interval_sec: float):
        self._interval_sec = interval_sec
        if self._is_active:
            self._next_timeout = min(self._next_timeout, time.time() + self._interval_sec)
            self._changed()

    def _changed(self):
        if self.event_loop is not None:
            self.event_loop._timers_changed = True

    def stop(self):
        if self._is_active:
            self._is_active = False
            self.event_loop.remove_timer(self)

        self._next_timeout = time.time() + 1e10

    def start(self):
        if not self._is_active:
            self._is_active = True
            self.event_loop.add_timer(self)

        self._next_timeout = time.time() + self._interval_sec
        self._changed()

    def _emit(self):
        self.timeout.emit()

    def fire(self):
        self._emit()
        if self._single_shot:
            self.stop()
        else:
            self._next_timeout += self._interval_sec
            self._changed()

    def next_timeout(self) -> float:
        return self._next_timeout

    def remaining_time(self) -> float:
        return max(0, self._next_timeout - time.time())

    def _default_obj_id(self):
        return f"{Timer.__name__}_{super()._default_obj_id()}"


class TightLoop(Timer):
    def __init__(self, event_loop: EventLoop, object_id=None):
        super().__init__(event_loop, 0.0, object_id)

    @signal
    def iteration(self):
        pass

    def _emit(self):
        self.iteration.emit()


# While this thread pickles a process started by spawn: the loops its objects refer to that go with it.
_carrying_here = threading.local()


def _carrying() -> Optional[List["EventLoop"]]:
    return getattr(_carrying_here, "loops", None)


def _loops_referred_to(root) -> List["EventLoop"]:
    """The event loops that the objects of `root` refer to, as pickling them would find them: through containers
    and the attributes of instances (not through functions, classes or modules, which pickle by name)."""
    found, seen, stack = [], {id(root)}, list(root.__dict__.values())
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _NOT_WALKED):
            continue
        seen.add(id(obj))
        if isinstance(obj, EventLoop):
            found.append(obj)
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif isinstance(obj, types.MethodType):
            stack.append(obj.__self__)
        else:
            attributes = getattr(obj, "__dict__", None)
            if isinstance(attributes, dict):
                stack.extend(attributes.values())
            for slot in getattr(type(obj), "__slots__", ()):
                if isinstance(slot, str) and hasattr(obj, slot):
                    stack.append(getattr(obj, slot))
    return found


_NOT_WALKED = (str, bytes, bytearray, int, float, complex, bool, type(None), type, types.ModuleType,
               types.FunctionType, types.BuiltinFunctionType, types.CodeType, memoryview)


def _pickle_loop(loop):
    """The loop of a process started by spawn, with its objects, as the child receives it: pickled as
    `multiprocessing` pickles for its children (shared memory and descriptors reach the child through this
    process's resource sharer, which the child's authentication key opens)."""
    from multiprocessing import context, current_process
    from multiprocessing.reduction import ForkingPickler

    context.set_spawning_popen(_ChildBeingSpawned())
    try:
        pickled = bytes(ForkingPickler.dumps(loop, pickle.HIGHEST_PROTOCOL))
    finally:
        context.set_spawning_popen(None)
    return pickle.dumps((bytes(current_process().authkey), pickled))


class _ChildBeingSpawned:
    """What `multiprocessing`'s reducers ask of the child being spawned: its descriptors go through this process's
    resource sharer, as they go to any process that is not this one's own `Popen`."""

    @staticmethod
    def duplicate_for_child(fd):
        return fd

    @staticmethod
    def DupFd(fd):
        from multiprocessing import resource_sharer

        return resource_sharer.DupFd(fd)


def _unpickle_loop(data):
    from multiprocessing import current_process
    from multiprocessing.process import AuthenticationString

    authkey, pickled = pickle.loads(data)
    current_process().authkey = AuthenticationString(authkey)
    return pickle.loads(pickled)


# What a Python started by spawn runs: it prepares itself as `multiprocessing`'s children do (the parent's
# sys.path, working directory and main module, imported as `__mp_main__`), then takes its role.
_SPAWN_BOOTSTRAP = """
import base64, pickle, sys
from multiprocessing import spawn
spawn.prepare(pickle.loads(base64.b64decode(sys.argv[1])))
from signal_slot import _native
_native.child_main()
raise SystemExit('signal_slot: this process was not started to run an event loop')
"""


class _ChildControls:
    """What the parent does with a child process of the runtime (`self._native`), as with a
    `multiprocessing.Process`."""

    def terminate(self):
        self._native.terminate()

    def kill(self):
        self._native.kill()

    def join(self, timeout=None):
        self._native.join(timeout)

    def is_alive(self) -> bool:
        return self._native.is_alive()

    @property
    def exitcode(self):
        return self._native.exitcode

    @property
    def pid(self):
        return self._native.pid


class EventLoopProcess(_ChildControls, EventLoopObject):
    def __init__(
        self, unique_process_name, multiprocessing_context=None, init_func=None, args=(), kwargs=None, daemon=None
    ):
        """
        A process of the runtime, with an event loop. The multiprocessing context only chooses the start method
        (fork, or spawn; forkserver starts by spawn).
        """
        context = multiprocessing if multiprocessing_context is None else multiprocessing_context
        self._start_method = context.get_start_method()
        self._name = unique_process_name
        self._daemon = daemon
        self._started = False

        self._init_func: Optional[Callable] = init_func
        self._args = self._kwargs = None
        self.set_init_func_args(args, kwargs)

        self.event_loop = EventLoop(f"{unique_process_name}_evt_loop", _process=True)
        self._native = self.event_loop._native
        EventLoopObject.__init__(self, self.event_loop, unique_process_name)

    def __getstate__(self):
        # the process is the parent's to start and join; the child gets its loop and objects
        state = self.__dict__.copy()
        state.pop("_native", None)
        return state

    def set_init_func_args(self, args=(), kwargs=None):
        assert not self._started
        self._args = tuple(args)
        self._kwargs = dict() if kwargs is None else dict(kwargs)

    def _run_init_func(self):
        if self._init_func:
            self._init_func(*self._args, **self._kwargs)

    def start(self):
        assert not self._started, "a process can only be started once"
        self.event_loop.process = self
        if self._start_method == "fork":
            # The child inherits every object; the loops they refer to that have not run go with it.
            for loop in _loops_referred_to(self.event_loop):
                native = loop.__dict__.get("_native")
                if isinstance(native, _native.Loop) and native.can_carry():
                    native.carry_to(self._native)
            self._native.start_fork()
        else:
            from multiprocessing import spawn

            preparation = spawn.get_preparation_data(self._name)
            preparation.pop("authkey", None)
            prepared = base64.b64encode(pickle.dumps(preparation)).decode("ascii")
            # The child's loop and objects, pickled now: a loop they refer to that has not run goes with them (as
            # Sample Factory's batcher loop, made in the parent and run on a thread of the learner's process).
            carried: List[EventLoop] = []
            _carrying_here.loops = carried
            try:
                pickled = _pickle_loop(self.event_loop)
            except Exception as exc:
                raise RuntimeError(f"process {self._name}: cannot pickle the Python event loop: {exc}") from exc
            finally:
                _carrying_here.loops = None
            for loop in carried:
                loop._native.carry_to(self._native)
            self._native.start_spawn(sys.executable, ["-c", _SPAWN_BOOTSTRAP, prepared], pickled)
        self._started = True

    def stop(self):
        self.event_loop.stop()

    def close(self):
        pass

    @property
    def name(self):
        return self._name

    @property
    def daemon(self):
        return self._daemon

    @property
    def ident(self):
        return self._native.pid

    @property
    def dropped_signals(self) -> int:
        """Signals to this process's loop that this process dropped."""
        return self.event_loop.dropped_signals


def process_name(p: Optional[EventLoopProcess]):
    if p is None:
        return f"main process {os.getpid()}"
    elif isinstance(p, EventLoopProcess):
        return p.name
    else:
        raise RuntimeError(f"Unknown process type {type(p)}")


def process_pid(p: Optional[EventLoopProcess]):
    if p is None:
        return os.getpid()
    elif isinstance(p, EventLoopProcess):
        return p.pid
    else:
        raise RuntimeError(f"Unknown process type {type(p)}")
