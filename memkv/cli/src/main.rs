//! The memkv command-line interface.
fn main() {}
