"""Event loops, signals and slots across threads and processes: the API of
``signal-slot-mp`` on the Rust signal-slot runtime.

Import as the original is imported::

    from signal_slot.signal_slot import EventLoop, EventLoopObject, EventLoopProcess, Timer, signal
"""
