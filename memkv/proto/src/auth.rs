//! Shared keys, integrity modes, per-connection sessions and frame tags.
//!
//! Every frame carries a 16-byte tag computed under a key derived from the shared 32-byte auth
//! key and the two nonces exchanged in the handshake. A frame therefore verifies only on the
//! connection it was made for: replaying it on another connection fails with `BadMac`.
//!
//! The header's tag covers the header and the control section. A frame with data ends with a
//! trailer: the data's CRC32C and a second tag over header, control section, (MAC modes) the
//! data, and that CRC32C, computed by the sender while it writes the data.
//!
//! | mode          | data covered by the trailer's tag                      | MAC              |
//! |---------------|--------------------------------------------------------|-------------------|
//! | `mac`         | through each value's digest (keyed from the auth key)  | POLYVAL + AES-256 |
//! | `hmac-sha256` | yes                                                    | HMAC-SHA256       |
//! | `checksum`    | no: only by the (tagged) CRC32C                        | POLYVAL + AES-256 |
//!
//! In `mac` mode a value's digest is the same on every connection, so a server can keep it and
//! send the value later without reading it ([`Session::seal_stored`]; docs/protocol.md "Value
//! digests").
//!
//! POLYVAL + AES-256 is [`memkv_mac`]'s MAC: POLYVAL over the bytes, the hash encrypted with
//! AES-256, both keyed from the session key (docs/protocol.md).

use std::fmt;
use std::str::FromStr;

use hmac::{Mac as _, digest::KeyInit};
use memkv_mac::{DIGEST_LEN, Mac, MacKey};
use subtle::ConstantTimeEq;

use crate::header::{HEADER_LEN, Header, SIGNED_LEN, TRAILER_LEN};
use crate::msg;
use crate::opcode::{Opcode, Status};

/// Bytes of a frame tag.
pub const TAG_LEN: usize = 16;
/// Bytes of a handshake nonce.
pub const NONCE_LEN: usize = 16;

/// A handshake nonce.
pub type Nonce = [u8; NONCE_LEN];

const SESSION_LABEL: &[u8] = b"memkv session v1";
const DIGEST_CONTEXT: &str = "memkv value digest v1";
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
    /// The POLYVAL + AES-256 MAC ([`memkv_mac`]) over header, control section and data (the
    /// default).
    #[default]
    Mac,
    /// HMAC-SHA256 over header, control section and data, for compliance regimes.
    HmacSha256,
    /// The POLYVAL + AES-256 MAC over header and control section; the data is covered by its
    /// CRC32C in the
    /// (tagged) trailer. For trusted fabrics: it detects damage, not a forger who can recompute
    /// a CRC.
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
            "mac" => Ok(Integrity::Mac),
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
    keys: FrameKeys,
    /// `mac` mode: the key of the value digests that a data tag covers instead of the data,
    /// derived from the auth key alone, so that a digest is the same on every connection.
    digests: Option<MacKey>,
}

/// What a session's taggers start from, prepared once per session.
#[derive(Clone)]
enum FrameKeys {
    /// The `mac` and `checksum` modes: the MAC's derived keys.
    Mac(MacKey),
    /// `hmac-sha256`: HMAC keyed and ready (its padded key blocks hashed), cloned per frame.
    Hmac(Box<hmac::Hmac<sha2::Sha256>>),
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("integrity", &self.integrity)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Tagger {
    Mac(Mac),
    Hmac(Box<hmac::Hmac<sha2::Sha256>>),
}

impl Tagger {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Tagger::Mac(m) => m.update(bytes),
            Tagger::Hmac(h) => h.update(bytes),
        }
    }

    fn finish(self) -> [u8; TAG_LEN] {
        match self {
            Tagger::Mac(m) => m.tag(),
            Tagger::Hmac(h) => {
                let mut tag = [0u8; TAG_LEN];
                tag.copy_from_slice(&h.finalize().into_bytes()[..TAG_LEN]);
                tag
            }
        }
    }

    /// The tag of the bytes fed so far, the tagger left as it is (a frame's header tag, after
    /// which the same tagger goes on over the data).
    fn tag_so_far(&self) -> [u8; TAG_LEN] {
        match self {
            Tagger::Mac(m) => m.tag(),
            other => other.clone().finish(),
        }
    }
}

impl Session {
    /// The session used for the handshake frames themselves: tags under the raw auth key.
    pub fn handshake(auth: &AuthKey, integrity: Integrity) -> Self {
        Self::with_key(auth, integrity, auth.0)
    }

