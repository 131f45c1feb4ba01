//! The fixed 64-byte frame header.
//!
//! ```text
//! off len field
//!   0   4 magic        b"MEMK"
//!   4   2 version      protocol version of the sender (u16 LE)
//!   6   1 opcode
//!   7   1 flags        bit 0: response; bits 1-2: integrity mode; bit 3: data CRC left to
//!                      the receiver (MAC-mode requests with data); others zero
//!   8   8 request_id   chosen by the client, strictly increasing per connection
//!  16   8 timestamp    sender's wall clock, ns since the Unix epoch
//!  24   2 status       responses only (0 in requests)
//!  26   2 reserved     zero
//!  28   4 ctrl_len     bytes of the control section
//!  32   4 data_len     bytes of the data section
//!  36  12 reserved     zero
//!  48  16 tag          MAC over bytes 0..48 and the control section
//! ```
//!
//! A frame with data ends with a [`TRAILER_LEN`]-byte trailer after the data: the data's
//! CRC32C and a second tag over the frame and (MAC modes) the data. The sender computes both
//! while it writes the data, so nothing has to pass over a value before its first byte is sent
//! (see [`crate::Session::seal`]).
//!
//! Bytes 0..16 keep this layout in every future version, so a peer can always read the version
//! and the request id of a frame it cannot otherwise understand and answer it.

use crate::auth::{Integrity, TAG_LEN};

/// The four bytes every frame starts with.
pub const MAGIC: [u8; 4] = *b"MEMK";
/// The protocol version this build speaks. Frames of any other version are refused with
/// [`crate::Status::UnsupportedVersion`]. Version 1 (before the first release) carried the
/// data's CRC32C and tag in the header; version 2 tagged frames with keyed BLAKE3 in the `mac`
/// and `checksum` modes, where version 3 uses [`memkv_mac`] (POLYVAL + AES-256); version 4's
/// `mac` data tag covers each value's digest instead of the data
/// ([`crate::Session::seal`]). None of them verifies as version 4.
pub const VERSION: u16 = 4;
/// The oldest protocol version this build reads.
pub const MIN_VERSION: u16 = 4;
/// Bytes after the data of a frame whose `data_len` is not zero: the data's CRC32C (u32 LE)
/// and the data tag.
pub const TRAILER_LEN: usize = 4 + TAG_LEN;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 64;
/// Bytes of the header covered by the tag (everything before the tag).
pub(crate) const SIGNED_LEN: usize = HEADER_LEN - TAG_LEN;

const FLAG_RESPONSE: u8 = 0b0000_0001;
const INTEGRITY_SHIFT: u8 = 1;
const INTEGRITY_MASK: u8 = 0b0000_0110;
const FLAG_CRC_BY_RECEIVER: u8 = 0b0000_1000;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Protocol version of the sender.
    pub version: u16,
    /// Raw opcode; see [`crate::Opcode::from_code`]. Kept raw so an unknown opcode can still be
    /// answered.
    pub opcode: u8,
    /// Whether this frame is a response.
    pub response: bool,
    /// Integrity mode the tag was computed in.
    pub integrity: Integrity,
    /// Whether the sender left the data's CRC32C to the receiver (the trailer's CRC field is
    /// zero): allowed only on requests with data in a MAC mode, where the data tag already
    /// proves the receiver has the sender's bytes (see [`crate::SendCrc::ByReceiver`]).
    pub crc_by_receiver: bool,
    /// Request id; a response echoes its request's id.
    pub request_id: u64,
    /// Sender wall clock, ns since the Unix epoch.
    pub timestamp_ns: u64,
    /// Status code (responses).
    pub status: u16,
    /// Length of the control section.
    pub ctrl_len: u32,
    /// Length of the data section.
    pub data_len: u32,
    /// Authentication tag.
    pub tag: [u8; TAG_LEN],
}

/// Size limits checked when a header is decoded, before any buffer for the body is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest `ctrl_len + data_len` accepted.
    pub max_body: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_body: 64 << 20 }
    }
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The stream is not speaking memkv (or lost frame sync).
    #[error(
        "frame does not start with the memkv magic bytes: the peer is not a memkv endpoint or the stream lost sync"
    )]
    BadMagic,
    /// The sender speaks another protocol version.
    #[error(
        "frame uses protocol version {version}, this build reads versions {MIN_VERSION} to {VERSION}: run matching memkv releases on both sides (upgrade servers before clients)"
    )]
    UnsupportedVersion {
        /// The frame's version.
        version: u16,
        /// The frame's request id, so it can be answered.
        request_id: u64,
        /// The frame's opcode.
        opcode: u8,
    },
    /// The body is larger than allowed.
    #[error("frame body of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Declared `ctrl_len + data_len`.
        len: u64,
        /// The limit.
        max: u32,
        /// The frame's request id, so it can be answered.
        request_id: u64,
    },
    /// A field holds a value no version defines.
    #[error("malformed frame header: {0}")]
    Malformed(&'static str),
}

