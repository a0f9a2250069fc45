"""Rust and Python in one system: objects of a program of its own (a Rust
program built on the signal-slot runtime), connected to Python objects with
signals whose arguments both sides read.

A ``ProgramProcess`` starts the program as a child process of this one (in
the same process tree as the ``EventLoopProcess`` children), with one of
its registered init functions (``#[signal_slot::init]``) and its arguments.
``ProgramProcess.object(object_id)`` reaches an object of its loop by id,
without its type: its signals and slots are found by name::

    server = ProgramProcess("inference", "./target/release/examples/inference_server",
                            init="inference_server::serve", init_args=(4, 2))
    server.start()
    policy = server.object("policy")
    worker.observation.connect(policy.on_observation)  # Python signal -> Rust slot
    policy.action.connect(worker.on_action)            # Rust signal -> Python slot

Arguments travel as plain MessagePack: ``None``, ``bool``, ``int`` (64 bits),
``float``, ``str``, ``bytes``/``bytearray``, objects with a buffer (bytes as
bytes, numbers as a list of them), and lists, tuples and dicts of them; the
Rust slot decodes them into its own argument types (a list into a ``Vec``, a
tuple into a tuple or a struct, bytes into a ``Vec<u8>``). What a Rust signal
carries arrives in Python the same way: arrays as lists (a ``Vec`` of numbers
that is an argument of its own: as the bytes of its numbers), ``Vec<u8>`` as
``bytes``, structs as lists of their fields, map keys that are tuples or
structs as tuples, a ``SharedBuffer`` as a read-only buffer over the shared
memory (``memoryview``, ``numpy.frombuffer``). A Python value of another type
cannot be sent to a Rust slot (``TypeError`` at ``emit``, sent to nobody); a
Rust signal Python cannot read (an extension type it does not know) is not
delivered, and logged.
"""

from __future__ import annotations

import time
from typing import Iterable, Optional, Tuple

from signal_slot import _native
from signal_slot.signal_slot import Emitter, EventLoopObject, _ChildControls


class ProgramProcess(_ChildControls):
    """A child process running ``program`` (with ``args``), a program built on the runtime whose ``main`` calls
    ``signal_slot::init_process()`` first. Its loop is named ``unique_process_name``; ``init`` is the name of an
    init function registered in it (module path and name, e.g. ``"inference_server::serve"``), run first with
    ``init_args``. It is started by spawn, whatever the start method of the ``EventLoopProcess`` children."""

    def __init__(
        self,
        unique_process_name: str,
        program: str,
        args: Iterable[str] = (),
        init: Optional[str] = None,
        init_args: Tuple = (),
    ):
        self._name = unique_process_name
        self._native = _native.Process.program(
            unique_process_name, str(program), [str(arg) for arg in args], init, tuple(init_args)
        )
        self._objects = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def loop_name(self) -> str:
        """The name of the program's loop."""
        return self._native.name

    def start(self):
        self._native.start_program()

    def object(self, object_id: str, timeout: float = 60.0) -> ForeignObject:
        """The object ``object_id`` of the program's loop (the process must have started). The program is asked
        what the object is, again until its init function has added it (a model that takes long to load, say) or
        ``timeout`` seconds have passed; ``RuntimeError`` if it ends first or does not have it then."""
        found = self._objects.get(object_id)
        if found is not None:
            return found
        deadline = time.monotonic() + timeout
        while True:
            try:
                native = self._native.object(object_id)
                break
            except RuntimeError:
                if not self._native.is_alive() or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)  # its init function still runs: the program answers once it is done
        found = self._objects[object_id] = ForeignObject(native)
        return found

    def stop(self):
        """Stops the program's loop gracefully: what was sent before is still delivered."""
        self._native.stop()


class ForeignObject:
    """An object of another program, by name. Its members are found by name: ``obj.name`` is a ``ForeignMember``,
    a signal to connect to Python slots or a slot to connect Python signals to (whichever the object has)."""

    def __init__(self, native):
        self._native = native
        # the key Python loops dispatch its signals by, as its host names it
        self.object_id = f"{native.loop_name}/{native.id}"

    @property
    def id(self) -> str:
        return self._native.id

    @property
    def type_name(self) -> str:
        return self._native.type_name

    @property
    def signals(self):
        return self._native.signals

    @property
    def slots(self):
        return self._native.slots

    def __getattr__(self, name) -> ForeignMember:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._native.signals and name not in self._native.slots:
            raise AttributeError(
                f"`{self._native.id}` (a `{self._native.type_name}`) has no signal or slot `{name}`: its signals "
                f"are {self._native.signals}, its slots {self._native.slots}"
            )
        return ForeignMember(self, name)

    def __reduce__(self):
        return ForeignObject, (self._native,)

    def __repr__(self):
        return f"ForeignObject({self.object_id}, {self.type_name})"


class ForeignMember:
    """A signal or a slot of a ``ForeignObject``."""

    def __init__(self, owner: ForeignObject, name: str):
        self._owner = owner
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    # --- as a slot: the target of a Python signal's connect ---

    @property
    def _native_slot(self):
        """The reference emitters hold (beside the hosts of Python loops)."""
        return self._owner._native.slot(self._name)

    @property
    def _receiver_id(self):
        return f"{self._owner.object_id}.{self._name}"

    # --- as a signal: connected to slots of Python objects ---

    def connect(self, other, slot: str = None):
        """Connects this signal of the other program to a slot of a Python object (a bound method, or an object and
        the slot's name). The connection is made in the runtime, to the object's loop: make it in the process
        where that loop was created (before its ``EventLoopProcess`` starts, for a loop of a child)."""
        self._check_signal()
        obj, slot = EventLoopObject._bound_method_to_obj_slot(other, slot)
        emitter = Emitter(self._owner.object_id, self._name)
        receiving_loop = obj.event_loop
        # the runtime first: if the program cannot be reached, nothing here says connected
        self._owner._native.connect(self._name, receiving_loop.signal_queue)
        EventLoopObject._add_to_dict_of_sets(receiving_loop.receivers, emitter, obj.object_id)
        obj.connections[emitter] = slot
        receiving_loop._connections_changed()

    def disconnect(self, other, slot: str = None):
        self._check_signal()
        obj, slot = EventLoopObject._bound_method_to_obj_slot(other, slot)
        emitter = Emitter(self._owner.object_id, self._name)
        receiving_loop = obj.event_loop
        obj.connections.pop(emitter, None)
        receivers = receiving_loop.receivers.get(emitter)
        if receivers is not None:
            receivers.discard(obj.object_id)
        receiving_loop._connections_changed()
        if not receivers:
            # the last receiver on that loop: the loop need not hear of this signal any more
            self._owner._native.disconnect(self._name, receiving_loop.signal_queue)

    def _check_signal(self):
        if self._name not in self._owner._native.signals:
            raise ValueError(f"`{self._name}` is a slot of `{self._owner.id}`, not a signal")

    def __repr__(self):
        return f"ForeignMember({self._owner.object_id}.{self._name})"


__all__ = ["ProgramProcess", "ForeignObject", "ForeignMember"]
