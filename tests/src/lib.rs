//! Black-box tests of the order platform live in `tests/api`: they start the real application
//! on port 0 against a fresh database (PostgreSQL per test through `#[sqlx::test]`, or an
//! embedded SQLite file) and speak to it over HTTP only.
#![warn(missing_docs)]
