//! The send buffer of a data-plane connection: one policy, [`SendBuffer`], that the server
//! (`network.send_buffer`), the client engine (`send_buffer`, `MEMKV_SEND_BUFFER`) and the
//! benchmark's raw pump apply the same way.
//!
//! Left to itself, Linux grows a TCP socket's send buffer up to `net.ipv4.tcp_wmem`'s maximum
//! (4 MiB by default) to cover the path's bandwidth-delay product. Over loopback that product
//! is next to nothing, and the extra megabytes only queue data: a 4 MiB value sat in 2-2.5 MiB
//! of queued bytes that both ends' copies then fetched from farther away in the cache, and a
//! request's answer waited behind them. A fixed 1 MiB buffer (asked for as 512 KiB, which the
//! kernel doubles) made 4 MiB transfers over loopback 10-20% faster on a 2-core guest
//! (bench/results/2026-12-06-2core-amd-flusher-and-low-water, 2026-12-06-2core-amd-send-buffer).
//! Across a network the product is real, so [`SendBuffer::Auto`] leaves such sockets to the
//! kernel.

use std::fmt;
use std::net::IpAddr;
use std::os::fd::AsFd;

/// What [`SendBuffer::Auto`] asks for on a loopback connection: 512 KiB, which Linux doubles
/// to a 1 MiB buffer (the request is capped at `net.core.wmem_max`, 208 KiB on a stock kernel).
pub const LOOPBACK_SEND_BUFFER: usize = 512 * 1024;

/// The smallest fixed send buffer a configuration may ask for.
pub const MIN_SEND_BUFFER: usize = 4 * 1024;
/// The largest fixed send buffer a configuration may ask for (the kernel caps it lower still,
/// at `net.core.wmem_max`, unless that is raised).
pub const MAX_SEND_BUFFER: usize = 256 * 1024 * 1024;

/// How a connection's send buffer is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SendBuffer {
    /// [`LOOPBACK_SEND_BUFFER`] when the peer is on loopback, the kernel's autotuning
    /// otherwise.
    #[default]
    Auto,
    /// The kernel's autotuning for every connection.
    Kernel,
    /// This many bytes asked for (`SO_SNDBUF`) on every connection, in
    /// [`MIN_SEND_BUFFER`]`..=`[`MAX_SEND_BUFFER`].
    Fixed(usize),
}

/// A send-buffer setting that is neither `auto`, `kernel` nor a size in range; the message
/// says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SendBufferError(String);

impl SendBuffer {
    /// The policy named by `keyword` (`auto` or `kernel`, any case), if it is one.
    pub fn from_keyword(keyword: &str) -> Option<SendBuffer> {
        match keyword.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(SendBuffer::Auto),
            "kernel" => Some(SendBuffer::Kernel),
            _ => None,
        }
    }

    /// A fixed size, checked against [`MIN_SEND_BUFFER`]`..=`[`MAX_SEND_BUFFER`].
    pub fn fixed(bytes: u64) -> Result<SendBuffer, SendBufferError> {
        match usize::try_from(bytes) {
            Ok(b) if (MIN_SEND_BUFFER..=MAX_SEND_BUFFER).contains(&b) => Ok(SendBuffer::Fixed(b)),
            _ => Err(SendBufferError(format!(
                "`{bytes}` bytes is outside {MIN_SEND_BUFFER}..={MAX_SEND_BUFFER} \
                 (or use `auto`, the default, or `kernel`)"
            ))),
        }
    }

    /// The bytes to ask for on a connection with `peer`, or `None` to leave it to the kernel.
    pub fn request_for(self, peer: IpAddr) -> Option<usize> {
        match self {
            SendBuffer::Auto if peer.to_canonical().is_loopback() => Some(LOOPBACK_SEND_BUFFER),
            SendBuffer::Auto | SendBuffer::Kernel => None,
            SendBuffer::Fixed(bytes) => Some(bytes),
        }
    }

    /// A note for the log when the kernel will cut this policy's requests short: a fixed size
    /// above `ceiling` (`net.core.wmem_max`, see [`kernel_ceiling`]). `setting` names the
    /// setting in the note.
    pub fn capped_note(self, ceiling: Option<usize>, setting: &str) -> Option<String> {
        match (self, ceiling) {
            (SendBuffer::Fixed(bytes), Some(max)) if bytes > max => Some(format!(
                "{setting} asks for {bytes} bytes, but the kernel caps send-buffer requests at \
                 net.core.wmem_max = {max}: each connection gets {} bytes instead of {}; raise \
                 it (sysctl -w net.core.wmem_max={bytes}) or lower {setting}",
                2 * max,
                2 * bytes
            )),
            _ => None,
        }
    }

    /// Applies the policy to a connected socket whose peer is `peer` (the kernel grants twice
    /// the request, or less where `net.core.wmem_max` caps it: `memkv_ioengine::send_buffer`
    /// reads it back). An error leaves the socket as it was, which still works.
    pub fn apply(self, sock: &impl AsFd, peer: IpAddr) -> std::io::Result<()> {
        match self.request_for(peer) {
            Some(bytes) => memkv_ioengine::set_send_buffer(sock.as_fd(), bytes),
            None => Ok(()),
        }
    }
}

