//! The on-disk format, version 2: the drive superblock, segment headers (log segments and
//! stripe parts), value records, stripe records, segment summaries and their footers. Pure
//! encoding and decoding, no I/O.
//!
//! Every structure starts with a magic and a format version and ends with (or carries) a
//! CRC32C. A decoder accepts versions up to [`FORMAT_VERSION`] and refuses newer ones with
//! [`FormatError::NewerVersion`], so an old build never misreads a newer drive.
//! `docs/storage.md` describes the layout in prose; keep the two in step.
//!
//! Version 2 adds values striped over several extents: *part* extents (a segment header of
//! kind 2 followed by one slice of the value) and *stripe* records (kind 3) in the key's log,
//! which list the parts, carry the value's *tail* (whatever follows the last part, often
//! nothing) inline, and commit the value. Version 1 drives are read as they are; a version 2
//! build upgrades their superblocks when it opens them.
//!
//! Version 3 adds *pad* records (kind 4): filler ahead of a large value's record, so that the
//! value starts on a block boundary of the drive and can be written straight from the buffer
//! it was received into (see [`value_gap`]). Readers skip them; nothing else changed, so
//! version 2 drives are read as they are and upgraded the same way.

/// The newest format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 3;

/// The first format version with stripe parts and stripe records.
pub const STRIPE_VERSION: u32 = 2;

/// Bytes of one [`PartRef`] in a stripe record or summary entry.
pub const PART_REF_LEN: usize = 24;

/// Size of the metadata blocks (superblock, segment header, summary footer). A multiple of
/// every supported logical block size (512..=4096).
pub const META_BLOCK: u64 = 4096;

/// Length of a value record's fixed header.
pub const RECORD_HEADER_LEN: usize = 48;

/// Length of a summary entry's fixed part (the key follows).
pub const SUMMARY_ENTRY_LEN: usize = 32;

const SB_MAGIC: &[u8; 8] = b"MEMKVSB\0";
const SEG_MAGIC: &[u8; 8] = b"MKVSEG\0\0";
const FOOTER_MAGIC: &[u8; 8] = b"MKVSUMM\0";
const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"MKVR");

/// A structure that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// No magic: the block holds something else (blank, another format, stale data).
    #[error("no memkv {what} here")]
    NotPresent {
        /// Which structure.
        what: &'static str,
    },
    /// Written by a newer memkv.
    #[error(
        "the {what} has format version {found}, but this build reads versions up to \
         {FORMAT_VERSION}; upgrade memkv to use this drive (it is not downgraded)"
    )]
    NewerVersion {
        /// Which structure.
        what: &'static str,
        /// The version found.
        found: u32,
    },
    /// The checksum does not match: damaged or torn.
    #[error("the {what} is damaged (checksum mismatch)")]
    Damaged {
        /// Which structure.
        what: &'static str,
    },
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}
fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn check_version(what: &'static str, found: u32) -> Result<(), FormatError> {
    if found > FORMAT_VERSION || found == 0 {
        return Err(FormatError::NewerVersion { what, found });
    }
    Ok(())
}

/// Rounds `v` up to a multiple of `to` (a power of two).
pub fn align_up(v: u64, to: u64) -> u64 {
    debug_assert!(to.is_power_of_two());
    (v + to - 1) & !(to - 1)
}

/// Rounds `v` down to a multiple of `to` (a power of two).
pub fn align_down(v: u64, to: u64) -> u64 {
    debug_assert!(to.is_power_of_two());
    v & !(to - 1)
}

/// The per-drive superblock, at offset 0 of every drive (one [`META_BLOCK`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// Format version it was written with.
    pub version: u32,
    /// This drive's identity.
    pub drive_uuid: [u8; 16],
    /// The identity of the set of drives formatted together.
    pub set_uuid: [u8; 16],
    /// Position of this drive in the set (0-based).
    pub drive_index: u32,
    /// Number of drives in the set.
    pub drive_count: u32,
    /// Extent (segment) size in bytes: `storage.block_size` at format time.
    pub extent_size: u64,
    /// Number of extents on this drive.
    pub extent_count: u64,
    /// Byte offset of extent 0 (the first extent is reserved for metadata).
    pub data_start: u64,
    /// The drive's logical block size at format time.
    pub logical_block_size: u32,
    /// `memkv setup --shard-size` in KiB (0 when not set).
    pub shard_size_kib: u32,
    /// Format time, seconds since the Unix epoch.
    pub created_unix: u64,
    /// Size of the drive or file at format time.
    pub drive_size: u64,
}

