//! memkv storage engines.
