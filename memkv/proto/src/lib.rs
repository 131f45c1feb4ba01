//! memkv wire protocol (sans-IO).