impl Superblock {
    /// Encodes into one [`META_BLOCK`].
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; META_BLOCK as usize];
        b[0..8].copy_from_slice(SB_MAGIC);
        put_u32(&mut b, 8, FORMAT_VERSION);
        put_u32(&mut b, 12, META_BLOCK as u32);
        b[16..32].copy_from_slice(&self.drive_uuid);
        b[32..48].copy_from_slice(&self.set_uuid);
        put_u32(&mut b, 48, self.drive_index);
        put_u32(&mut b, 52, self.drive_count);
        put_u64(&mut b, 56, self.extent_size);
        put_u64(&mut b, 64, self.extent_count);
        put_u64(&mut b, 72, self.data_start);
        put_u32(&mut b, 80, self.logical_block_size);
        put_u32(&mut b, 84, self.shard_size_kib);
        put_u64(&mut b, 88, self.created_unix);
        put_u64(&mut b, 96, self.drive_size);
        let crc = crate::checksum::crc32c(&b[..META_BLOCK as usize - 4]);
        put_u32(&mut b, META_BLOCK as usize - 4, crc);
        b
    }

    /// Decodes the first [`META_BLOCK`] bytes of a drive.
    pub fn decode(b: &[u8]) -> Result<Superblock, FormatError> {
        const WHAT: &str = "superblock";
        if b.len() < META_BLOCK as usize || &b[0..8] != SB_MAGIC {
            return Err(FormatError::NotPresent { what: WHAT });
        }
        let version = get_u32(b, 8);
        check_version(WHAT, version)?;
        let end = META_BLOCK as usize - 4;
        if crate::checksum::crc32c(&b[..end]) != get_u32(b, end) {
            return Err(FormatError::Damaged { what: WHAT });
        }
        Ok(Superblock {
            version,
            drive_uuid: b[16..32].try_into().expect("16 bytes"),
            set_uuid: b[32..48].try_into().expect("16 bytes"),
            drive_index: get_u32(b, 48),
            drive_count: get_u32(b, 52),
            extent_size: get_u64(b, 56),
            extent_count: get_u64(b, 64),
            data_start: get_u64(b, 72),
            logical_block_size: get_u32(b, 80),
            shard_size_kib: get_u32(b, 84),
            created_unix: get_u64(b, 88),
            drive_size: get_u64(b, 96),
        })
    }

    /// Byte offset of extent `extent` on the drive.
    pub fn extent_offset(&self, extent: u32) -> u64 {
        self.data_start + u64::from(extent) * self.extent_size
    }
}

/// What an extent in use holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// A log of records (values, tombstones, stripe records), sealed with a summary.
    Log,
    /// One part of a striped value: `part_len` bytes of it right after the header. It belongs
    /// to the value only while a stripe record names it (drive, extent and `seg_seq`).
    Part {
        /// Bytes of the value in this extent.
        part_len: u64,
        /// CRC32C of those bytes (for `memkv drive check`; reads check the whole value).
        part_crc: u32,
    },
}

/// The header block at the start of every extent in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Unique, increasing sequence of this segment incarnation (shared counter with records).
    pub seg_seq: u64,
    /// Drive index in the set.
    pub drive_index: u32,
    /// Extent index on the drive.
    pub extent: u32,
    /// The set this segment belongs to.
    pub set_uuid: [u8; 16],
    /// A log segment or a stripe part.
    pub kind: SegmentKind,
}

