//! Compile-time checks: each file under `tests/ui/cases/` must fail to
//! compile with the committed `.stderr`. Regenerate with
//! `TRYBUILD=overwrite cargo test -p signal-slot-ui` after a deliberate
//! change to a message, and review the diff.

#[test]
fn compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("cases/*.rs");
}
