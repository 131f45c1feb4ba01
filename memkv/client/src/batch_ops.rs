//! Batch operations: keys are grouped by server, each group is split into frames that respect
//! `max_batch_size` and the server's frame limit, every frame of every server is sent
//! concurrently, and the answers are stitched back into input order.

use bytes::Bytes;
use memkv_frameio::Part;
use memkv_proto::msg::{self, Message};
use memkv_proto::{Opcode, SendCrc, Status};

use crate::batch::{FRAME_SLACK, frame_fits, gather, group_by_server, scatter, split_frames};
use crate::client::{AsyncClient, Inner, check_key};
use crate::error::ClientError;
use crate::frame::{Reply, Request, combine_crcs, server_computes_crc};
use crate::join::{join_all, join_concat};
use crate::stream::Sink;
use crate::types::GetInto;

/// Bytes of a list's count prefix.
const COUNT_LEN: usize = 4;

/// One key's outcome in a batch get, before oversized values are fetched on their own.
#[derive(Debug)]
enum Fetched {
    /// The value, a slice of the received frame (a batch get without buffers).
    Found(Bytes),
    /// The whole value, of this many bytes, was read into the key's buffer.
    Landed(usize),
    /// The value, of this length, is larger than the key's buffer: read, checked and dropped.
    TooSmall(u64),
    Miss,
    /// Too large for the batch frame: fetch it with a single (chunked) get.
    Large(u64),
}

/// The caller's buffers of a batch get that reads into them, one per key of the call, in the
/// keys' order: each frame and server takes its keys' share.
type Bufs<'a, 'b> = Option<&'a mut [&'b mut [u8]]>;

/// Reborrows the buffers at `at` (ascending positions in `bufs`).
fn pick<'a>(bufs: &'a mut [&mut [u8]], at: &[usize]) -> Vec<&'a mut [u8]> {
    let mut at = at.iter().peekable();
    let mut out = Vec::with_capacity(at.len());
    for (j, buf) in bufs.iter_mut().enumerate() {
        if at.next_if_eq(&&j).is_some() {
            out.push(&mut **buf);
        }
    }
    out
}

impl Inner {
    /// Frames (as ranges of `idx`) for a key list sent to server `s`.
    async fn key_frames(
        &self,
        s: usize,
        keys: &[&[u8]],
        idx: &[usize],
    ) -> Result<Vec<std::ops::Range<usize>>, ClientError> {
        let limit = self.frame_limit(s).await?;
        let sizes: Vec<usize> = idx.iter().map(|&i| msg::key_encoded_len(keys[i])).collect();
        Ok(split_frames(
            &sizes,
            COUNT_LEN + FRAME_SLACK,
            self.config.max_batch_size(),
            limit,
        ))
    }

    /// Presence of `keys[idx]` on server `s`, in `idx` order.
    async fn exists_group(
        &self,
        s: usize,
        keys: &[&[u8]],
        idx: &[usize],
    ) -> Result<Vec<bool>, ClientError> {
        let frames = self.key_frames(s, keys, idx).await?;
        join_concat(
            frames
                .iter()
                .map(|f| self.exists_frame(s, keys, &idx[f.clone()]))
                .collect(),
        )
        .await
    }

    async fn exists_frame(
        &self,
        s: usize,
        keys: &[&[u8]],
        idx: &[usize],
    ) -> Result<Vec<bool>, ClientError> {
        let ctrl = msg::KeyList {
            keys: idx.iter().map(|&i| keys[i]).collect(),
        }
        .encode();
        let reply = self
            .request(s, &Request::ctrl_only(Opcode::Exists, &ctrl), "exists")
            .await?;
        if !reply.is_ok() {
            return Err(self.error(s, &reply));
        }
        let bitmap: msg::Bitmap = reply.decode(self.server_name(s))?;
        if bitmap.bits.len() != idx.len() {
            return Err(self.count_mismatch(s, "exists", idx.len(), bitmap.bits.len()));
        }
        Ok(bitmap.bits)
    }

