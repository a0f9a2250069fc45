//! The guide: the long form of the README, one chapter per module.
//!
//! Every example here is compiled with the crate's tests, and run where it
//! can run on its own. Start with [`semantics`]; the chapters after it
//! stand alone.
//!
//! | chapter | what it covers |
//! |---|---|
//! | [`semantics`] | fan-out, order, what a full inbox or an ended loop does, stopping |
//! | [`calls`] | a slot's value back to its caller: blocking, to a slot, every outcome |
//! | [`asynchronous`] | awaiting calls, signals as streams, beside tokio |
//! | [`qt`] | Qt's toolbox in this crate's idiom |
//! | [`processes`] | child processes, arguments of any size, fork or spawn |
//! | [`shared_buffers`] | large payloads filled in place and passed by handle |
//! | [`network`] | programs over Zenoh (feature `zenoh`) |
//! | [`reliability`] | the bounds of memory and queues, and what is tested |
//! | [`testing`] | testing code that uses processes |
//! | [`topology`] | the running system's topology as Mermaid, DOT or JSON |
//! | [`watching`] | a running system's numbers, slow slots, deaf children, metrics |
//! | [`performance`] | the benchmark, idle and with the cores busy |

#[doc = include_str!("guide/semantics.md")]
pub mod semantics {}

#[doc = include_str!("guide/calls.md")]
pub mod calls {}

#[doc = include_str!("guide/asynchronous.md")]
pub mod asynchronous {}

#[doc = include_str!("guide/qt.md")]
pub mod qt {}

#[doc = include_str!("guide/processes.md")]
pub mod processes {}

#[doc = include_str!("guide/shared_buffers.md")]
pub mod shared_buffers {}

#[doc = include_str!("guide/network.md")]
pub mod network {}

#[doc = include_str!("guide/reliability.md")]
pub mod reliability {}

#[doc = include_str!("guide/testing.md")]
pub mod testing {}

#[doc = include_str!("guide/topology.md")]
pub mod topology {}

#[doc = include_str!("guide/performance.md")]
pub mod performance {}

#[doc = include_str!("guide/watching.md")]
pub mod watching {}
