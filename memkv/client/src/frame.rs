//! Frame building and reply interpretation: sealing a request header, and turning a response's
//! status and control section into results or typed errors. No I/O here.

use bytes::Bytes;
use memkv_proto::msg::{self, Message};
use memkv_proto::{DataSealer, HEADER_LEN, Header, Integrity, Opcode, SendCrc, Session, Status};

use crate::error::{AuthError, ClientError};

/// One request as the caller lays it out: the control section and the data pieces that follow
/// it on the wire (written straight from the caller's memory).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// The operation.
    pub(crate) opcode: Opcode,
    /// The encoded control section.
    pub(crate) ctrl: &'a [u8],
    /// Data pieces, sent back to back.
    pub(crate) data: &'a [&'a [u8]],
    /// Where the CRC32C of all data pieces together comes from: computed as they are sent,
    /// or known already.
    pub(crate) crc: SendCrc,
}

impl<'a> Request<'a> {
    /// A request with a control section and no data.
    pub(crate) fn ctrl_only(opcode: Opcode, ctrl: &'a [u8]) -> Self {
        Request {
            opcode,
            ctrl,
            data: &[],
            crc: SendCrc::Compute,
        }
    }

    /// Bytes of the data pieces together.
    pub(crate) fn data_len(&self) -> usize {
        self.data.iter().map(|d| d.len()).sum()
    }

    /// Bytes of the frame after its header: control section, data and trailer.
    pub(crate) fn wire_len(&self) -> usize {
        self.ctrl.len() + memkv_frameio::rest_len(self.data_len())
    }

    /// Seals the header for this request under `session` with `request_id`, stamped `now_ns`,
    /// and returns the sealer that the data must be fed to as it is written. A request that
    /// would leave its CRC32C to the receiver ([`SendCrc::ByReceiver`]) computes it after all
    /// where [`server_computes_crc`] says the server does not.
    pub(crate) fn seal(
        &self,
        session: &Session,
        request_id: u64,
        now_ns: u64,
        capabilities: u64,
    ) -> ([u8; HEADER_LEN], DataSealer) {
        let mut header = Header::request(self.opcode, request_id, now_ns);
        let crc = match self.crc {
            SendCrc::ByReceiver if !server_computes_crc(session.integrity(), capabilities) => {
                SendCrc::Compute
            }
            crc => crc,
        };
        session.seal(&mut header, self.ctrl, self.data_len(), crc)
    }
}

/// Whether a server with `capabilities` computes the CRC32C of a request's data itself, so the
/// client may leave it out ([`SendCrc::ByReceiver`]): in a MAC mode, where the data tag proves
/// the server has this client's bytes, and where the server advertises
/// [`msg::CAP_CRC_BY_RECEIVER`]. A batch put decides with it before building its items.
pub(crate) fn server_computes_crc(integrity: Integrity, capabilities: u64) -> bool {
    integrity != Integrity::Checksum && capabilities & msg::CAP_CRC_BY_RECEIVER != 0
}

/// A verified response frame.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// The decoded header.
    pub(crate) header: Header,
    /// The control section.
    pub(crate) ctrl: Bytes,
    /// The data section.
    pub(crate) data: Bytes,
    /// CRC32C of the data, when the reader computed it on the way in (every reply but batch
    /// gets, whose operations check per-value CRCs).
    pub(crate) data_crc: Option<u32>,
    /// The CRC32C the server sent in the frame's trailer (0 without data). A get's data is
    /// compared with it by the operation, so that damaged bytes are a miss.
    pub(crate) sent_crc: u32,
}

impl Reply {
    /// The control section.
    pub(crate) fn ctrl(&self) -> &[u8] {
        &self.ctrl
    }

    /// The data section (shares the receive buffer).
    pub(crate) fn data(&self) -> Bytes {
        self.data.clone()
    }

    /// The status, if it is one this build knows.
    pub(crate) fn status(&self) -> Option<Status> {
        Status::from_code(self.header.status)
    }

    /// Whether the status is `Ok`.
    pub(crate) fn is_ok(&self) -> bool {
        self.header.status == Status::Ok.code()
    }

    /// Decodes the `Ok` control section as `M`.
    pub(crate) fn decode<'a, M: Message<'a>>(&'a self, server: &str) -> Result<M, ClientError> {
        msg::decode(self.ctrl()).map_err(|e| ClientError::Protocol {
            server: server.to_owned(),
            detail: format!(
                "cannot decode the {} response: {e}",
                Opcode::from_code(self.header.opcode).map_or("unknown", Opcode::name)
            ),
        })
    }