    fn with_key(auth: &AuthKey, integrity: Integrity, key: [u8; 32]) -> Self {
        let keys = match integrity {
            Integrity::Mac | Integrity::Checksum => FrameKeys::Mac(MacKey::derive(&key)),
            Integrity::HmacSha256 => FrameKeys::Hmac(Box::new(
                <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key)
                    .expect("HMAC accepts any key length"),
            )),
        };
        let digests = (integrity == Integrity::Mac)
            .then(|| MacKey::derive(&blake3::derive_key(DIGEST_CONTEXT, &auth.0)));
        Session {
            integrity,
            keys,
            digests,
        }
    }

    /// The session of an established connection, bound to both handshake nonces.
    pub fn derive(auth: &AuthKey, integrity: Integrity, client: &Nonce, server: &Nonce) -> Self {
        let parts: [&[u8]; 4] = [SESSION_LABEL, &[integrity.code()], client, server];
        let key = match integrity {
            Integrity::Mac | Integrity::Checksum => {
                let mut h = blake3::Hasher::new_keyed(&auth.0);
                for part in parts {
                    h.update(part);
                }
                *h.finalize().as_bytes()
            }
            Integrity::HmacSha256 => {
                let mut h = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&auth.0)
                    .expect("HMAC accepts any key length");
                for part in parts {
                    h.update(part);
                }
                h.finalize().into_bytes().into()
            }
        };
        Self::with_key(auth, integrity, key)
    }

    /// The integrity mode of this session.
    pub fn integrity(&self) -> Integrity {
        self.integrity
    }

    fn tagger(&self) -> Tagger {
        match &self.keys {
            FrameKeys::Mac(key) => Tagger::Mac(Mac::new(key)),
            FrameKeys::Hmac(h) => Tagger::Hmac(h.clone()),
        }
    }

    /// The tagger after the frame's signed header bytes and control section.
    fn frame_tagger(&self, raw: &[u8; HEADER_LEN], ctrl: &[u8]) -> Tagger {
        let mut t = self.tagger();
        t.update(&raw[..SIGNED_LEN]);
        t.update(ctrl);
        t
    }

    /// How a frame's data divides into values, where the mode tags their digests.
    fn value_lens(&self, opcode: u8, response: bool, ctrl: &[u8], data_len: usize) -> ValueLens {
        if self.digests.is_some() {
            ValueLens::of_frame(opcode, response, ctrl, data_len)
        } else {
            ValueLens::One
        }
    }

    /// The digests of a frame's values, where the mode tags digests instead of data.
    fn value_digests(&self, lens: ValueLens) -> Option<ValueDigester> {
        self.digests
            .as_ref()
            .map(|key| ValueDigester::new(key, lens))
    }

    /// Fills in the integrity mode, lengths and header tag of `header` for a frame carrying
    /// `ctrl` and `data_len` bytes of data, and returns the header's encoding together with the
    /// [`DataSealer`] that the data must be fed to, in order, as it is written. Its
    /// [`finish`](DataSealer::finish) gives the trailer that follows the data. `crc` says where
    /// the trailer's CRC32C comes from.
    pub fn seal(
        &self,
        header: &mut Header,
        ctrl: &[u8],
        data_len: usize,
        crc: SendCrc,
    ) -> ([u8; HEADER_LEN], DataSealer) {
        let lens = self.value_lens(header.opcode, header.response, ctrl, data_len);
        self.seal_values(header, ctrl, data_len, lens, crc)
    }

    /// [`seal`](Session::seal) for a frame of values a server holds: their CRC32C (of the data
    /// section) and, in `mac` mode, each value's digest (one per value of the frame, from
    /// [`FrameVerifier::finish_with_digests`] when they arrived) are known, so the sealer reads
    /// none of the data ([`DataSealer::reads_data`]). Without a digest for every value the data
    /// is hashed as it is sent, as [`seal`](Session::seal) does. A receiver finds values that
    /// changed since in the trailer (see [`DataCrc::Report`]).
    pub fn seal_stored(
        &self,
        header: &mut Header,
        ctrl: &[u8],
        data_len: usize,
        crc: u32,
        digests: &[[u8; DIGEST_LEN]],
    ) -> ([u8; HEADER_LEN], DataSealer) {
        let lens = self.value_lens(header.opcode, header.response, ctrl, data_len);
        let count = match &lens {
            ValueLens::One => 1,
            ValueLens::Many(lens) => lens.len(),
        };
        let (raw, mut sealer) = self.seal_values(header, ctrl, data_len, lens, SendCrc::Known(crc));
        if let Some(key) = &self.digests
            && digests.len() == count
        {
            sealer.digests = Some(ValueDigester::known(key, digests));
            sealer.covers_data = false;
        }
        (raw, sealer)
    }

    /// [`seal`](Session::seal) for a frame whose data section holds values of `lens` bytes,
    /// which add up to `data_len` (the protocol's division: [`ValueLens::of_frame`]).
    fn seal_values(
        &self,
        header: &mut Header,
        ctrl: &[u8],
        data_len: usize,
        lens: ValueLens,
        crc: SendCrc,
    ) -> ([u8; HEADER_LEN], DataSealer) {
        debug_assert!(lens.fits(data_len), "value lengths must add up to the data");
        header.integrity = self.integrity;
        header.ctrl_len = u32::try_from(ctrl.len()).expect("control section fits in u32");
        header.data_len = u32::try_from(data_len).expect("data section fits in u32");
        header.tag = [0; TAG_LEN];
        // Only a MAC covers the data without its CRC32C, and only a request leaves it to the
        // receiver; otherwise `ByReceiver` means `Compute`.
        let by_receiver = crc == SendCrc::ByReceiver
            && self.integrity != Integrity::Checksum
            && data_len > 0
            && !header.response;
        header.crc_by_receiver = by_receiver;
        let crc = match crc {
            SendCrc::ByReceiver if !by_receiver => SendCrc::Compute,
            crc => crc,
        };
        let mut raw = header.encode();
        let data_tagger = self.frame_tagger(&raw, ctrl);
        let tag = data_tagger.tag_so_far();
        raw[SIGNED_LEN..].copy_from_slice(&tag);
        header.tag = tag;
        let sum = crc == SendCrc::Compute && data_len > 0;
        let sealer = DataSealer {
            tagger: data_tagger,
            digests: self.value_digests(lens),
            covers_data: self.integrity != Integrity::Checksum,
            has_data: data_len > 0,
            crc,
            summed: sum.then_some(0),
        };
        (raw, sealer)
    }

    /// [`seal`](Session::seal) for a frame without data (no trailer follows it).
    pub fn seal_ctrl(&self, header: &mut Header, ctrl: &[u8]) -> [u8; HEADER_LEN] {
        self.seal(header, ctrl, 0, SendCrc::Known(0)).0
    }

    /// [`seal`](Session::seal) for a frame whose data is at hand in pieces: returns the header
    /// and the trailer (`None` without data).
    pub fn seal_whole(
        &self,
        header: &mut Header,
        ctrl: &[u8],
        data: &[&[u8]],
        crc: SendCrc,
    ) -> Sealed {
        let data_len = data.iter().map(|p| p.len()).sum();
        let (raw, mut sealer) = self.seal(header, ctrl, data_len, crc);
        for piece in data {
            sealer.update(piece);
        }
        Sealed {
            header: raw,
            trailer: sealer.finish(),
        }
    }

    /// Verifies a received frame completely: the mode, both tags and the data against the
    /// trailer's CRC32C.
    pub fn verify(
        &self,
        header: &Header,
        raw: &[u8; HEADER_LEN],
        ctrl: &[u8],
        data: &[u8],
        trailer: Option<&[u8; TRAILER_LEN]>,
    ) -> Result<DataSums, VerifyError> {
        let mut v = self.verifier(header, raw, ctrl, DataCrc::Compute);
        v.update(data);
        if let Some(t) = trailer {
            *v.trailer_mut() = *t;
        }
        v.finish()
    }

    /// Starts verifying a frame whose data is still arriving: feed the data to
    /// [`FrameVerifier::update`] piece by piece as it is read (while it is still in the CPU's
    /// cache), put the trailer that follows it in [`FrameVerifier::trailer_mut`], then call
    /// [`FrameVerifier::finish`]. Nothing about the frame may be trusted before `finish`
    /// returns `Ok`.
    pub fn verifier(
        &self,
        header: &Header,
        raw: &[u8; HEADER_LEN],
        ctrl: &[u8],
        crc: DataCrc,
    ) -> FrameVerifier {
        let lens = self.value_lens(
            header.opcode,
            header.response,
            ctrl,
            header.data_len as usize,
        );
        self.verifier_values(header, raw, ctrl, lens, crc)
    }

    /// [`verifier`](Session::verifier) for a caller that has already divided the frame's data
    /// with [`frame_value_lens`] (a server reading a batch put's values each into a buffer of
    /// its own), so that the control section is not decoded a second time. Other lengths fail
    /// the frame with `BadMac` in `mac` mode; the other modes do not use them.
    pub fn verifier_with_values(
        &self,
        header: &Header,
        raw: &[u8; HEADER_LEN],
        ctrl: &[u8],
        lens: Option<Vec<usize>>,
        crc: DataCrc,
    ) -> FrameVerifier {
        let lens = match lens {
            Some(lens) if self.digests.is_some() => ValueLens::Many(lens),
            _ => ValueLens::One,
        };
        self.verifier_values(header, raw, ctrl, lens, crc)
    }

    /// [`verifier`](Session::verifier) for a frame whose data section holds values of `lens`
    /// bytes. Lengths that do not add up to the data fail it with `BadMac` in `mac` mode.
    fn verifier_values(
        &self,
        header: &Header,
        raw: &[u8; HEADER_LEN],
        ctrl: &[u8],
        lens: ValueLens,
        crc: DataCrc,
    ) -> FrameVerifier {
        let tagger = self.frame_tagger(raw, ctrl);
        let header_ok = bool::from(tagger.tag_so_far().ct_eq(&header.tag));
        // A frame whose sender left the CRC32C to us: nothing to compare it with (the data tag
        // proves these are the sender's bytes). With `DataCrc::Skip` the caller computes what
        // it needs itself (a batch put, each value's). In `checksum` mode, where the CRC32C is
        // all that covers the data, the flag counts for nothing (the header decoder refuses
        // it there; a header built otherwise has its data compared with the zero it carries).
        let by_receiver = header.crc_by_receiver && self.integrity != Integrity::Checksum;
        FrameVerifier {
            integrity: self.integrity,
            frame_integrity: header.integrity,
            digests: self.value_digests(lens),
            tagger,
            header_ok,
            has_data: header.data_len > 0,
            trailer: [0; TRAILER_LEN],
            crc: (crc != DataCrc::Skip).then_some(0),
            compare_crc: crc == DataCrc::Compute && !by_receiver,
            by_receiver,
        }
    }
}

