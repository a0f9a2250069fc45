//! Examples and behaviour tests of the signal-slot workspace; see `README.md`.