    /// The server's explanation of a non-`Ok` status.
    pub(crate) fn message(&self) -> String {
        match msg::decode::<msg::ErrorResp<'_>>(self.ctrl()) {
            Ok(e) => e.message.to_owned(),
            Err(_) => String::from("(no explanation given)"),
        }
    }

    /// The typed error for a non-`Ok` reply. Operation-specific statuses (`NotFound`,
    /// `PayloadTooLarge` on gets, `NoSpace` on puts) are handled by the callers first.
    pub(crate) fn error(&self, server: &str, integrity: Integrity) -> ClientError {
        let server_s = server.to_owned();
        let Some(status) = self.status() else {
            return ClientError::Protocol {
                server: server_s,
                detail: format!("unknown status code {}", self.header.status),
            };
        };
        let auth = |kind| ClientError::Auth {
            server: server.to_owned(),
            kind,
        };
        match status {
            Status::BadMac => auth(AuthError::BadMac),
            Status::IntegrityMismatch => auth(AuthError::IntegrityMismatch {
                server: server_mode_in(&self.message()),
                client: integrity,
            }),
            Status::UnsupportedVersion => auth(AuthError::UnsupportedVersion {
                client_version: memkv_proto::VERSION,
                message: self.message(),
            }),
            Status::ClockDrift => match msg::decode::<msg::ClockDriftResp<'_>>(self.ctrl()) {
                Ok(d) => auth(AuthError::ClockDrift {
                    ts_ns: d.ts_ns,
                    window_ns: d.window_ns,
                    drift_ns: d.drift_ns,
                }),
                Err(e) => ClientError::Protocol {
                    server: server_s,
                    detail: format!("cannot decode a ClockDrift response: {e}"),
                },
            },
            _ => ClientError::Server {
                server: server_s,
                status,
                message: self.message(),
            },
        }
    }
}