/// Where the CRC32C in a frame's trailer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendCrc {
    /// Computed over the data as it is fed to the [`DataSealer`].
    Compute,
    /// Known already (a stored value's, or combined from per-value CRCs): nothing is summed.
    /// When the bytes may have changed since (a value held in RAM), the receiver finds that
    /// from the trailer.
    Known(u32),
    /// Not computed by the sender: the receiver computes it from the bytes it receives, which
    /// the data tag proves are the sender's. The header says so
    /// ([`Header::crc_by_receiver`](crate::Header::crc_by_receiver)) and the trailer's CRC
    /// field is zero; in a batch put, so are the items' CRC32Cs. Only for requests, in a MAC mode, to a server that advertises
    /// [`crate::msg::CAP_CRC_BY_RECEIVER`]; in `checksum` mode, where the CRC32C is what covers
    /// the data, and for a frame without data, it means [`SendCrc::Compute`].
    ByReceiver,
}

/// A sealed frame whose data was at hand (see [`Session::seal_whole`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// The header's encoding.
    pub header: [u8; HEADER_LEN],
    /// The trailer to send after the data; `None` when there is no data.
    pub trailer: Option<[u8; TRAILER_LEN]>,
}

/// The data half of sealing one frame: fed the data as it is written, it computes the trailer.
pub struct DataSealer {
    tagger: Tagger,
    /// `mac` mode: the values' digests, which the tag covers instead of the data.
    digests: Option<ValueDigester>,
    covers_data: bool,
    has_data: bool,
    crc: SendCrc,
    summed: Option<u32>,
}