    fn count_mismatch(&self, s: usize, op: &str, want: usize, got: usize) -> ClientError {
        ClientError::Protocol {
            server: self.server_name(s).to_owned(),
            detail: format!("{op} asked about {want} keys but the answer has {got}"),
        }
    }

    /// Stores `items[idx]` on server `s`; one result per item, in `idx` order.
    async fn put_group(
        &self,
        s: usize,
        items: &[(&[u8], &[u8])],
        idx: &[usize],
    ) -> Vec<Result<(), ClientError>> {
        // The server's frame limit, and whether it computes the values' CRC32Cs itself: in the
        // MAC modes the frame's tag proves that it has this client's bytes, and a server that
        // advertises it then spares the client a pass over the values (items carry 0, the
        // frame says so). Should a frame be retried on a connection to a server restarted
        // without that, its items' CRC32Cs are refused there as mismatches: errors, never
        // wrong values.
        let (limit, by_server) = match self.pools[s].conn().await {
            Ok(conn) => (
                conn.info.max_body as usize,
                server_computes_crc(self.integrity(), conn.info.capabilities),
            ),
            Err(e) => return idx.iter().map(|_| Err(e.clone())).collect(),
        };
        let sizes: Vec<usize> = idx
            .iter()
            .map(|&i| msg::batch_put_item_encoded_len(items[i].0) + items[i].1.len())
            .collect();
        let base = COUNT_LEN + FRAME_SLACK;
        let frames = split_frames(&sizes, base, self.config.max_batch_size(), limit);
        let futures = frames.iter().map(|f| {
            let part = &idx[f.clone()];
            let oversized = !frame_fits(&sizes[f.clone()], base, limit);
            async move {
                if oversized {
                    // A single value over the frame limit: a chunked upload of its own.
                    let (k, v) = items[part[0]];
                    vec![self.put_on(s, k, v).await]
                } else {
                    self.put_frame(s, items, part, by_server).await
                }
            }
        });
        join_all(futures.collect())
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn put_frame(
        &self,
        s: usize,
        items: &[(&[u8], &[u8])],
        idx: &[usize],
        by_server: bool,
    ) -> Vec<Result<(), ClientError>> {
        let values: Vec<&[u8]> = idx.iter().map(|&i| items[i].1).collect();
        let crcs: Vec<u32> = if by_server {
            vec![0; values.len()]
        } else {
            values.iter().map(|v| memkv_proto::crc32c(v)).collect()
        };
        let ctrl = msg::BatchPutReq {
            items: idx
                .iter()
                .zip(&crcs)
                .map(|(&i, &crc)| msg::BatchPutItem {
                    key: items[i].0,
                    len: items[i].1.len() as u32,
                    crc,
                })
                .collect(),
        }
        .encode();
        let req = Request {
            opcode: Opcode::BatchPut,
            ctrl: &ctrl,
            data: &values,
            crc: if by_server {
                SendCrc::ByReceiver
            } else {
                SendCrc::Known(combine_crcs(
                    crcs.iter().copied().zip(values.iter().map(|v| v.len())),
                ))
            },
        };
        let all = |e: ClientError| idx.iter().map(|_| Err(e.clone())).collect();
        let reply = match self.request(s, &req, "batch_put").await {
            Ok(r) => r,
            Err(e) => return all(e),
        };
        if !reply.is_ok() {
            return all(self.error(s, &reply));
        }
        let list: msg::StatusList = match reply.decode(self.server_name(s)) {
            Ok(l) => l,
            Err(e) => return all(e),
        };
        if list.statuses.len() != idx.len() {
            return all(self.count_mismatch(s, "batch_put", idx.len(), list.statuses.len()));
        }
        list.statuses
            .iter()
            .zip(&values)
            .map(|(&code, value)| match Status::from_code(code) {
                Some(Status::Ok) => Ok(()),
                Some(Status::NoSpace) => Err(ClientError::NoSpace {
                    server: self.server_name(s).to_owned(),
                    len: value.len() as u64,
                }),
                Some(status) => Err(ClientError::Server {
                    server: self.server_name(s).to_owned(),
                    status,
                    message: format!("the server refused this batch item ({status})"),
                }),
                None => Err(ClientError::Protocol {
                    server: self.server_name(s).to_owned(),
                    detail: format!("unknown status code {code} in a batch answer"),
                }),
            })
            .collect()
    }

    /// Fetches `keys[idx]` from server `s` in batch frames, in `idx` order, into `bufs` (one per
    /// key of `idx`) when given. Values the server
    /// could not fit in a response frame are fetched again in frames packed by their now known
    /// lengths; those too large for any frame stay [`Fetched::Large`].
    async fn get_group(
        &self,
        s: usize,
        keys: &[&[u8]],
        idx: &[usize],
        mut bufs: Bufs<'_, '_>,
    ) -> Result<Vec<Fetched>, ClientError> {
        let limit = self.frame_limit(s).await?;
        let base = COUNT_LEN + FRAME_SLACK;
        let sizes: Vec<usize> = idx.iter().map(|&i| msg::key_encoded_len(keys[i])).collect();
        let mut out = self
            .get_frames(s, keys, idx, &sizes, limit, bufs.as_deref_mut())
            .await?;
        loop {
            let again: Vec<usize> = (0..out.len())
                .filter(|&j| match out[j] {
                    Fetched::Large(len) => {
                        frame_fits(&[Self::get_item_size(keys[idx[j]], len)], base, limit)
                    }
                    _ => false,
                })
                .collect();
            if again.is_empty() {
                return Ok(out);
            }
            let sub: Vec<usize> = again.iter().map(|&j| idx[j]).collect();
            let sizes: Vec<usize> = again
                .iter()
                .map(|&j| match out[j] {
                    Fetched::Large(len) => Self::get_item_size(keys[idx[j]], len),
                    _ => 0,
                })
                .collect();
            let mut sub_bufs = bufs.as_deref_mut().map(|b| pick(b, &again));
            let fetched = self
                .get_frames(s, keys, &sub, &sizes, limit, sub_bufs.as_deref_mut())
                .await?;
            let progress = fetched.iter().any(|f| !matches!(f, Fetched::Large(_)));
            for (j, f) in again.into_iter().zip(fetched) {
                out[j] = f;
            }
            if !progress {
                return Ok(out);
            }
        }
    }

    /// Frame budget of one batch-get item: the larger of its request and response encodings.
    fn get_item_size(key: &[u8], value_len: u64) -> usize {
        let response = usize::try_from(value_len)
            .unwrap_or(usize::MAX)
            .saturating_add(msg::BATCH_GET_ITEM_LEN);
        response.max(msg::key_encoded_len(key))
    }

    /// Sends `keys[idx]` in frames sized by `sizes` (concurrently), each with its keys' share
    /// of `bufs`, and concatenates the answers.
    async fn get_frames(
        &self,
        s: usize,
        keys: &[&[u8]],
        idx: &[usize],
        sizes: &[usize],
        limit: usize,
        bufs: Bufs<'_, '_>,
    ) -> Result<Vec<Fetched>, ClientError> {
        let frames = split_frames(
            sizes,
            COUNT_LEN + FRAME_SLACK,
            self.config.max_batch_size(),
            limit,
        );
        if let [only] = &frames[..] {
            // One frame: sent straight, without the bookkeeping of several.
            return self.get_frame(s, keys, &idx[only.clone()], bufs).await;
        }
        let mut rest = bufs;
        let mut calls = Vec::with_capacity(frames.len());
        for f in &frames {
            let mine = rest.take().map(|r| {
                let (mine, after) = r.split_at_mut(f.len());
                rest = Some(after);
                mine
            });
            calls.push(self.get_frame(s, keys, &idx[f.clone()], mine));
        }
        join_concat(calls).await
    }

    /// One batch-get frame for `keys[idx]`: its values read into `bufs` (one per key) when
    /// given, else kept as slices of the received frame. A request whose connection was lost
    /// is sent again once on another.
    async fn get_frame(
        &self,
        s: usize,
        keys: &[&[u8]],
        idx: &[usize],
        bufs: Bufs<'_, '_>,
    ) -> Result<Vec<Fetched>, ClientError> {
        let ctrl = msg::KeyList {
            keys: idx.iter().map(|&i| keys[i]).collect(),
        }
        .encode();
        let req = Request::ctrl_only(Opcode::BatchGet, &ctrl);
        let Some(bufs) = bufs else {
            let reply = self.request(s, &req, "batch_get").await?;
            return self.get_answer(s, keys, idx, &reply).await;
        };
        let r = self.get_frame_into(s, keys, idx, &req, bufs).await;
        if !self.retry(s, "batch_get", &r) {
            return r;
        }
        self.get_frame_into(s, keys, idx, &req, bufs).await
    }

    /// The values of a batch-get answer read whole (`reply.data`), as slices of it.
    async fn get_answer(
        &self,
        s: usize,
        keys: &[&[u8]],
        idx: &[usize],
        reply: &Reply,
    ) -> Result<Vec<Fetched>, ClientError> {
        if !reply.is_ok() {
            return Err(self.error(s, reply));
        }
        let resp: msg::BatchGetResp = reply.decode(self.server_name(s))?;
        let lens = self.value_lens(s, idx, &resp, reply.data().len())?;
        let data = reply.data();
        let mut offset = 0;
        let mut values = Vec::with_capacity(lens.len());
        for &len in &lens {
            let value = data.slice(offset..offset + len);
            offset += len;
            values.push((memkv_proto::crc32c(&value), Fetched::Found(value)));
        }
        Ok(self.settle(s, keys, idx, &resp, reply, values, &lens).await)
    }

    /// One try of [`get_frame`](Self::get_frame) into `bufs`: the connection's stream is lent
    /// to this request once the answer's control section is in, and each value is read from
    /// the socket straight into its key's buffer (or, larger than it, read and dropped),
    /// summed as it arrives.
    async fn get_frame_into(
        &self,
        s: usize,
        keys: &[&[u8]],
        idx: &[usize],
        req: &Request<'_>,
        bufs: &mut [&mut [u8]],
    ) -> Result<Vec<Fetched>, ClientError> {
        const OP: &str = "batch_get";
        let conn = self.pools[s].conn().await?;
        let timeout = self.config.op_timeout();
        let handoff = conn.call_handoff(req, OP, timeout).await?;
        // Where the data goes is read off the answer before its tag is checked: nothing else
        // is done with it until `read_parts` has verified the whole frame.
        let head = handoff.unverified();
        let data_len = usize::try_from(head.header.data_len).unwrap_or(usize::MAX);
        if !head.is_ok() {
            let (reply, _) = conn
                .read_parts(handoff, &mut [Part::Drop(data_len)], OP, timeout)
                .await?;
            return Err(self.error(s, &reply));
        }
        let resp: msg::BatchGetResp = head.decode(self.server_name(s))?;
        let lens = self.value_lens(s, idx, &resp, data_len)?;
        let mut parts: Vec<Part<'_>> = lens
            .iter()
            .zip(
                resp.items
                    .iter()
                    .zip(bufs.iter_mut())
                    .filter(|(item, _)| Status::from_code(item.status) == Some(Status::Ok)),
            )
            .map(|(&len, (_, buf))| match buf.get_mut(..len) {
                Some(dest) => Part::Into(dest),
                None => Part::Drop(len),
            })
            .collect();
        let (reply, crcs) = conn.read_parts(handoff, &mut parts, OP, timeout).await?;
        // Each part says what became of its value: in its buffer, or read and dropped.
        let values = crcs
            .into_iter()
            .zip(&parts)
            .map(|(crc, part)| match part {
                Part::Into(dest) => (crc, Fetched::Landed(dest.len())),
                Part::Drop(len) => (crc, Fetched::TooSmall(*len as u64)),
            })
            .collect();
        Ok(self
            .settle(s, keys, idx, &resp, &reply, values, &lens)
            .await)
    }

    /// The lengths of the values a batch-get answer carries (its `Ok` items, in order),
    /// checked against the answer's item count and its data's length.
    fn value_lens(
        &self,
        s: usize,
        idx: &[usize],
        resp: &msg::BatchGetResp,
        data_len: usize,
    ) -> Result<Vec<usize>, ClientError> {
        if resp.items.len() != idx.len() {
            return Err(self.count_mismatch(s, "batch_get", idx.len(), resp.items.len()));
        }
        let protocol = |detail: &str| ClientError::Protocol {
            server: self.server_name(s).to_owned(),
            detail: detail.into(),
        };
        let mut total = 0usize;
        let mut lens = Vec::with_capacity(resp.items.len());
        for item in &resp.items {
            if Status::from_code(item.status) == Some(Status::Ok) {
                let len = usize::try_from(item.len)
                    .ok()
                    .filter(|&l| total.checked_add(l).is_some_and(|t| t <= data_len))
                    .ok_or_else(|| {
                        protocol("batch_get answer lists more value bytes than it carries")
                    })?;
                total += len;
                lens.push(len);
            }
        }
        if total != data_len {
            return Err(protocol(
                "batch_get answer carries more value bytes than it lists",
            ));
        }
        Ok(lens)
    }

    /// Each key's outcome from a verified batch-get answer: `values` holds, for each `Ok`
    /// item in order, the CRC32C of the bytes received and what became of them (of `lens`
    /// bytes). A value whose bytes do not match its writer's CRC32C is a miss, counted and
    /// reported to the server as damaged. When every value matched, their CRC32Cs must also
    /// make up the frame's data CRC (in `checksum` mode the only check of the data section as
    /// a whole), or every key of the frame is a miss.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        s: usize,
        keys: &[&[u8]],
        idx: &[usize],
        resp: &msg::BatchGetResp,
        reply: &Reply,
        values: Vec<(u32, Fetched)>,
        lens: &[usize],
    ) -> Vec<Fetched> {
        // What the frame's data CRC must be if every value is intact.
        let combined = combine_crcs(values.iter().map(|(crc, _)| *crc).zip(lens.iter().copied()));
        let mut values = values.into_iter();
        let mut out = Vec::with_capacity(idx.len());
        let mut damaged = Vec::new();
        for (item, &i) in resp.items.iter().zip(idx) {
            match Status::from_code(item.status) {
                Some(Status::Ok) => {
                    let (crc, fetched) = values.next().unwrap_or((!item.crc, Fetched::Miss));
                    if crc == item.crc {
                        out.push(fetched);
                    } else {
                        self.checksum_failure(s);
                        damaged.push(keys[i]);
                        out.push(Fetched::Miss);
                    }
                }
                Some(Status::PayloadTooLarge) => out.push(Fetched::Large(item.len)),
                Some(Status::NotFound) => out.push(Fetched::Miss),
                other => {
                    tracing::debug!(
                        server = self.server_name(s),
                        status = ?other,
                        "batch_get item refused; reporting a miss"
                    );
                    out.push(Fetched::Miss);
                }
            }
        }
        if damaged.is_empty() && combined != reply.sent_crc {
            self.checksum_failure(s);
            return idx.iter().map(|_| Fetched::Miss).collect();
        }
        if !damaged.is_empty() {
            self.report_damaged(s, &damaged).await;
        }
        out
    }

