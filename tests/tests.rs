//! The integration tests, one binary with a module per area (as ripgrep's `tests/tests.rs`): the
//! crate and its ~460 dependencies are linked once instead of once per file. `common` holds what
//! they share: the real model, the `semsearch` command bound to it, a real PostgreSQL server, an
//! HTTP client for `serve`.

mod common;

mod bench;
mod chunker;
mod cli;
mod crash;
mod formats;
mod lifecycle;
mod parity;
mod remote;
mod robust;
mod search;
mod serve;