impl fmt::Debug for DataSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataSealer")
            .field("crc", &self.crc)
            .finish_non_exhaustive()
    }
}

impl DataSealer {
    /// Whether [`update`](Self::update) does any work: false when the data is neither tagged
    /// (checksum mode) nor summed ([`SendCrc::Known`]), so a sender may skip feeding it.
    pub fn reads_data(&self) -> bool {
        self.covers_data || self.summed.is_some()
    }

    /// Feeds the next piece of data, in the order it is sent.
    pub fn update(&mut self, piece: &[u8]) {
        if let Some(digests) = &mut self.digests {
            digests.update(piece);
        } else if self.covers_data {
            self.tagger.update(piece);
        }
        if let Some(crc) = &mut self.summed {
            *crc = crate::crc32c_append(*crc, piece);
        }
    }

    /// The trailer (`None` for a frame without data).
    pub fn finish(mut self) -> Option<[u8; TRAILER_LEN]> {
        if !self.has_data {
            return None;
        }
        if let Some(digests) = self.digests.take() {
            digests.finish(&mut self.tagger);
        }
        let crc = match self.crc {
            SendCrc::Compute => self.summed.unwrap_or(0),
            SendCrc::Known(crc) => crc,
            SendCrc::ByReceiver => 0,
        };
        let crc_le = crc.to_le_bytes();
        self.tagger.update(&crc_le);
        let mut trailer = [0u8; TRAILER_LEN];
        trailer[..4].copy_from_slice(&crc_le);
        trailer[4..].copy_from_slice(&self.tagger.finish());
        Some(trailer)
    }
}