    /// Batch-fetches `keys`, one entry per key in input order; oversized values are reported as
    /// [`Fetched::Large`]. With `bufs` (one per key), values are read into them. Unreachable
    /// servers follow the `unreachable` policy.
    async fn fetch_all(
        &self,
        keys: &[&[u8]],
        bufs: Bufs<'_, '_>,
    ) -> Result<Vec<Fetched>, ClientError> {
        for k in keys {
            check_key(k)?;
        }
        let groups = group_by_server(keys.iter().copied(), &self.ring);
        let mut owners = groups.iter().enumerate().filter(|(_, g)| !g.is_empty());
        if let (Some((s, idx)), None) = (owners.next(), owners.next()) {
            // Every key on one server (always so with one): its group is every position in
            // input order, so its answer is already the result, buffers and all.
            let r = self.get_group(s, keys, idx, bufs).await;
            return self.or_miss(r, || idx.iter().map(|_| Fetched::Miss).collect());
        }
        // Each server's share of the buffers, in its group's (ascending) order.
        let mut shares: Vec<Option<Vec<&mut [u8]>>> = match bufs {
            None => groups.iter().map(|_| None).collect(),
            Some(bufs) => {
                let mut owner = vec![0; keys.len()];
                for (s, group) in groups.iter().enumerate() {
                    group.iter().for_each(|&i| owner[i] = s);
                }
                let mut shares: Vec<Vec<&mut [u8]>> =
                    groups.iter().map(|g| Vec::with_capacity(g.len())).collect();
                for (i, buf) in bufs.iter_mut().enumerate() {
                    shares[owner[i]].push(&mut **buf);
                }
                shares.into_iter().map(Some).collect()
            }
        };
        let active: Vec<usize> = (0..groups.len())
            .filter(|&s| !groups[s].is_empty())
            .collect();
        let results = join_all(
            shares
                .iter_mut()
                .enumerate()
                .filter(|(s, _)| !groups[*s].is_empty())
                .map(|(s, share)| self.get_group(s, keys, &groups[s], share.as_deref_mut()))
                .collect(),
        )
        .await;
        let mut out: Vec<Option<Fetched>> = (0..keys.len()).map(|_| None).collect();
        for (&s, r) in active.iter().zip(results) {
            let idx = &groups[s];
            let values = self.or_miss(r, || idx.iter().map(|_| Fetched::Miss).collect())?;
            scatter(&mut out, idx, values);
        }
        Ok(gather(out))
    }
}