impl SegmentHeader {
    /// Encodes into one [`META_BLOCK`] (always the newest version).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; META_BLOCK as usize];
        b[0..8].copy_from_slice(SEG_MAGIC);
        put_u32(&mut b, 8, FORMAT_VERSION);
        put_u64(&mut b, 16, self.seg_seq);
        put_u32(&mut b, 24, self.drive_index);
        put_u32(&mut b, 28, self.extent);
        b[32..48].copy_from_slice(&self.set_uuid);
        match self.kind {
            SegmentKind::Log => put_u32(&mut b, 12, 1),
            SegmentKind::Part { part_len, part_crc } => {
                put_u32(&mut b, 12, 2);
                put_u64(&mut b, 56, part_len);
                put_u32(&mut b, 64, part_crc);
            }
        }
        // Version 1 kept bytes 48..52 for a CRC of bytes 0..48; version 2 covers the block.
        let end = META_BLOCK as usize - 4;
        let crc = crate::checksum::crc32c(&b[..end]);
        put_u32(&mut b, end, crc);
        b
    }

    /// Decodes a segment header block (version 1 or 2).
    pub fn decode(b: &[u8]) -> Result<SegmentHeader, FormatError> {
        const WHAT: &str = "segment header";
        if b.len() < 52 || &b[0..8] != SEG_MAGIC {
            return Err(FormatError::NotPresent { what: WHAT });
        }
        let version = get_u32(b, 8);
        check_version(WHAT, version)?;
        let kind = if version < STRIPE_VERSION {
            if crate::checksum::crc32c(&b[..48]) != get_u32(b, 48) {
                return Err(FormatError::Damaged { what: WHAT });
            }
            SegmentKind::Log
        } else {
            let end = META_BLOCK as usize - 4;
            if b.len() < META_BLOCK as usize
                || crate::checksum::crc32c(&b[..end]) != get_u32(b, end)
            {
                return Err(FormatError::Damaged { what: WHAT });
            }
            match get_u32(b, 12) {
                1 => SegmentKind::Log,
                2 => SegmentKind::Part {
                    part_len: get_u64(b, 56),
                    part_crc: get_u32(b, 64),
                },
                _ => return Err(FormatError::Damaged { what: WHAT }),
            }
        };
        Ok(SegmentHeader {
            seg_seq: get_u64(b, 16),
            drive_index: get_u32(b, 24),
            extent: get_u32(b, 28),
            set_uuid: b[32..48].try_into().expect("16 bytes"),
            kind,
        })
    }
}

/// Where one part of a striped value is: 24 bytes on disk (drive index u32, extent u32,
/// segment sequence u64, length u64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartRef {
    /// Drive index in the set.
    pub drive: u32,
    /// Extent on that drive.
    pub extent: u32,
    /// The part extent's incarnation (its segment header's `seg_seq`).
    pub seg_seq: u64,
    /// Bytes of the value in it.
    pub len: u64,
}

/// Bytes of a striped value of `val_len` bytes kept inline in its stripe record, after the
/// part list: what the parts do not hold. `None` when the parts hold more than the value
/// (damage).
pub fn stripe_tail_len(val_len: u64, parts: &[PartRef]) -> Option<u64> {
    let in_parts = parts
        .iter()
        .try_fold(0u64, |sum, p| sum.checked_add(p.len))?;
    val_len.checked_sub(in_parts)
}

/// Encodes part references back to back.
pub fn encode_parts(parts: &[PartRef], out: &mut Vec<u8>) {
    for p in parts {
        let at = out.len();
        out.resize(at + PART_REF_LEN, 0);
        put_u32(&mut out[at..], 0, p.drive);
        put_u32(&mut out[at..], 4, p.extent);
        put_u64(&mut out[at..], 8, p.seg_seq);
        put_u64(&mut out[at..], 16, p.len);
    }
}

/// Decodes `count` part references from the start of `b`.
pub fn decode_parts(b: &[u8], count: usize) -> Option<Vec<PartRef>> {
    if b.len() < count.checked_mul(PART_REF_LEN)? {
        return None;
    }
    Some(
        (0..count)
            .map(|i| {
                let at = i * PART_REF_LEN;
                PartRef {
                    drive: get_u32(b, at),
                    extent: get_u32(b, at + 4),
                    seg_seq: get_u64(b, at + 8),
                    len: get_u64(b, at + 16),
                }
            })
            .collect(),
    )
}