/// How a frame's data section divides into values. In `mac` mode a data tag covers each
/// value's digest in turn instead of the data (docs/protocol.md), so both ends divide it alike
/// ([`ValueLens::of_frame`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValueLens {
    /// The whole data section is one value.
    One,
    /// Values of these lengths, in order (some may be empty).
    Many(Vec<usize>),
}

impl ValueLens {
    /// The protocol's division of a frame's data into values: a batch put request's items and
    /// a batch get response's found (`Ok`) items are values of their own, in the order its
    /// control section lists them, when their lengths add up to the data; any other frame's
    /// data (a batch whose lengths do not add up, which the receiver refuses, included) is one
    /// value.
    pub(crate) fn of_frame(opcode: u8, response: bool, ctrl: &[u8], data_len: usize) -> Self {
        match frame_value_lens(opcode, response, ctrl, data_len) {
            Some(lens) => ValueLens::Many(lens),
            None => ValueLens::One,
        }
    }

    /// Whether these values fill exactly `data_len` bytes.
    fn fits(&self, data_len: usize) -> bool {
        match self {
            ValueLens::One => true,
            ValueLens::Many(lens) => adds_up(lens, data_len),
        }
    }
}

/// The lengths of the values a batch frame carries, by the protocol's division (docs/protocol.md
/// "Value digests"): a batch put request's items and a batch get response's found (`Ok`) items,
/// in order, when the control section decodes and they add up to `data_len`. `None` for any
/// other frame (one value), and for a batch whose lengths do not add up (which its receiver
/// refuses). The server reads a batch put's values by these lengths.
pub fn frame_value_lens(
    opcode: u8,
    response: bool,
    ctrl: &[u8],
    data_len: usize,
) -> Option<Vec<usize>> {
    let lens: Option<Vec<usize>> = match (Opcode::from_code(opcode), response) {
        (Some(Opcode::BatchPut), false) => msg::decode::<msg::BatchPutReq>(ctrl)
            .ok()
            .map(|req| req.items.iter().map(|it| it.len as usize).collect()),
        (Some(Opcode::BatchGet), true) => msg::decode::<msg::BatchGetResp>(ctrl).ok().map(|resp| {
            resp.items
                .iter()
                .filter(|it| it.status == Status::Ok.code())
                .map(|it| usize::try_from(it.len).unwrap_or(usize::MAX))
                .collect()
        }),
        _ => None,
    };
    lens.filter(|lens| adds_up(lens, data_len))
}

fn adds_up(lens: &[usize], total: usize) -> bool {
    lens.iter()
        .try_fold(0usize, |sum, &len| sum.checked_add(len))
        == Some(total)
}

/// The running digests of a frame's values: each value's [`Mac::digest`] under the session's
/// digest key, kept in order until the frame's tag takes them all at once.
struct ValueDigester {
    lens: ValueLens,
    /// The value being hashed (an index into `ValueLens::Many`).
    index: usize,
    /// Bytes of that value still to come (`ValueLens::Many`).
    left: usize,
    current: Mac,
    /// The digests of the values ended so far, back to back.
    done: Vec<u8>,
    /// Bytes came after the last value listed.
    overflow: bool,
    /// The digests were given (a sender's stored values): the data is not hashed.
    known: bool,
}

impl ValueDigester {
    fn new(key: &MacKey, lens: ValueLens) -> Self {
        let (left, count) = match &lens {
            ValueLens::One => (0, 1),
            ValueLens::Many(lens) => (lens.first().copied().unwrap_or(0), lens.len()),
        };
        ValueDigester {
            lens,
            index: 0,
            left,
            current: Mac::new(key),
            done: Vec::with_capacity(count * memkv_mac::DIGEST_LEN),
            overflow: false,
            known: false,
        }
    }

