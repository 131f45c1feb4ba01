//! CRC32C (Castagnoli), the checksum of stored values and of the on-disk records: the same
//! function as the wire protocol's end-to-end value checksum, computed with carry-less
//! multiplication (PCLMULQDQ/VPCLMULQDQ, PMULL) by `crc-fast`.

/// CRC32C of `data`.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    // A CRC-32 register is 32 bits wide: the u64 holds it in its low half.
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data) as u32
}

/// Extends a running CRC32C with more bytes, as if they followed the bytes already summed.
#[inline]
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    // The digest's state is the register before the final inversion.
    let mut digest = crc_fast::Digest::new_with_init_state(
        crc_fast::CrcAlgorithm::Crc32Iscsi,
        u64::from(crc ^ 0xffff_ffff),
    );
    digest.update(data);
    digest.finalize() as u32
}

#[cfg(test)]
mod tests {
    #[test]
    fn agrees_with_the_reference_implementation() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i ^ (i >> 7)) as u8).collect();
        for len in [0, 1, 15, 64, 4095, 4096, 65_537, 70_000] {
            assert_eq!(super::crc32c(&data[..len]), crc32c::crc32c(&data[..len]));
            let cut = len / 3;
            assert_eq!(
                super::crc32c_append(super::crc32c(&data[..cut]), &data[cut..len]),
                crc32c::crc32c(&data[..len])
            );
        }
    }
}
