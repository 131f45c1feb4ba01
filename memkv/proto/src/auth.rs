//! Shared keys, integrity modes, per-connection sessions and frame tags.
//!
//! Every frame carries a 16-byte tag computed under a key derived from the shared 32-byte auth
//! key and the two nonces exchanged in the handshake. A frame therefore verifies only on the
//! connection it was made for: replaying it on another connection fails with `BadMac`.
//!
//! | mode          | tag covers                                   | MAC              |
//! |---------------|----------------------------------------------|------------------|
//! | `mac`         | header, control section, data                | keyed BLAKE3     |
//! | `hmac-sha256` | header, control section, data                | HMAC-SHA256      |
//! | `checksum`    | header (which holds the data's CRC32C), ctrl | keyed BLAKE3     |

use std::fmt;
use std::str::FromStr;

use hmac::{Mac as _, digest::KeyInit};
use subtle::ConstantTimeEq;

use crate::header::{HEADER_LEN, Header, SIGNED_LEN};

/// Bytes of a frame tag.
pub const TAG_LEN: usize = 16;
/// Bytes of a handshake nonce.
pub const NONCE_LEN: usize = 16;

/// A handshake nonce.
pub type Nonce = [u8; NONCE_LEN];

const SESSION_LABEL: &[u8] = b"memkv session v1";
const DEV_KEY_CONTEXT: &str = "memkv loopback dev key v1";

/// The shared 32-byte key that authenticates every frame (`network.auth_key` on servers,
/// `auth_key` / `MEMKV_AUTH_KEY` on clients).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey([u8; 32]);

/// Why an auth key string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthKeyError {
    /// Wrong length.
    #[error(
        "auth key must be 64 hex characters (32 bytes), got {0} characters; generate one with `openssl rand -hex 32`"
    )]
    KeyLength(usize),
    /// Not hexadecimal.
    #[error("auth key must be hexadecimal (0-9, a-f); generate one with `openssl rand -hex 32`")]
    KeyHex,
}

impl AuthKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        AuthKey(bytes)
    }

    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, AuthKeyError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(AuthKeyError::KeyLength(text.len()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|_| AuthKeyError::KeyHex)?;
        Ok(AuthKey(out))
    }

    /// The deterministic development key that a server and a client both derive when no key is
    /// configured and every endpoint is on loopback. It is public knowledge: it protects nothing
    /// beyond the loopback interface, and servers refuse to use it on any other address.
    pub fn loopback_dev_key() -> Self {
        AuthKey(blake3::derive_key(DEV_KEY_CONTEXT, b""))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short, non-secret fingerprint for logs (first 8 hex digits of a hash of the key).
    pub fn fingerprint(&self) -> String {
        let h = blake3::derive_key("memkv auth key fingerprint v1", &self.0);
        hex::encode(&h[..4])
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthKey(fingerprint {})", self.fingerprint())
    }
}

/// How frames are protected (`network.integrity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Integrity {
    /// Keyed BLAKE3 over header, control section and data (the default).
    #[default]
    Mac,
    /// HMAC-SHA256 over header, control section and data, for compliance regimes.
    HmacSha256,
    /// Keyed BLAKE3 over header and control section; the data is covered by the CRC32C in the
    /// header. For trusted fabrics: it detects damage, not a forger who can recompute a CRC.
    Checksum,
}

/// Unknown integrity mode name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown integrity mode `{0}`: use `mac`, `hmac-sha256` or `checksum`")]
pub struct ParseIntegrityError(pub String);

impl Integrity {
    /// Every mode.
    pub const ALL: [Integrity; 3] = [Integrity::Mac, Integrity::HmacSha256, Integrity::Checksum];

    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Integrity::Mac => "mac",
            Integrity::HmacSha256 => "hmac-sha256",
            Integrity::Checksum => "checksum",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Integrity::Mac => 0,
            Integrity::HmacSha256 => 1,
            Integrity::Checksum => 2,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Integrity::Mac),
            1 => Some(Integrity::HmacSha256),
            2 => Some(Integrity::Checksum),
            _ => None,
        }
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Integrity {
    type Err = ParseIntegrityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mac" | "blake3" => Ok(Integrity::Mac),
            "hmac-sha256" | "hmac_sha256" | "hmac" => Ok(Integrity::HmacSha256),
            "checksum" | "crc32c" => Ok(Integrity::Checksum),
            _ => Err(ParseIntegrityError(s.to_owned())),
        }
    }
}

/// Why a frame did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The frame was sealed in another integrity mode than this session's.
    #[error("frame uses integrity mode `{frame}` but the connection uses `{session}`")]
    IntegrityMismatch {
        /// Mode in the frame.
        frame: Integrity,
        /// Mode of the session.
        session: Integrity,
    },
    /// The tag does not verify: wrong key, a frame from another connection, or tampering.
    #[error(
        "frame tag does not verify: wrong auth key, a frame replayed from another connection, or a tampered frame"
    )]
    BadMac,
    /// The data does not match the header's CRC32C (checksum mode).
    #[error("frame data does not match its CRC32C: damaged in transit")]
    ChecksumMismatch,
}