    /// A digester that already has every value's digest: it hashes nothing.
    fn known(key: &MacKey, digests: &[[u8; DIGEST_LEN]]) -> Self {
        let mut d = ValueDigester::new(key, ValueLens::One);
        d.done = digests.as_flattened().to_vec();
        d.known = true;
        d
    }

    fn update(&mut self, mut data: &[u8]) {
        if self.known {
            return;
        }
        let count = match &self.lens {
            ValueLens::One => {
                self.current.update(data);
                return;
            }
            ValueLens::Many(lens) => lens.len(),
        };
        while !data.is_empty() {
            self.end_complete();
            if self.index >= count {
                // More data than the values listed: hashed as one more value, and the frame
                // fails (the sender's values add up to its data).
                self.overflow = true;
                self.current.update(data);
                return;
            }
            let n = self.left.min(data.len());
            self.current.update(&data[..n]);
            self.left -= n;
            data = &data[n..];
        }
    }

    /// Ends every value that has all its bytes (empty values too).
    fn end_complete(&mut self) {
        let ValueLens::Many(lens) = &self.lens else {
            return;
        };
        while self.index < lens.len() && self.left == 0 {
            self.done.extend_from_slice(&self.current.digest());
            self.current.reset();
            self.index += 1;
            self.left = lens.get(self.index).copied().unwrap_or(0);
        }
    }

    /// Whether the bytes fed so far are exactly the values listed.
    fn filled(&self) -> bool {
        if self.known {
            return true;
        }
        match &self.lens {
            ValueLens::One => true,
            ValueLens::Many(lens) => {
                !self.overflow
                    && self.left == 0
                    && lens[self.index.min(lens.len())..]
                        .iter()
                        .skip(1)
                        .all(|&l| l == 0)
            }
        }
    }

    /// Feeds the digests of all values to `tagger`, in order, and returns them; a value still
    /// missing bytes is hashed as far as it came.
    fn finish(mut self, tagger: &mut Tagger) -> Digests {
        if self.known {
            tagger.update(&self.done);
            return Digests(self.done);
        }
        match &self.lens {
            ValueLens::One => self.done.extend_from_slice(&self.current.digest()),
            ValueLens::Many(lens) => {
                let count = lens.len();
                self.end_complete();
                while self.index < count {
                    self.left = 0;
                    self.end_complete();
                }
                if self.overflow {
                    self.done.extend_from_slice(&self.current.digest());
                }
            }
        }
        tagger.update(&self.done);
        Digests(self.done)
    }
}

/// The digests of a frame's values, in the order of the frame's division into values
/// (`mac` mode, docs/protocol.md): what a receiver keeps to send the values later without
/// hashing them again ([`Session::seal_stored`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests(Vec<u8>);

impl Digests {
    /// How many values the frame carried.
    pub fn len(&self) -> usize {
        self.0.len() / DIGEST_LEN
    }

    /// Whether the frame carried no value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The digest of value `i`.
    pub fn get(&self, i: usize) -> Option<[u8; DIGEST_LEN]> {
        self.0
            .get(i * DIGEST_LEN..(i + 1) * DIGEST_LEN)
            .map(|d| d.try_into().expect("a digest's length"))
    }
}

/// The data CRC32Cs of a verified frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSums {
    /// The CRC32C the sender put in the trailer (0 for a frame without data; for a frame whose
    /// sender left it to the receiver, the computed one, or 0 with [`DataCrc::Skip`]).
    pub sent: u32,
    /// The CRC32C computed over the received data (`None` for [`DataCrc::Skip`]).
    pub computed: Option<u32>,
}

/// Whether a [`FrameVerifier`] computes the CRC32C of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataCrc {
    /// Compute it and compare it with the trailer's: a mismatch fails the frame with
    /// [`VerifyError::ChecksumMismatch`]. [`FrameVerifier::finish`] returns it (a put's value
    /// CRC at no extra pass).
    Compute,
    /// Compute and return it, but leave the comparison with the trailer's to the caller: a
    /// value-carrying reply whose data is damaged is a miss for that value, not a broken
    /// connection.
    Report,
    /// Skip it: the caller checks the data against the trailer's CRC itself (a batch derives
    /// it from the per-value CRCs it computes anyway).
    Skip,
}