/// What a record or summary entry says about its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A value.
    Put,
    /// A deletion (tombstone): no data.
    Delete,
    /// A striped value (format version 2): the record holds the list of its parts and then
    /// the value's tail (the bytes after the last part; see [`stripe_tail_len`]), and commits
    /// the value once written.
    Stripe,
    /// Filler (format version 3): no key, `val_len` zero bytes, and the next record follows
    /// right after them (not rounded to 8). Never listed in a summary.
    Pad,
}

impl RecordKind {
    fn code(self) -> u8 {
        match self {
            RecordKind::Put => 1,
            RecordKind::Delete => 2,
            RecordKind::Stripe => 3,
            RecordKind::Pad => 4,
        }
    }
    fn from_code(c: u8) -> Option<RecordKind> {
        match c {
            1 => Some(RecordKind::Put),
            2 => Some(RecordKind::Delete),
            3 => Some(RecordKind::Stripe),
            4 => Some(RecordKind::Pad),
            _ => None,
        }
    }
}

/// The fixed header of a record in a segment; the key and then the payload (the value, or for
/// a stripe record its part list and then the value's tail) follow it, and the next record
/// starts at the next multiple of 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Put or delete.
    pub kind: RecordKind,
    /// Key length.
    pub key_len: u16,
    /// Value length (0 for deletes; the whole value for stripe records).
    pub val_len: u64,
    /// CRC32C of the value bytes (the client's end-to-end checksum).
    pub value_crc: u32,
    /// Global sequence number: the highest one for a key wins on recovery.
    pub seq: u64,
    /// The segment incarnation it was written in; records of an older incarnation of the
    /// same extent are not part of this one.
    pub seg_seq: u64,
    /// Stripe records: number of [`PartRef`]s after the key (0 otherwise).
    pub parts: u32,
    /// Stripe records: CRC32C of the encoded part list (0 otherwise).
    pub parts_crc: u32,
}

impl RecordHeader {
    /// Bytes after the key: the value, nothing, or (stripe records) the part list; a stripe
    /// record's tail follows its part list, [`stripe_tail_len`] bytes.
    pub fn payload_len(&self) -> u64 {
        match self.kind {
            RecordKind::Put | RecordKind::Pad => self.val_len,
            RecordKind::Delete => 0,
            RecordKind::Stripe => u64::from(self.parts) * PART_REF_LEN as u64,
        }
    }

    /// Bytes the whole record (header, key, payload, padding to 8) takes; pad records take
    /// exactly [`RecordHeader::pad`]'s `len`.
    pub fn record_len(key_len: usize, payload_len: u64) -> u64 {
        align_up((RECORD_HEADER_LEN + key_len) as u64 + payload_len, 8)
    }

    /// A pad record of `len` bytes in total (at least [`RECORD_HEADER_LEN`]): this header
    /// followed by `len - RECORD_HEADER_LEN` zero bytes.
    pub fn pad(seg_seq: u64, len: u64) -> RecordHeader {
        debug_assert!(len >= RECORD_HEADER_LEN as u64);
        RecordHeader {
            kind: RecordKind::Pad,
            key_len: 0,
            val_len: len - RECORD_HEADER_LEN as u64,
            value_crc: 0,
            seq: 0,
            seg_seq,
            parts: 0,
            parts_crc: 0,
        }
    }

