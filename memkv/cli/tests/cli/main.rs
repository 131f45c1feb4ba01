//! End-to-end tests of the `memkv` binary: real processes, real sockets.
//!
//! One test binary, one module per area; `support` holds the shared harness (process guard,
//! raw HTTP client).

mod admin;
mod basics;
mod doc;
mod support;
