//! The interpreter's own preparations around a fork, as `os.fork()` makes
//! them: its locks taken before, released in the parent after, its state
//! rebuilt in the child.

use pyo3::Python;

/// Before the fork, on the thread that forks.
pub(crate) fn before(_gil: Python<'_>) {
    // SAFETY: the token proves this thread holds the GIL, as
    // `PyOS_BeforeFork` requires; `after_parent` or `after_child` follows
    // on the same thread.
    unsafe { pyo3::ffi::PyOS_BeforeFork() }
}

/// In the parent, after the fork (or after a start that did not fork).
pub(crate) fn after_parent(_gil: Python<'_>) {
    // SAFETY: the GIL is held, and `before` was called on this thread.
    unsafe { pyo3::ffi::PyOS_AfterFork_Parent() }
}

/// In the child, first thing: it runs on the thread that forked, which
/// held the GIL then, and still does (no `Python` token crosses the fork).
pub(crate) fn after_child() {
    // SAFETY: called once, in the child of a fork made between `before` and
    // `after_parent`, on the thread that forked while holding the GIL.
    unsafe { pyo3::ffi::PyOS_AfterFork_Child() }
}