/// The server's integrity mode, as named in its `IntegrityMismatch` explanation
/// ("... requires `checksum` ...").
pub(crate) fn server_mode_in(message: &str) -> Option<Integrity> {
    let rest = &message[message.find("requires `")? + "requires `".len()..];
    rest[..rest.find('`')?].parse().ok()
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// CRC32C of consecutive pieces from their individual CRCs and lengths.
pub(crate) fn combine_crcs(parts: impl IntoIterator<Item = (u32, usize)>) -> u32 {
    parts.into_iter().fold(0, |acc, (crc, len)| {
        memkv_proto::crc32c_combine(acc, crc, len)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use memkv_proto::{AuthKey, Limits};

    fn sessions(mode: Integrity) -> Session {
        let key = AuthKey::from_bytes([7; 32]);
        Session::derive(&key, mode, &[1; 16], &[2; 16])
    }

    /// Seals `req` the way the connection writer does and returns the header encoding and the
    /// trailer.
    fn sealed(
        req: &Request<'_>,
        session: &Session,
        id: u64,
        ts: u64,
    ) -> ([u8; HEADER_LEN], Option<[u8; memkv_proto::TRAILER_LEN]>) {
        let (raw, mut sealer) = req.seal(session, id, ts, msg::SERVER_CAPABILITIES);
        for piece in req.data {
            sealer.update(piece);
        }
        (raw, sealer.finish())
    }

    #[test]
    fn sealed_put_verifies_on_the_other_side() {
        for mode in Integrity::ALL {
            let session = sessions(mode);
            let value = b"hello, value";
            let ctrl = msg::PutReq { key: b"k1" }.encode();
            let data: [&[u8]; 1] = [value];
            let req = Request {
                opcode: Opcode::Put,
                ctrl: &ctrl,
                data: &data,
                crc: SendCrc::Compute,
            };
            let (raw, trailer) = sealed(&req, &session, 42, 1_000);
            let header = Header::decode(&raw, &Limits::default()).unwrap();
            assert_eq!(header.request_id, 42);
            assert_eq!(header.timestamp_ns, 1_000);
            assert_eq!(header.opcode, Opcode::Put.code());
            assert!(!header.response);
            assert_eq!(header.integrity, mode);
            assert_eq!(header.ctrl_len as usize, ctrl.len());
            assert_eq!(header.data_len as usize, value.len());
            assert_eq!(
                req.wire_len(),
                ctrl.len() + value.len() + memkv_proto::TRAILER_LEN
            );
            let sums = session
                .verify(&header, &raw, &ctrl, value, trailer.as_ref())
                .unwrap();
            assert_eq!(sums.sent, memkv_proto::crc32c(value));
            let decoded: msg::PutReq<'_> = msg::decode(&ctrl).unwrap();
            assert_eq!(decoded.key, b"k1");
            // A different connection's session does not accept it.
            let other = Session::derive(&AuthKey::from_bytes([7; 32]), mode, &[1; 16], &[3; 16]);
            assert!(
                other
                    .verify(&header, &raw, &ctrl, value, trailer.as_ref())
                    .is_err()
            );
        }
    }

    #[test]
    fn a_put_leaves_its_crc_to_a_server_that_takes_it_in_the_mac_modes() {
        let value = vec![0x5a; 3 << 20];
        let ctrl = msg::PutReq { key: b"k" }.encode();
        let data: [&[u8]; 1] = [&value];
        let req = Request {
            opcode: Opcode::Put,
            ctrl: &ctrl,
            data: &data,
            crc: SendCrc::ByReceiver,
        };
        for mode in Integrity::ALL {
            let session = sessions(mode);
            for caps in [0, msg::CAP_CRC_BY_RECEIVER] {
                let (raw, mut sealer) = req.seal(&session, 1, 0, caps);
                sealer.update(&value);
                let trailer = sealer.finish().unwrap();
                let header = Header::decode(&raw, &Limits::default()).unwrap();
                let left = mode != Integrity::Checksum && caps != 0;
                assert_eq!(header.crc_by_receiver, left, "{mode} {caps}");
                let sent_crc = if left { 0 } else { memkv_proto::crc32c(&value) };
                assert_eq!(trailer[..4], sent_crc.to_le_bytes(), "{mode} {caps}");
                let sums = session
                    .verify(&header, &raw, &ctrl, &value, Some(&trailer))
                    .unwrap();
                assert_eq!(sums.sent, memkv_proto::crc32c(&value), "{mode} {caps}");
            }
        }
    }

    #[test]
    fn batch_frame_crc_is_combined_from_item_crcs() {
        let values: [&[u8]; 3] = [b"first", b"", b"third value"];
        let combined = combine_crcs(values.iter().map(|v| (memkv_proto::crc32c(v), v.len())));
        assert_eq!(combined, memkv_proto::crc32c(&values.concat()));
        let session = sessions(Integrity::Checksum);
        let ctrl = msg::BatchPutReq {
            items: values
                .iter()
                .enumerate()
                .map(|(i, v)| msg::BatchPutItem {
                    key: if i == 0 { b"a" } else { b"b" },
                    len: v.len() as u32,
                    crc: memkv_proto::crc32c(v),
                })
                .collect(),
        }
        .encode();
        let req = Request {
            opcode: Opcode::BatchPut,
            ctrl: &ctrl,
            data: &values,
            crc: SendCrc::Known(combined),
        };
        let (raw, trailer) = sealed(&req, &session, 1, 5);
        let header = Header::decode(&raw, &Limits::default()).unwrap();
        session
            .verify(&header, &raw, &ctrl, &values.concat(), trailer.as_ref())
            .unwrap();
    }

    fn reply(status: Status, ctrl: Vec<u8>) -> Reply {
        let req = Header::request(Opcode::Get, 1, 0);
        let mut header = Header::response_to(&req, status, 0);
        header.ctrl_len = ctrl.len() as u32;
        Reply {
            header,
            ctrl: Bytes::from(ctrl),
            data: Bytes::new(),
            data_crc: None,
            sent_crc: 0,
        }
    }

    #[test]
    fn error_statuses_map_to_typed_errors() {
        let msg = msg::ErrorResp {
            message: "integrity mode mismatch: this server requires `checksum`, the client uses `mac`; ...",
        }
        .encode();
        let e = reply(Status::IntegrityMismatch, msg).error("s:1", Integrity::Mac);
        assert!(matches!(
            e,
            ClientError::Auth {
                kind: AuthError::IntegrityMismatch {
                    server: Some(Integrity::Checksum),
                    client: Integrity::Mac
                },
                ..
            }
        ));
        assert!(
            e.to_string()
                .contains("server requires `checksum`, client uses `mac`")
        );

        let drift = msg::ClockDriftResp {
            ts_ns: 5,
            window_ns: 10,
            drift_ns: -99,
            message: "x",
        }
        .encode();
        let e = reply(Status::ClockDrift, drift).error("s:1", Integrity::Mac);
        assert!(matches!(
            e,
            ClientError::Auth {
                kind: AuthError::ClockDrift {
                    ts_ns: 5,
                    window_ns: 10,
                    drift_ns: -99
                },
                ..
            }
        ));

        let busy = msg::ErrorResp {
            message: "too many streams",
        }
        .encode();
        let e = reply(Status::Busy, busy).error("s:1", Integrity::Mac);
        assert!(matches!(
            e,
            ClientError::Server {
                status: Status::Busy,
                ..
            }
        ));
        assert!(e.to_string().contains("too many streams"));

        let mut odd = reply(Status::Ok, Vec::new());
        odd.header.status = 999;
        assert!(matches!(
            odd.error("s:1", Integrity::Mac),
            ClientError::Protocol { .. }
        ));
    }
}