    /// Appends header and key to `out`; the caller appends the value and padding. The header
    /// checksum covers the header fields and the key.
    pub fn encode_with_key(&self, key: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + RECORD_HEADER_LEN + key.len(), 0);
        self.encode_into(key, &mut out[start..]);
    }

    /// [`encode_with_key`](Self::encode_with_key) into `b`, exactly `RECORD_HEADER_LEN +
    /// key.len()` bytes long (a record's place in a segment buffer).
    pub fn encode_into(&self, key: &[u8], b: &mut [u8]) {
        assert_eq!(b.len(), RECORD_HEADER_LEN + key.len(), "record header slot");
        put_u32(b, 0, RECORD_MAGIC);
        b[4] = FORMAT_VERSION as u8;
        b[5] = self.kind.code();
        put_u16(b, 6, self.key_len);
        put_u64(b, 8, self.val_len);
        put_u32(b, 16, self.value_crc);
        put_u64(b, 24, self.seq);
        put_u64(b, 32, self.seg_seq);
        put_u32(b, 40, self.parts);
        put_u32(b, 44, self.parts_crc);
        b[RECORD_HEADER_LEN..].copy_from_slice(key);
        let crc = header_crc(b);
        put_u32(b, 20, crc);
    }

    /// Decodes the header at the start of `b` and checks it against the key that follows.
    /// `b` must hold at least the header and the key.
    pub fn decode(b: &[u8]) -> Result<RecordHeader, FormatError> {
        const WHAT: &str = "record";
        if b.len() < RECORD_HEADER_LEN || get_u32(b, 0) != RECORD_MAGIC {
            return Err(FormatError::NotPresent { what: WHAT });
        }
        let key_len = get_u16(b, 6);
        let end = RECORD_HEADER_LEN + usize::from(key_len);
        if b.len() < end {
            return Err(FormatError::Damaged { what: WHAT });
        }
        if header_crc(&b[..end]) != get_u32(b, 20) {
            return Err(FormatError::Damaged { what: WHAT });
        }
        check_version(WHAT, u32::from(b[4]))?;
        let kind = RecordKind::from_code(b[5]).ok_or(FormatError::Damaged { what: WHAT })?;
        if kind == RecordKind::Pad && key_len != 0 {
            return Err(FormatError::Damaged { what: WHAT });
        }
        Ok(RecordHeader {
            kind,
            key_len,
            val_len: get_u64(b, 8),
            value_crc: get_u32(b, 16),
            seq: get_u64(b, 24),
            seg_seq: get_u64(b, 32),
            parts: if kind == RecordKind::Stripe {
                get_u32(b, 40)
            } else {
                0
            },
            parts_crc: if kind == RecordKind::Stripe {
                get_u32(b, 44)
            } else {
                0
            },
        })
    }
}

/// Values from this size on are laid out with [`value_gap`], so that they can be written
/// from the buffers they arrived in; smaller ones are copied next to their header (the gap
/// would cost more, relatively, than the copy saves).
pub const ALIGNED_VALUE_MIN: u64 = 256 * 1024;

/// The most bytes [`value_gap`] puts ahead of a record, for drive alignment `align`.
pub fn max_value_gap(align: u64) -> u64 {
    align + RECORD_HEADER_LEN as u64 - 1
}

/// Bytes of pad record to put at segment offset `pos` so that the value of a record with a
/// `key_len`-byte key that follows starts on a multiple of `align` (a power of two): 0 when
/// it does already, else at least [`RECORD_HEADER_LEN`] (a pad record's header) and at most
/// [`max_value_gap`].
pub fn value_gap(pos: u64, key_len: usize, align: u64) -> u64 {
    let value_at = pos + (RECORD_HEADER_LEN + key_len) as u64;
    let gap = align_up(value_at, align) - value_at;
    if gap == 0 || gap >= RECORD_HEADER_LEN as u64 {
        gap
    } else {
        gap + align
    }
}

/// CRC32C over a record header (with its checksum field taken as zero) and key.
fn header_crc(header_and_key: &[u8]) -> u32 {
    let crc = crate::checksum::crc32c(&header_and_key[..20]);
    let crc = crate::checksum::crc32c_append(crc, &[0; 4]);
    crate::checksum::crc32c_append(crc, &header_and_key[24..])
}

/// One entry of a segment summary: where a record of the segment is and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryEntry {
    /// Put or delete.
    pub kind: RecordKind,
    /// The key.
    pub key: Vec<u8>,
    /// Offset of the record within the extent.
    pub offset: u32,
    /// Value length.
    pub val_len: u64,
    /// CRC32C of the value.
    pub value_crc: u32,
    /// Sequence number.
    pub seq: u64,
    /// Stripe entries: where the parts of the value are (empty otherwise).
    pub parts: Vec<PartRef>,
}