/// Verification of one frame whose data arrives in pieces (see [`Session::verifier`]).
pub struct FrameVerifier {
    integrity: Integrity,
    frame_integrity: Integrity,
    /// `mac` mode: the values' digests, which the tag covers instead of the data.
    digests: Option<ValueDigester>,
    tagger: Tagger,
    /// Whether the header's tag verified (computed before any data was fed).
    header_ok: bool,
    has_data: bool,
    trailer: [u8; TRAILER_LEN],
    crc: Option<u32>,
    compare_crc: bool,
    /// The frame's header says the sender left the CRC32C to the receiver.
    by_receiver: bool,
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
        if let Some(digests) = &mut self.digests {
            digests.update(data);
        } else if self.integrity != Integrity::Checksum {
            self.tagger.update(data);
        }
        if let Some(crc) = &mut self.crc {
            *crc = crate::crc32c_append(*crc, data);
        }
    }

    /// Where the trailer that follows the data is read to (unused for a frame without data).
    pub fn trailer_mut(&mut self) -> &mut [u8; TRAILER_LEN] {
        &mut self.trailer
    }

    /// Checks the mode, the header tag and, for a frame with data, the trailer's tag and (with
    /// [`DataCrc::Compute`]) the data against the trailer's CRC32C.
    ///
    /// With [`DataCrc::Report`], data that fails the data tag and whose CRC32C differs from the
    /// trailer's is returned as such (`computed != sent`), not as `BadMac`: in `mac` mode a
    /// value a server held in RAM is tagged with the digest it had when it arrived, so bytes
    /// damaged there since fail the tag too, and the caller treats them as damaged (a miss).
    /// None of such data may be used.
    pub fn finish(self) -> Result<DataSums, VerifyError> {
        self.finish_with_digests().map(|(sums, _)| sums)
    }

    /// [`finish`](Self::finish), also returning the digests of the frame's values (`mac` mode,
    /// a verified frame with data), which a server keeps with the values it stores.
    pub fn finish_with_digests(self) -> Result<(DataSums, Option<Digests>), VerifyError> {
        if self.frame_integrity != self.integrity {
            return Err(VerifyError::IntegrityMismatch {
                frame: self.frame_integrity,
                session: self.integrity,
            });
        }
        if !self.header_ok {
            return Err(VerifyError::BadMac);
        }
        let mut data_tagger = self.tagger;
        if !self.has_data {
            let sums = DataSums {
                sent: 0,
                computed: self.crc,
            };
            return Ok((sums, None));
        }
        let mut digests = None;
        if let Some(digester) = self.digests {
            // Values that do not add up to the data: the sender divided it otherwise.
            if !digester.filled() {
                return Err(VerifyError::BadMac);
            }
            digests = Some(digester.finish(&mut data_tagger));
        }
        let (crc_le, tag) = self.trailer.split_at(4);
        let sent = u32::from_le_bytes(crc_le.try_into().expect("4 bytes"));
        data_tagger.update(crc_le);
        if !bool::from(data_tagger.finish().ct_eq(tag)) {
            let reported = self.crc.filter(|_| !self.compare_crc && !self.by_receiver);
            if let Some(computed) = reported.filter(|&computed| computed != sent) {
                let sums = DataSums {
                    sent,
                    computed: Some(computed),
                };
                return Ok((sums, None));
            }
            return Err(VerifyError::BadMac);
        }
        if self.by_receiver {
            // Reached after the tags: the flag is covered by the header tag.
            let sums = DataSums {
                sent: self.crc.unwrap_or(0),
                computed: self.crc,
            };
            return Ok((sums, digests));
        }
        if self.compare_crc && self.crc.is_some_and(|crc| crc != sent) {
            return Err(VerifyError::ChecksumMismatch);
        }
        let sums = DataSums {
            sent,
            computed: self.crc,
        };
        Ok((sums, digests))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Message;

    /// Batch puts (requests) and batch gets (responses) divide their data as their items say,
    /// when the lengths add up; every other frame carries one value.
    #[test]
    fn the_protocol_divides_batch_frames_by_their_items() {
        let put = msg::BatchPutReq {
            items: [3u32, 0, 5]
                .iter()
                .map(|&len| msg::BatchPutItem {
                    key: b"k",
                    len,
                    crc: 0,
                })
                .collect(),
        }
        .encode();
        let item = |status: Status, len| msg::BatchGetItem {
            status: status.code(),
            len,
            crc: 0,
        };
        let got = msg::BatchGetResp {
            items: vec![
                item(Status::Ok, 3),
                item(Status::NotFound, 0),
                item(Status::PayloadTooLarge, 9),
                item(Status::Ok, 5),
            ],
        }
        .encode();
        let put_op = Opcode::BatchPut.code();
        let get_op = Opcode::BatchGet.code();
        assert_eq!(
            ValueLens::of_frame(put_op, false, &put, 8),
            ValueLens::Many(vec![3, 0, 5])
        );
        assert_eq!(
            ValueLens::of_frame(get_op, true, &got, 8),
            ValueLens::Many(vec![3, 5])
        );
        assert_eq!(ValueLens::of_frame(put_op, false, &put, 9), ValueLens::One);
        assert_eq!(ValueLens::of_frame(get_op, true, &got, 7), ValueLens::One);
        assert_eq!(ValueLens::of_frame(put_op, true, &put, 8), ValueLens::One);
        assert_eq!(ValueLens::of_frame(get_op, false, &got, 8), ValueLens::One);
        assert_eq!(
            ValueLens::of_frame(put_op, false, b"junk", 8),
            ValueLens::One
        );
        assert_eq!(
            ValueLens::of_frame(Opcode::Put.code(), false, &put, 8),
            ValueLens::One
        );
    }

    /// In `mac` mode the data tag covers each value's digest: the same bytes divided into
    /// other values (lengths that do not add up to the data included) fail the tag, whatever
    /// pieces they arrive in; the other modes cover the bytes as one string.
    #[test]
    fn a_frame_of_several_values_verifies_only_as_the_values_it_was_sealed_with() {
        let a: Vec<u8> = (0..5000u32).map(|i| (i * 3) as u8).collect();
        let b: Vec<u8> = (0..5000u32).map(|i| (i * 5 + 1) as u8).collect();
        let lens = vec![5000, 0, 5000, 4];
        let data = [&a[..], &[], &b, b"tail"].concat();
        let key = AuthKey::from_bytes([6; 32]);
        for mode in Integrity::ALL {
            let s = Session::derive(&key, mode, &[1; 16], &[2; 16]);
            let mut h = Header::request(Opcode::BatchPut, 9, 1_000);
            let many = ValueLens::Many(lens.clone());
            let (raw, mut sealer) = s.seal_values(&mut h, b"c", data.len(), many, SendCrc::Compute);
            for piece in data.chunks(1024) {
                sealer.update(piece);
            }
            let trailer = sealer.finish().expect("data");
            let check = |lens: ValueLens, piece: usize| {
                let mut v = s.verifier_values(&h, &raw, b"c", lens, DataCrc::Compute);
                for p in data.chunks(piece) {
                    v.update(p);
                }
                *v.trailer_mut() = trailer;
                v.finish().map(|_| ())
            };
            for piece in [1, 7, 4999, 5000, 5001, data.len()] {
                assert_eq!(
                    check(ValueLens::Many(lens.clone()), piece),
                    Ok(()),
                    "{mode} {piece}"
                );
            }
            for other in [
                vec![5000, 5000, 0, 4],
                vec![4999, 1, 5000, 4],
                vec![5000, 0, 5000],
                vec![5000, 0, 5000, 4, 0],
                vec![5000, 0, 5000, 3],
                vec![5000, 0, 5000, 5],
                vec![],
            ] {
                let got = check(ValueLens::Many(other.clone()), 100);
                if mode == Integrity::Mac {
                    assert_eq!(got, Err(VerifyError::BadMac), "{other:?}");
                } else {
                    assert_eq!(got, Ok(()), "{mode} {other:?}");
                }
            }
            let one = check(ValueLens::One, 100);
            assert_eq!(one.is_ok(), mode != Integrity::Mac, "{mode}");
        }
    }

    /// A header tag read off a tagger without finishing it is the tag of the bytes fed so far,
    /// in every mode, and the tagger goes on as if it had not been read.
    #[test]
    fn a_tag_so_far_is_the_tag_of_the_bytes_fed_and_leaves_the_tagger_as_it_was() {
        let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 253) as u8).collect();
        for integrity in Integrity::ALL {
            let session = Session::handshake(&AuthKey::from_bytes([5; 32]), integrity);
            // A header's 64 bytes, then a length that is no whole number of blocks.
            for first in [64, 3000] {
                let mut tagger = session.tagger();
                tagger.update(&data[..first]);
                let mut whole = session.tagger();
                whole.update(&data[..first]);
                assert_eq!(tagger.tag_so_far(), whole.finish(), "{integrity} {first}");
                tagger.update(&data[first..]);
                let mut whole = session.tagger();
                whole.update(&data);
                assert_eq!(tagger.finish(), whole.finish(), "{integrity} {first}");
            }
        }
    }
}