/// The keyed tag state of one connection (or of a handshake).
#[derive(Clone)]
pub struct Session {
    integrity: Integrity,
    key: [u8; 32],
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("integrity", &self.integrity)
            .finish_non_exhaustive()
    }
}

enum Tagger {
    Blake3(Box<blake3::Hasher>),
    Hmac(Box<hmac::Hmac<sha2::Sha256>>),
}

impl Tagger {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Tagger::Blake3(h) => {
                h.update(bytes);
            }
            Tagger::Hmac(h) => h.update(bytes),
        }
    }

    fn finish(self) -> [u8; TAG_LEN] {
        let mut tag = [0u8; TAG_LEN];
        match self {
            Tagger::Blake3(h) => tag.copy_from_slice(&h.finalize().as_bytes()[..TAG_LEN]),
            Tagger::Hmac(h) => tag.copy_from_slice(&h.finalize().into_bytes()[..TAG_LEN]),
        }
        tag
    }
}

impl Session {
    /// The session used for the handshake frames themselves: tags under the raw auth key.
    pub fn handshake(auth: &AuthKey, integrity: Integrity) -> Self {
        Session {
            integrity,
            key: auth.0,
        }
    }

    /// The session of an established connection, bound to both handshake nonces.
    pub fn derive(auth: &AuthKey, integrity: Integrity, client: &Nonce, server: &Nonce) -> Self {
        let mut t = Self::handshake(auth, integrity).tagger();
        t.update(SESSION_LABEL);
        t.update(&[integrity.code()]);
        t.update(client);
        t.update(server);
        let key = match t {
            Tagger::Blake3(h) => *h.finalize().as_bytes(),
            Tagger::Hmac(h) => h.finalize().into_bytes().into(),
        };
        Session { integrity, key }
    }

    /// The integrity mode of this session.
    pub fn integrity(&self) -> Integrity {
        self.integrity
    }

    fn tagger(&self) -> Tagger {
        match self.integrity {
            Integrity::Mac | Integrity::Checksum => {
                Tagger::Blake3(Box::new(blake3::Hasher::new_keyed(&self.key)))
            }
            Integrity::HmacSha256 => Tagger::Hmac(Box::new(
                <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.key)
                    .expect("HMAC accepts any key length"),
            )),
        }
    }

    fn compute_tag(&self, signed: &[u8], ctrl: &[u8], data: &[&[u8]]) -> [u8; TAG_LEN] {
        let mut t = self.tagger();
        t.update(signed);
        t.update(ctrl);
        if self.integrity != Integrity::Checksum {
            for piece in data {
                t.update(piece);
            }
        }
        t.finish()
    }

    /// Fills in the integrity mode, lengths, data checksum and tag of `header` and returns its
    /// encoding. `data` may be split in pieces (they are sent back to back). `data_crc` is the
    /// CRC32C of the data if the caller already knows it (values carry theirs); otherwise it is
    /// computed here when the mode needs it.
    pub fn seal(
        &self,
        header: &mut Header,
        ctrl: &[u8],
        data: &[&[u8]],
        data_crc: Option<u32>,
    ) -> [u8; HEADER_LEN] {
        let data_len: usize = data.iter().map(|p| p.len()).sum();
        header.integrity = self.integrity;
        header.ctrl_len = u32::try_from(ctrl.len()).expect("control section fits in u32");
        header.data_len = u32::try_from(data_len).expect("data section fits in u32");
        header.data_crc = match (data_crc, self.integrity) {
            (Some(crc), _) => crc,
            (None, Integrity::Checksum) => data
                .iter()
                .fold(0, |crc, piece| crate::crc32c_append(crc, piece)),
            (None, _) => 0,
        };
        header.tag = [0; TAG_LEN];
        let mut raw = header.encode();
        let tag = self.compute_tag(&raw[..SIGNED_LEN], ctrl, data);
        raw[SIGNED_LEN..].copy_from_slice(&tag);
        header.tag = tag;
        raw
    }

    /// [`seal`](Session::seal) for data whose CRC32C the sender knows (`data_crc`, stored
    /// with a value) but has not re-checked against the bytes. In the MAC modes the data's
    /// CRC32C is computed along with the tag and returned: the caller compares it with
    /// `data_crc` before sending anything. (Whole pieces: feeding BLAKE3 in cache-sized chunks
    /// interleaved with the CRC measured slower than two passes.) In checksum mode the header
    /// carries `data_crc` and nothing is computed (`None`): the caller sums the data as it
    /// sends it, and the receiver checks it against the header.
    pub fn seal_unchecked(
        &self,
        header: &mut Header,
        ctrl: &[u8],
        data: &[&[u8]],
        data_crc: u32,
    ) -> ([u8; HEADER_LEN], Option<u32>) {
        if self.integrity == Integrity::Checksum {
            return (self.seal(header, ctrl, data, Some(data_crc)), None);
        }
        let data_len: usize = data.iter().map(|p| p.len()).sum();
        header.integrity = self.integrity;
        header.ctrl_len = u32::try_from(ctrl.len()).expect("control section fits in u32");
        header.data_len = u32::try_from(data_len).expect("data section fits in u32");
        header.data_crc = data_crc;
        header.tag = [0; TAG_LEN];
        let mut raw = header.encode();
        let mut t = self.tagger();
        t.update(&raw[..SIGNED_LEN]);
        t.update(ctrl);
        let mut crc = 0;
        for piece in data {
            t.update(piece);
            crc = crate::crc32c_append(crc, piece);
        }
        let tag = t.finish();
        raw[SIGNED_LEN..].copy_from_slice(&tag);
        header.tag = tag;
        (raw, Some(crc))
    }

    /// Verifies a received frame completely: the mode, the tag and, in checksum mode, the CRC32C
    /// of the data.
    pub fn verify(
        &self,
        header: &Header,
        raw: &[u8; HEADER_LEN],
        ctrl: &[u8],
        data: &[u8],
    ) -> Result<(), VerifyError> {
        let mut v = self.verifier(header, raw, ctrl, DataCrc::Compute);
        v.update(data);
        v.finish().map(drop)
    }

    /// Verifies the mode and the tag only. In checksum mode the data is NOT checked: the caller
    /// must compare the CRC32C of the data (for example derived from per-value checksums it
    /// computes anyway) with `header.data_crc`.
    pub fn verify_tag(
        &self,
        header: &Header,
        raw: &[u8; HEADER_LEN],
        ctrl: &[u8],
        data: &[u8],
    ) -> Result<(), VerifyError> {
        let mut v = self.verifier(header, raw, ctrl, DataCrc::Skip);
        v.update(data);
        v.finish().map(drop)
    }

    /// Starts verifying a frame whose data is still arriving: feed the data to
    /// [`FrameVerifier::update`] piece by piece as it is read (while it is still in the CPU's
    /// cache), then call [`FrameVerifier::finish`]. Nothing about the frame may be trusted
    /// before `finish` returns `Ok`.
    pub fn verifier(
        &self,
        header: &Header,
        raw: &[u8; HEADER_LEN],
        ctrl: &[u8],
        crc: DataCrc,
    ) -> FrameVerifier {
        let mut tagger = self.tagger();
        tagger.update(&raw[..SIGNED_LEN]);
        tagger.update(ctrl);
        FrameVerifier {
            integrity: self.integrity,
            frame_integrity: header.integrity,
            tagger,
            expected_tag: header.tag,
            expected_crc: header.data_crc,
            crc: (crc != DataCrc::Skip).then_some(0),
            compare_crc: crc == DataCrc::Compute,
        }
    }
}

