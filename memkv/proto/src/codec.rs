//! Little-endian encoding helpers for control sections.

/// Appends fields to a control section.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty encoder with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> Self {
        Encoder {
            buf: Vec::with_capacity(cap),
        }
    }
    /// Appends a byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    /// Appends a u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Appends a u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Appends a u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Appends an i64.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Appends raw bytes with no length prefix.
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    /// Appends a key: a u16 length and its bytes. Panics above `u16::MAX` bytes; callers check
    /// [`crate::MAX_KEY_LEN`] first.
    pub fn key(&mut self, key: &[u8]) -> &mut Self {
        self.u16(u16::try_from(key.len()).expect("key length checked by caller"));
        self.raw(key)
    }
    /// Appends a string: a u32 length and UTF-8 bytes.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.u32(u32::try_from(s.len()).expect("string fits in u32"));
        self.raw(s.as_bytes())
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// A control section that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The section ended inside a field.
    #[error("control section truncated while reading {0}")]
    Truncated(&'static str),
    /// A field holds an impossible value.
    #[error("control section field {0} is invalid")]
    Invalid(&'static str),
    /// Bytes left over after the last field.
    #[error("control section has {0} unexpected trailing bytes")]
    Trailing(usize),
}

/// Reads fields from a control section; every read is bounds-checked.
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
}

impl<'a> Decoder<'a> {
    /// Starts reading `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf }
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    /// Reads a byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    /// Reads a u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(
            self.take(2, what)?.try_into().expect("2 bytes"),
        ))
    }
    /// Reads a u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }
    /// Reads a u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    /// Reads an i64.
    pub fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    /// Reads `n` raw bytes.
    pub fn raw(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        self.take(n, what)
    }
    /// Reads a key (u16 length, bytes). Length is not limited here: callers compare it with
    /// [`crate::MAX_KEY_LEN`] to answer `KeyTooLong`.
    pub fn key(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u16("key length")?;
        self.take(usize::from(n), "key")
    }
    /// Reads a UTF-8 string (u32 length, bytes).
    pub fn str(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        let n = self.u32(what)?;
        let n = usize::try_from(n).map_err(|_| DecodeError::Invalid(what))?;
        std::str::from_utf8(self.take(n, what)?).map_err(|_| DecodeError::Invalid(what))
    }
    /// Reads an element count that must be plausible for the remaining bytes, each element
    /// needing at least `min_elem` bytes; stops a forged count from driving a huge allocation.
    pub fn count(&mut self, min_elem: usize, what: &'static str) -> Result<usize, DecodeError> {
        let n = usize::try_from(self.u32(what)?).map_err(|_| DecodeError::Invalid(what))?;
        if n.saturating_mul(min_elem.max(1)) > self.buf.len() {
            return Err(DecodeError::Truncated(what));
        }
        Ok(n)
    }
    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
    /// Fails if bytes are left over.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.buf.len()))
        }
    }
}