impl Header {
    /// A request header with zero lengths and tag; [`crate::Session::seal`] fills in the rest.
    pub fn request(opcode: crate::Opcode, request_id: u64, timestamp_ns: u64) -> Self {
        Header {
            version: VERSION,
            opcode: opcode.code(),
            response: false,
            integrity: Integrity::Mac,
            crc_by_receiver: false,
            request_id,
            timestamp_ns,
            status: 0,
            ctrl_len: 0,
            data_len: 0,
            tag: [0; TAG_LEN],
        }
    }

    /// The response header to `req` carrying `status`. A response is written in the request's
    /// version (never newer than this build's), so an older client can read a newer server's
    /// answers: upgrade servers first, then clients.
    pub fn response_to(req: &Header, status: crate::Status, timestamp_ns: u64) -> Self {
        Header {
            version: req.version.min(VERSION),
            opcode: req.opcode,
            response: true,
            integrity: req.integrity,
            crc_by_receiver: false,
            request_id: req.request_id,
            timestamp_ns,
            status: status.code(),
            ctrl_len: 0,
            data_len: 0,
            tag: [0; TAG_LEN],
        }
    }

    /// Total body length (`ctrl_len + data_len`).
    pub fn body_len(&self) -> u64 {
        u64::from(self.ctrl_len) + u64::from(self.data_len)
    }

    /// Bytes of the trailer that follows the data: [`TRAILER_LEN`] when there is data, else 0.
    pub fn trailer_len(&self) -> usize {
        trailer_len(self.data_len as usize)
    }

    /// Encodes the header, tag included.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        b[6] = self.opcode;
        b[7] = u8::from(self.response)
            | (self.integrity.code() << INTEGRITY_SHIFT)
            | if self.crc_by_receiver {
                FLAG_CRC_BY_RECEIVER
            } else {
                0
            };
        b[8..16].copy_from_slice(&self.request_id.to_le_bytes());
        b[16..24].copy_from_slice(&self.timestamp_ns.to_le_bytes());
        b[24..26].copy_from_slice(&self.status.to_le_bytes());
        b[28..32].copy_from_slice(&self.ctrl_len.to_le_bytes());
        b[32..36].copy_from_slice(&self.data_len.to_le_bytes());
        b[SIGNED_LEN..].copy_from_slice(&self.tag);
        b
    }

    /// Decodes and checks a header. Magic, version and the body limit are checked here, so the
    /// caller allocates nothing for a frame this returns an error for.
    pub fn decode(b: &[u8; HEADER_LEN], limits: &Limits) -> Result<Header, FrameError> {
        if b[0..4] != MAGIC {
            return Err(FrameError::BadMagic);
        }
        let version = u16::from_le_bytes([b[4], b[5]]);
        let opcode = b[6];
        let request_id = u64::from_le_bytes(b[8..16].try_into().expect("8 bytes"));
        if version > VERSION || (version != 0 && version < MIN_VERSION) {
            return Err(FrameError::UnsupportedVersion {
                version,
                request_id,
                opcode,
            });
        }
        if version == 0 {
            return Err(FrameError::Malformed("version 0 is not defined"));
        }
        let flags = b[7];
        if flags & !(FLAG_RESPONSE | INTEGRITY_MASK | FLAG_CRC_BY_RECEIVER) != 0 {
            return Err(FrameError::Malformed("unknown flag bits set"));
        }
        let integrity = Integrity::from_code((flags & INTEGRITY_MASK) >> INTEGRITY_SHIFT)
            .ok_or(FrameError::Malformed("unknown integrity mode"))?;
        let ctrl_len = u32::from_le_bytes(b[28..32].try_into().expect("4 bytes"));
        let data_len = u32::from_le_bytes(b[32..36].try_into().expect("4 bytes"));
        let response = flags & FLAG_RESPONSE != 0;
        let crc_by_receiver = flags & FLAG_CRC_BY_RECEIVER != 0;
        if crc_by_receiver {
            if integrity == Integrity::Checksum {
                return Err(FrameError::Malformed(
                    "a checksum-mode frame must carry its data's CRC32C",
                ));
            }
            if response || data_len == 0 {
                return Err(FrameError::Malformed(
                    "only a request with data may leave its CRC32C to the receiver",
                ));
            }
        }
        let len = u64::from(ctrl_len) + u64::from(data_len);
        if len > u64::from(limits.max_body) {
            return Err(FrameError::TooLarge {
                len,
                max: limits.max_body,
                request_id,
            });
        }
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&b[SIGNED_LEN..]);
        Ok(Header {
            version,
            opcode,
            response,
            integrity,
            crc_by_receiver,
            request_id,
            timestamp_ns: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
            status: u16::from_le_bytes([b[24], b[25]]),
            ctrl_len,
            data_len,
            tag,
        })
    }
}

/// Bytes of the trailer after `data_len` bytes of data: [`TRAILER_LEN`], or 0 without data.
pub fn trailer_len(data_len: usize) -> usize {
    if data_len == 0 { 0 } else { TRAILER_LEN }
}
