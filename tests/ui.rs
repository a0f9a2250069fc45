//! Compile-time checks: each file under `tests/ui/` must fail to compile with
//! the committed `.stderr`. Regenerate with `TRYBUILD=overwrite` after a
//! deliberate change to a message, and review the diff.

#[test]
fn compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
