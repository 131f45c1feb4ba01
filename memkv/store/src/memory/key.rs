//! Compact owned keys for the memory engine: short keys are stored inline in the slot, longer
//! ones in a single exact-size heap allocation, so a stored key costs at most one allocation
//! and no capacity slack.

/// Keys up to this many bytes are stored inline, without a heap allocation.
pub(super) const INLINE_KEY_LEN: usize = 22;

/// An owned key, 24 bytes on 64-bit targets.
pub(super) enum Key {
    /// A key of `len` ≤ [`INLINE_KEY_LEN`] bytes held in `bytes[..len]`.
    Inline {
        len: u8,
        bytes: [u8; INLINE_KEY_LEN],
    },
    /// A longer key, in an allocation of exactly its length.
    Heap(Box<[u8]>),
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<Key>() == 24);

impl Key {
    /// The empty key held by vacant slots; owns no allocation.
    pub(super) const EMPTY: Key = Key::Inline {
        len: 0,
        bytes: [0; INLINE_KEY_LEN],
    };

    pub(super) fn new(key: &[u8]) -> Self {
        if key.len() <= INLINE_KEY_LEN {
            let mut bytes = [0; INLINE_KEY_LEN];
            bytes[..key.len()].copy_from_slice(key);
            // Cannot truncate: key.len() <= INLINE_KEY_LEN < 256.
            Key::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(key.into())
        }
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Key::Heap(b) => b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_inline_and_on_the_heap() {
        for len in [
            0,
            1,
            INLINE_KEY_LEN - 1,
            INLINE_KEY_LEN,
            INLINE_KEY_LEN + 1,
            512,
        ] {
            let raw: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let key = Key::new(&raw);
            assert_eq!(key.as_bytes(), &raw[..]);
            assert_eq!(
                matches!(key, Key::Inline { .. }),
                len <= INLINE_KEY_LEN,
                "len {len}"
            );
        }
    }
}