impl SummaryEntry {
    /// Bytes an entry with a key of `key_len` bytes and `parts` part references takes in a
    /// summary.
    pub fn encoded_len(key_len: usize, parts: usize) -> u64 {
        align_up(
            (SUMMARY_ENTRY_LEN + key_len + parts * PART_REF_LEN) as u64,
            8,
        )
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + SUMMARY_ENTRY_LEN, 0);
        let b = &mut out[start..];
        b[0] = self.kind.code();
        put_u16(b, 2, self.key.len() as u16);
        put_u32(b, 4, self.offset);
        put_u64(b, 8, self.val_len);
        put_u32(b, 16, self.value_crc);
        put_u32(b, 20, self.parts.len() as u32);
        put_u64(b, 24, self.seq);
        out.extend_from_slice(&self.key);
        encode_parts(&self.parts, out);
        out.resize(
            start + Self::encoded_len(self.key.len(), self.parts.len()) as usize,
            0,
        );
    }
}

/// The footer in the last [`META_BLOCK`] of a sealed segment; it locates the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// The segment incarnation it seals.
    pub seg_seq: u64,
    /// Offset of the summary within the extent (a multiple of [`META_BLOCK`]).
    pub summary_off: u64,
    /// Length of the encoded summary.
    pub summary_len: u64,
    /// Number of entries.
    pub entries: u64,
    /// CRC32C of the encoded summary.
    pub summary_crc: u32,
}

