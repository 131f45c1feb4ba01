//! memkv wire protocol, sans-IO.
//!
//! This crate owns everything two memkv peers must agree on byte for byte: the 64-byte frame
//! header, opcodes and status codes, the integrity modes and their tags, the handshake that binds
//! every tag to one connection, and the codecs of each message's control section. It performs no
//! I/O and reads no clock: callers pass bytes in and the current time where it matters, so the
//! server, the client and the fuzzers all drive exactly the same code.
//!
//! A frame is `header (64 B) | ctrl (ctrl_len B) | data (data_len B) | trailer (20 B, when there
//! is data)`. `ctrl` carries the
//! structured part of a message (keys, lengths, checksums) and `data` carries value bytes, so a
//! value is never copied into an encoding buffer: senders write it straight from where it lives.
//! See `docs/protocol.md` for the full description.

mod auth;
mod clock;
mod codec;
mod header;
pub mod msg;
mod opcode;

pub use auth::{
    AuthKey, AuthKeyError, DataCrc, DataSealer, DataSums, Digests, FrameVerifier, Integrity,
    NONCE_LEN, Nonce, ParseIntegrityError, Sealed, SendCrc, Session, TAG_LEN, VerifyError,
    frame_value_lens,
};
pub use clock::{ClockDrift, ReplayGuard, check_clock};
pub use codec::{DecodeError, Decoder, Encoder};
pub use header::{
    FrameError, HEADER_LEN, Header, Limits, MAGIC, MIN_VERSION, TRAILER_LEN, VERSION, trailer_len,
};
pub use memkv_crc::{CrcKernel, crc32c, crc32c_append, crc32c_combine};
pub use memkv_mac::DIGEST_LEN;
pub use opcode::{Opcode, Status};

/// Largest key the protocol carries, in bytes. Longer keys are refused with
/// [`Status::KeyTooLong`]; integrations hash longer identifiers down to a digest.
pub const MAX_KEY_LEN: usize = 512;