/// The kernel's ceiling on a requested send buffer (`net.core.wmem_max`), where readable.
pub fn kernel_ceiling() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/net/core/wmem_max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl fmt::Display for SendBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendBuffer::Auto => f.write_str("auto"),
            SendBuffer::Kernel => f.write_str("kernel"),
            SendBuffer::Fixed(bytes) => write!(f, "{bytes}"),
        }
    }
}

/// `auto`, `kernel`, or a whole number of bytes (the form the client's settings take; the
/// server's config file also takes human sizes such as `1 MiB`).
impl std::str::FromStr for SendBuffer {
    type Err = SendBufferError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(policy) = SendBuffer::from_keyword(s) {
            return Ok(policy);
        }
        let bytes: u64 = s.trim().parse().map_err(|_| {
            SendBufferError(format!(
                "`{}` is not a send buffer: use `auto` (the default), `kernel`, or a number of bytes such as `1048576`",
                s.trim()
            ))
        })?;
        SendBuffer::fixed(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn settings_parse_from_keywords_and_byte_counts_and_print_back() {
        for (text, want) in [
            ("auto", SendBuffer::Auto),
            (" Kernel ", SendBuffer::Kernel),
            ("1048576", SendBuffer::Fixed(1 << 20)),
            ("4096", SendBuffer::Fixed(4096)),
        ] {
            let got: SendBuffer = text.parse().unwrap();
            assert_eq!(got, want, "{text}");
            assert_eq!(got.to_string().parse::<SendBuffer>().unwrap(), want);
        }
        for bad in ["", "big", "1 MiB", "-1", "4095", "268435457"] {
            let err = bad.parse::<SendBuffer>().unwrap_err().to_string();
            assert!(
                err.contains("auto") && err.contains("kernel"),
                "{bad}: {err}"
            );
        }
        assert_eq!(SendBuffer::default(), SendBuffer::Auto);
    }

    #[test]
    fn auto_fixes_the_buffer_of_loopback_peers_only() {
        let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let mapped = IpAddr::V6(Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped());
        let remote = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
        for lo in [lo4, lo6, mapped] {
            assert_eq!(
                SendBuffer::Auto.request_for(lo),
                Some(LOOPBACK_SEND_BUFFER),
                "{lo}"
            );
            assert_eq!(SendBuffer::Kernel.request_for(lo), None);
        }
        assert_eq!(SendBuffer::Auto.request_for(remote), None);
        assert_eq!(SendBuffer::Fixed(8192).request_for(remote), Some(8192));
    }

    #[test]
    fn a_fixed_size_above_the_kernel_ceiling_is_noted() {
        let note = SendBuffer::Fixed(8 << 20)
            .capped_note(Some(212_992), "network.send_buffer")
            .unwrap();
        assert!(note.contains("net.core.wmem_max = 212992"), "{note}");
        assert!(
            note.contains("gets 425984 bytes instead of 16777216"),
            "{note}"
        );
        assert!(note.contains("network.send_buffer"), "{note}");
        for quiet in [
            SendBuffer::Fixed(212_992).capped_note(Some(212_992), "x"),
            SendBuffer::Fixed(8 << 20).capped_note(None, "x"),
            SendBuffer::Auto.capped_note(Some(4096), "x"),
            SendBuffer::Kernel.capped_note(Some(4096), "x"),
        ] {
            assert_eq!(quiet, None);
        }
        assert!(kernel_ceiling().is_some_and(|max| max > 0));
    }

    /// The size read back from the socket: twice the request, capped by the kernel's ceiling.
    #[test]
    fn applying_a_policy_sets_the_socket_as_the_kernel_allows() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = listener.local_addr().unwrap().ip();
        let wmem_max = kernel_ceiling().expect("net.core.wmem_max");
        let fresh = || std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let granted = |s: &std::net::TcpStream| memkv_ioengine::send_buffer(s.as_fd()).unwrap();

        let s = fresh();
        let before = granted(&s);
        SendBuffer::Kernel.apply(&s, peer).unwrap();
        assert_eq!(granted(&s), before);

        let s = fresh();
        SendBuffer::Auto.apply(&s, peer).unwrap();
        assert_eq!(granted(&s), 2 * LOOPBACK_SEND_BUFFER.min(wmem_max));

        let s = fresh();
        SendBuffer::Fixed(96 * 1024).apply(&s, peer).unwrap();
        assert_eq!(granted(&s), 2 * (96 * 1024).min(wmem_max));
    }
}
