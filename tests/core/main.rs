//! Behaviour of loops, signals, slots and timers inside one process, through
//! the public API only: one module per concept, one test binary.

#[path = "../common/mod.rs"]
mod common;

mod asynchronous;
mod broadcast;
mod calls;
mod connections;
mod faults;
mod foreign;
mod kept;
mod latest;
mod lifecycle;
mod moving;
mod objects;
mod serial;
mod stats;
mod threads;
mod timers;
mod toolbox;
mod topology;