impl Footer {
    /// Decodes a footer block.
    pub fn decode(b: &[u8]) -> Result<Footer, FormatError> {
        const WHAT: &str = "segment summary footer";
        if b.len() < 56 || &b[0..8] != FOOTER_MAGIC {
            return Err(FormatError::NotPresent { what: WHAT });
        }
        check_version(WHAT, get_u32(b, 8))?;
        if crate::checksum::crc32c(&b[..52]) != get_u32(b, 52) {
            return Err(FormatError::Damaged { what: WHAT });
        }
        Ok(Footer {
            seg_seq: get_u64(b, 16),
            summary_off: get_u64(b, 24),
            summary_len: get_u64(b, 32),
            entries: get_u64(b, 40),
            summary_crc: get_u32(b, 48),
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; META_BLOCK as usize];
        b[0..8].copy_from_slice(FOOTER_MAGIC);
        put_u32(&mut b, 8, FORMAT_VERSION);
        put_u64(&mut b, 16, self.seg_seq);
        put_u64(&mut b, 24, self.summary_off);
        put_u64(&mut b, 32, self.summary_len);
        put_u64(&mut b, 40, self.entries);
        put_u32(&mut b, 48, self.summary_crc);
        let crc = crate::checksum::crc32c(&b[..52]);
        put_u32(&mut b, 52, crc);
        b
    }
}

/// Encodes a segment's summary and footer as one block-aligned tail ending at the end of the
/// extent. Returns the offset within the extent where the tail starts, and its bytes.
pub fn encode_summary(seg_seq: u64, extent_size: u64, entries: &[SummaryEntry]) -> (u64, Vec<u8>) {
    let mut body = Vec::new();
    for e in entries {
        e.encode(&mut body);
    }
    let footer_off = extent_size - META_BLOCK;
    let summary_off = align_down(footer_off - body.len() as u64, META_BLOCK);
    let footer = Footer {
        seg_seq,
        summary_off,
        summary_len: body.len() as u64,
        entries: entries.len() as u64,
        summary_crc: crate::checksum::crc32c(&body),
    };
    let mut out = body;
    out.resize((footer_off - summary_off) as usize, 0);
    out.extend_from_slice(&footer.encode());
    (summary_off, out)
}

/// Bytes a summary with `body_len` bytes of entries needs at the end of an extent (summary
/// rounded to [`META_BLOCK`], plus the footer).
pub fn summary_reserve(body_len: u64) -> u64 {
    align_up(body_len, META_BLOCK) + META_BLOCK
}

/// Decodes the summary body `b` (exactly `footer.summary_len` bytes).
pub fn decode_summary(footer: &Footer, b: &[u8]) -> Result<Vec<SummaryEntry>, FormatError> {
    const WHAT: &str = "segment summary";
    if b.len() as u64 != footer.summary_len || crate::checksum::crc32c(b) != footer.summary_crc {
        return Err(FormatError::Damaged { what: WHAT });
    }
    let mut out = Vec::with_capacity(footer.entries as usize);
    let mut at = 0usize;
    for _ in 0..footer.entries {
        if at + SUMMARY_ENTRY_LEN > b.len() {
            return Err(FormatError::Damaged { what: WHAT });
        }
        let kind = RecordKind::from_code(b[at])
            .filter(|&k| k != RecordKind::Pad)
            .ok_or(FormatError::Damaged { what: WHAT })?;
        let key_len = usize::from(get_u16(b, at + 2));
        let key_at = at + SUMMARY_ENTRY_LEN;
        if key_at + key_len > b.len() {
            return Err(FormatError::Damaged { what: WHAT });
        }
        let nparts = if kind == RecordKind::Stripe {
            get_u32(b, at + 20) as usize
        } else {
            0
        };
        let parts = decode_parts(&b[key_at + key_len..], nparts)
            .ok_or(FormatError::Damaged { what: WHAT })?;
        out.push(SummaryEntry {
            kind,
            key: b[key_at..key_at + key_len].to_vec(),
            offset: get_u32(b, at + 4),
            val_len: get_u64(b, at + 8),
            value_crc: get_u32(b, at + 16),
            seq: get_u64(b, at + 24),
            parts,
        });
        at += SummaryEntry::encoded_len(key_len, nparts) as usize;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb() -> Superblock {
        Superblock {
            version: FORMAT_VERSION,
            drive_uuid: [1; 16],
            set_uuid: [2; 16],
            drive_index: 1,
            drive_count: 2,
            extent_size: 1 << 20,
            extent_count: 63,
            data_start: 1 << 20,
            logical_block_size: 4096,
            shard_size_kib: 64,
            created_unix: 1_700_000_000,
            drive_size: 64 << 20,
        }
    }

    #[test]
    fn superblock_round_trips_and_detects_damage() {
        let mut b = sb().encode();
        assert_eq!(Superblock::decode(&b).unwrap(), sb());
        b[100] ^= 1;
        assert_eq!(
            Superblock::decode(&b),
            Err(FormatError::Damaged { what: "superblock" })
        );
    }

    #[test]
    fn a_newer_version_is_refused_with_its_number() {
        for (what, mut b) in [
            ("superblock", sb().encode()),
            (
                "segment header",
                SegmentHeader {
                    seg_seq: 9,
                    drive_index: 0,
                    extent: 3,
                    set_uuid: [2; 16],
                    kind: SegmentKind::Log,
                }
                .encode(),
            ),
        ] {
            put_u32(&mut b, 8, FORMAT_VERSION + 1);
            let err = match what {
                "superblock" => Superblock::decode(&b).unwrap_err(),
                _ => SegmentHeader::decode(&b).unwrap_err(),
            };
            assert_eq!(
                err,
                FormatError::NewerVersion {
                    what,
                    found: FORMAT_VERSION + 1
                }
            );
            assert!(err.to_string().contains("upgrade memkv"), "{err}");
        }
    }

    #[test]
    fn records_round_trip_and_the_key_is_covered_by_the_checksum() {
        let h = RecordHeader {
            kind: RecordKind::Put,
            key_len: 3,
            val_len: 5,
            value_crc: 77,
            seq: 12,
            seg_seq: 4,
            parts: 0,
            parts_crc: 0,
        };
        let mut out = Vec::new();
        h.encode_with_key(b"abc", &mut out);
        assert_eq!(RecordHeader::decode(&out).unwrap(), h);
        let last = out.len() - 1;
        out[last] = b'x';
        assert!(matches!(
            RecordHeader::decode(&out),
            Err(FormatError::Damaged { .. })
        ));
    }

    #[test]
    fn summaries_round_trip() {
        let entries = vec![
            SummaryEntry {
                kind: RecordKind::Put,
                key: b"k1".to_vec(),
                offset: 4096,
                val_len: 10,
                value_crc: 5,
                seq: 1,
                parts: Vec::new(),
            },
            SummaryEntry {
                kind: RecordKind::Delete,
                key: vec![7; 300],
                offset: 8192,
                val_len: 0,
                value_crc: 0,
                seq: 2,
                parts: Vec::new(),
            },
            SummaryEntry {
                kind: RecordKind::Stripe,
                key: b"big".to_vec(),
                offset: 12288,
                val_len: 9 << 20,
                value_crc: 0xDEAD_BEEF,
                seq: 3,
                parts: (0..3)
                    .map(|i| PartRef {
                        drive: i % 2,
                        extent: 7 + i,
                        seg_seq: 40 + u64::from(i),
                        len: if i < 2 { 4 << 20 } else { 1 << 20 },
                    })
                    .collect(),
            },
        ];
        let extent = 1 << 20;
        let (off, tail) = encode_summary(9, extent, &entries);
        assert_eq!(off + tail.len() as u64, extent);
        assert_eq!(off % META_BLOCK, 0);
        let footer = Footer::decode(&tail[tail.len() - META_BLOCK as usize..]).unwrap();
        assert_eq!(footer.seg_seq, 9);
        let body = &tail[..footer.summary_len as usize];
        assert_eq!(decode_summary(&footer, body).unwrap(), entries);
    }

    #[test]
    fn part_headers_round_trip_and_version_1_headers_still_decode() {
        let part = SegmentHeader {
            seg_seq: 77,
            drive_index: 1,
            extent: 9,
            set_uuid: [3; 16],
            kind: SegmentKind::Part {
                part_len: 123_456,
                part_crc: 0xABCD,
            },
        };
        let mut b = part.encode();
        assert_eq!(SegmentHeader::decode(&b).unwrap(), part);
        b[60] ^= 1;
        assert!(matches!(
            SegmentHeader::decode(&b),
            Err(FormatError::Damaged { .. })
        ));

        // A version 1 header: CRC over bytes 0..48 at 48, nothing else.
        let mut v1 = vec![0u8; META_BLOCK as usize];
        v1[0..8].copy_from_slice(SEG_MAGIC);
        put_u32(&mut v1, 8, 1);
        put_u32(&mut v1, 12, 1);
        put_u64(&mut v1, 16, 5);
        put_u32(&mut v1, 28, 4);
        let crc = crate::checksum::crc32c(&v1[..48]);
        put_u32(&mut v1, 48, crc);
        let h = SegmentHeader::decode(&v1).unwrap();
        assert_eq!((h.seg_seq, h.extent, h.kind), (5, 4, SegmentKind::Log));
    }

    #[test]
    fn stripe_records_carry_their_part_list_and_tail() {
        let parts = vec![PartRef {
            drive: 0,
            extent: 2,
            seg_seq: 9,
            len: 5000,
        }];
        let mut payload = Vec::new();
        encode_parts(&parts, &mut payload);
        let tail = [7u8; 300];
        let h = RecordHeader {
            kind: RecordKind::Stripe,
            key_len: 1,
            val_len: 5300,
            value_crc: 1,
            seq: 10,
            seg_seq: 3,
            parts: 1,
            parts_crc: crate::checksum::crc32c(&payload),
        };
        let mut out = Vec::new();
        h.encode_with_key(b"k", &mut out);
        out.extend_from_slice(&payload);
        out.extend_from_slice(&tail);
        let back = RecordHeader::decode(&out).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.payload_len(), PART_REF_LEN as u64);
        let at = RECORD_HEADER_LEN + 1;
        let decoded = decode_parts(&out[at..], 1).unwrap();
        assert_eq!(decoded, parts);
        assert_eq!(stripe_tail_len(back.val_len, &decoded), Some(300));
        let tail_at = at + PART_REF_LEN;
        assert_eq!(&out[tail_at..], &tail[..]);
        // Parts holding more than the value: damage, not a tail.
        assert_eq!(stripe_tail_len(4999, &decoded), None);
    }
}