/// Whether a [`FrameVerifier`] computes the CRC32C of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataCrc {
    /// Compute it: in checksum mode it is compared with the header's, and in every mode
    /// [`FrameVerifier::finish`] returns it (a put's value CRC at no extra pass).
    Compute,
    /// Compute and return it, but leave the comparison with `header.data_crc` (checksum mode)
    /// to the caller: a value-carrying reply whose data is damaged is a miss for that value,
    /// not a broken connection.
    Report,
    /// Skip it: in checksum mode the caller must check the data against `header.data_crc`
    /// itself (a batch put derives it from the per-value CRCs it computes anyway).
    Skip,
}

/// Verification of one frame whose data arrives in pieces (see [`Session::verifier`]).
pub struct FrameVerifier {
    integrity: Integrity,
    frame_integrity: Integrity,
    tagger: Tagger,
    expected_tag: [u8; TAG_LEN],
    expected_crc: u32,
    crc: Option<u32>,
    compare_crc: bool,
}

impl fmt::Debug for FrameVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameVerifier")
            .field("integrity", &self.integrity)
            .finish_non_exhaustive()
    }
}

impl FrameVerifier {
    /// Feeds the next piece of the frame's data, in order.
    pub fn update(&mut self, data: &[u8]) {
        if self.integrity != Integrity::Checksum {
            self.tagger.update(data);
        }
        if let Some(crc) = &mut self.crc {
            *crc = crate::crc32c_append(*crc, data);
        }
    }

    /// Checks the mode, the tag and, in checksum mode with [`DataCrc::Compute`], the data's
    /// CRC32C. Returns that CRC32C when it was computed.
    pub fn finish(self) -> Result<Option<u32>, VerifyError> {
        if self.frame_integrity != self.integrity {
            return Err(VerifyError::IntegrityMismatch {
                frame: self.frame_integrity,
                session: self.integrity,
            });
        }
        let tag = self.tagger.finish();
        if !bool::from(tag.ct_eq(&self.expected_tag)) {
            return Err(VerifyError::BadMac);
        }
        if self.integrity == Integrity::Checksum
            && self.compare_crc
            && self.crc.is_some_and(|crc| crc != self.expected_crc)
        {
            return Err(VerifyError::ChecksumMismatch);
        }
        Ok(self.crc)
    }
}
