//! memkv client engine.