impl AsyncClient {
    /// Whether each key is stored, in input order. Keys are grouped by server and asked in
    /// parallel.
    pub async fn exists(&self, keys: &[&[u8]]) -> Result<Vec<bool>, ClientError> {
        for k in keys {
            check_key(k)?;
        }
        let inner = &self.inner;
        let groups = group_by_server(keys.iter().copied(), &inner.ring);
        let active: Vec<usize> = (0..groups.len())
            .filter(|&s| !groups[s].is_empty())
            .collect();
        let results = join_all(
            active
                .iter()
                .map(|&s| inner.exists_group(s, keys, &groups[s]))
                .collect(),
        )
        .await;
        let mut out: Vec<Option<bool>> = vec![None; keys.len()];
        for (&s, r) in active.iter().zip(results) {
            let idx = &groups[s];
            let bits = inner.or_miss(r, || vec![false; idx.len()])?;
            scatter(&mut out, idx, bits);
        }
        Ok(gather(out))
    }

    /// Whether each key is stored on server `server_index`, bypassing sharding (probes,
    /// diagnostics).
    pub async fn exists_on(
        &self,
        server_index: usize,
        keys: &[&[u8]],
    ) -> Result<Vec<bool>, ClientError> {
        let s = self.check_index(server_index)?;
        for k in keys {
            check_key(k)?;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let idx: Vec<usize> = (0..keys.len()).collect();
        let r = self.inner.exists_group(s, keys, &idx).await;
        self.inner.or_miss(r, || vec![false; keys.len()])
    }

    /// Stores many values; one result per item, in input order. Values are sent straight from
    /// the caller's slices, many per frame; a value over the frame limit is uploaded in chunks
    /// on its own. Keys over 512 bytes fail with [`ClientError::KeyTooLong`] without stopping
    /// the other items.
    pub async fn batch_put(&self, items: &[(&[u8], &[u8])]) -> Vec<Result<(), ClientError>> {
        let inner = &self.inner;
        let mut out: Vec<Option<Result<(), ClientError>>> =
            (0..items.len()).map(|_| None).collect();
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); inner.pools.len()];
        for (i, (k, _)) in items.iter().enumerate() {
            match check_key(k) {
                Ok(()) => groups[inner.ring.server_for(k)].push(i),
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        let active: Vec<usize> = (0..groups.len())
            .filter(|&s| !groups[s].is_empty())
            .collect();
        let results = join_all(
            active
                .iter()
                .map(|&s| inner.put_group(s, items, &groups[s]))
                .collect(),
        )
        .await;
        for (&s, r) in active.iter().zip(results) {
            scatter(&mut out, &groups[s], r);
        }
        gather(out)
    }

    /// The values of many keys, in input order (`None` for misses). Values over the frame
    /// limit are fetched on their own, in chunks. Values come back as slices of the received
    /// frames (no copy).
    pub async fn batch_get(&self, keys: &[&[u8]]) -> Result<Vec<Option<Bytes>>, ClientError> {
        let inner = &self.inner;
        let fetched = inner.fetch_all(keys, None).await?;
        let mut out: Vec<Option<Bytes>> = Vec::with_capacity(keys.len());
        let mut large = Vec::new();
        for (i, f) in fetched.into_iter().enumerate() {
            out.push(match f {
                Fetched::Found(b) => Some(b),
                Fetched::Miss => None,
                Fetched::Landed(_) | Fetched::TooSmall(_) => {
                    unreachable!("a batch get without buffers reads into none")
                }
                Fetched::Large(_) => {
                    large.push(i);
                    None
                }
            });
        }
        let singles = join_all(
            large
                .iter()
                .map(|&i| async move {
                    let s = inner.ring.server_for(keys[i]);
                    let r = inner
                        .get_chunked(s, keys[i], Sink::Owned)
                        .await
                        .map(|d| match d {
                            crate::stream::Downloaded::Value(v) => Some(v),
                            _ => None,
                        });
                    inner.or_miss(r, || None)
                })
                .collect(),
        )
        .await;
        for (&i, r) in large.iter().zip(singles) {
            out[i] = r?;
        }
        Ok(out)
    }

    /// Reads many values into the caller's buffers, in input order: each entry is
    /// [`GetInto::Hit`] only when the whole value fits its buffer.
    pub async fn batch_get_into(
        &self,
        items: &mut [(&[u8], &mut [u8])],
    ) -> Result<Vec<GetInto>, ClientError> {
        let inner = &self.inner;
        let keys: Vec<&[u8]> = items.iter().map(|(k, _)| *k).collect();
        let fetched = {
            let mut bufs: Vec<&mut [u8]> = items.iter_mut().map(|(_, b)| &mut **b).collect();
            inner.fetch_all(&keys, Some(&mut bufs)).await?
        };
        let mut out = Vec::with_capacity(items.len());
        let mut large = Vec::new();
        for ((key, buf), f) in items.iter_mut().zip(fetched) {
            out.push(match f {
                Fetched::Landed(n) => GetInto::Hit(n),
                Fetched::TooSmall(len) => GetInto::TooSmall { len },
                Fetched::Found(_) => {
                    unreachable!("a batch get into buffers reads values into them")
                }
                Fetched::Miss => GetInto::Miss,
                Fetched::Large(len) if len > buf.len() as u64 => GetInto::TooSmall { len },
                Fetched::Large(_) => {
                    large.push((out.len(), *key, &mut **buf));
                    GetInto::Miss
                }
            });
        }
        let positions: Vec<usize> = large.iter().map(|(i, _, _)| *i).collect();
        let singles = join_all(
            large
                .into_iter()
                .map(|(_, key, buf)| async move {
                    let s = inner.ring.server_for(key);
                    let r = inner
                        .get_chunked(s, key, Sink::Into(buf))
                        .await
                        .map(|d| match d {
                            crate::stream::Downloaded::Hit(n) => GetInto::Hit(n),
                            crate::stream::Downloaded::TooSmall(len) => GetInto::TooSmall { len },
                            _ => GetInto::Miss,
                        });
                    inner.or_miss(r, || GetInto::Miss)
                })
                .collect(),
        )
        .await;
        for (i, r) in positions.into_iter().zip(singles) {
            out[i] = r?;
        }
        Ok(out)
    }
}
