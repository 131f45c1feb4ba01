//! CRC32C (Castagnoli), the checksum of stored values and of the on-disk records: the very
//! function of the wire protocol's end-to-end value checksum (`memkv_proto::crc32c`, computed
//! with carry-less multiplication), so a value's CRC is the same number on the wire, in RAM
//! and on disk.

pub use memkv_proto::{crc32c, crc32c_append, crc32c_combine};
