//! The raw Linux calls the engine needs that std does not wrap: block-device ioctls,
//! `fallocate`, `eventfd`, `flock` (for the storage engine's drive claims), and the receive
//! low-water mark and send buffer of the data plane's sockets (this crate holds all of the
//! project's `unsafe`).
//!
//! Every function here takes a borrowed fd, so the descriptor is open for the whole call, and
//! passes only pointers to locals that live across the call.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

// The block-layer ioctl numbers from <linux/fs.h>. libc exports BLKSSZGET but not these two.
// They use the generic `_IOC` encoding (x86_64, aarch64, riscv64, s390x, loongarch64).
#[cfg(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "sparc",
    target_arch = "sparc64"
))]
compile_error!("memkv-ioengine encodes block ioctls for the generic _IOC layout only");

/// `_IOR(0x12, 114, size_t)`: the device size in bytes, as a u64.
const BLKGETSIZE64: u64 = (2 << 30) | ((size_of::<usize>() as u64) << 16) | (0x12 << 8) | 114;
/// `_IO(0x12, 119)`: discard a byte range given as `[offset, len]` u64s.
const BLKDISCARD: u64 = (0x12 << 8) | 119;

/// Converts a libc `-1` return into the thread's errno.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The size of a block device in bytes (`BLKGETSIZE64`).
pub(crate) fn block_device_size(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut size: u64 = 0;
    // SAFETY: `fd` is open for the call (borrowed); BLKGETSIZE64 writes one u64 through the
    // pointer, which points to a live, writable, correctly aligned local.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), BLKGETSIZE64 as _, &mut size as *mut u64) })?;
    Ok(size)
}

/// The logical block (sector) size of a block device in bytes (`BLKSSZGET`).
pub(crate) fn logical_block_size(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut size: libc::c_int = 0;
    // SAFETY: `fd` is open for the call; BLKSSZGET writes one C int through the pointer, which
    // points to a live, writable, correctly aligned local.
    check(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::BLKSSZGET as _,
            &mut size as *mut libc::c_int,
        )
    })?;
    u64::try_from(size).map_err(|_| io::Error::other("BLKSSZGET returned a negative size"))
}

/// Discards `len` bytes at `offset` on a block device (`BLKDISCARD`). Blocks until done.
pub(crate) fn blk_discard(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<()> {
    let range: [u64; 2] = [offset, len];
    // SAFETY: `fd` is open for the call; BLKDISCARD reads two u64s through the pointer, which
    // points to a live local array of exactly that shape.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), BLKDISCARD as _, range.as_ptr()) })?;
    Ok(())
}

/// `fallocate(2)` with the given mode.
pub(crate) fn fallocate(
    fd: BorrowedFd<'_>,
    mode: libc::c_int,
    offset: u64,
    len: u64,
) -> io::Result<()> {
    let offset =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    loop {
        // SAFETY: `fd` is open for the call; fallocate takes only integers.
        match check(unsafe { libc::fallocate(fd.as_raw_fd(), mode, offset, len) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other.map(drop),
        }
    }
}

/// The `fallocate` mode that deallocates a range without changing the file size.
pub(crate) const PUNCH_HOLE: libc::c_int = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;

/// Whether `err` means "this device or filesystem does not support the operation" (`ENOTSUP`
/// and `EOPNOTSUPP` are the same number on Linux).
pub(crate) fn is_unsupported(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOTTY))
}

/// A new non-blocking, close-on-exec eventfd with counter 0.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes only integers.
    let fd = check(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
    // SAFETY: eventfd just returned this descriptor (checked >= 0); nothing else owns it, so
    // the OwnedFd becomes its only owner and closes it exactly once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Takes an exclusive advisory lock on the file (`flock(LOCK_EX | LOCK_NB)`), held until the
/// descriptor is closed. Fails with `WouldBlock` while another open file description holds it.
pub fn try_lock_exclusive(file: &std::fs::File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: `fd` belongs to `file`, which the caller keeps open for the call; flock takes no
    // pointers.
    check(unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) }).map(|_| ())
}

/// Sets a socket's receive low-water mark (`SO_RCVLOWAT`, at least 1, the default): the
/// kernel reports the socket readable, and wakes a reader waiting on it, only once `bytes`
/// bytes are queued, or at end of stream or on an error. A non-blocking read still returns
/// whatever is queued. Lowering it wakes a reader whose mark is now met.
pub fn set_recv_low_water(sock: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    let value = bytes.clamp(1, libc::c_int::MAX as usize) as libc::c_int;
    set_socket_int(sock, libc::SO_RCVLOWAT, value)
}

/// Sets a `SOL_SOCKET` option whose value is a C int.
fn set_socket_int(sock: BorrowedFd<'_>, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `sock` is borrowed, so the descriptor is open for the call; the option value
    // points at a local c_int that outlives the call, with its exact size, and setsockopt
    // does not keep the pointer.
    check(unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// Asks for a socket send buffer of `bytes` (`SO_SNDBUF`), which turns the kernel's send-buffer
/// autotuning off for the socket. Linux caps the request at `net.core.wmem_max` and doubles it
/// for its bookkeeping: [`send_buffer`] reads back what was granted.
pub fn set_send_buffer(sock: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    let value = bytes.min(libc::c_int::MAX as usize) as libc::c_int;
    set_socket_int(sock, libc::SO_SNDBUF, value)
}

/// A socket's send buffer in bytes as the kernel accounts it (`SO_SNDBUF` read back: twice
/// what was asked for, or the autotuned size).
pub fn send_buffer(sock: BorrowedFd<'_>) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `sock` is open for the call; getsockopt writes at most `len` bytes (one c_int)
    // to `value` and the actual length to `len`, both live locals that outlive the call.
    check(unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&raw mut value).cast(),
            &raw mut len,
        )
    })?;
    usize::try_from(value).map_err(|_| io::Error::other("SO_SNDBUF read back as negative"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_linux_headers() {
        // From <linux/fs.h> on x86_64/aarch64.
        assert_eq!(BLKGETSIZE64, 0x8008_1272);
        assert_eq!(BLKDISCARD, 0x1277);
    }

    #[test]
    fn ioctls_on_a_regular_file_fail_cleanly() {
        let file = tempfile::tempfile().expect("create temp file");
        let fd = std::os::fd::AsFd::as_fd(&file);
        let err = block_device_size(fd).expect_err("BLKGETSIZE64 on a file");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY));
    }

    /// Whether `sock` is reported readable right now.
    fn readable(sock: &std::net::TcpStream) -> bool {
        let mut pfd = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, a local that outlives the call, for a descriptor `sock` keeps
        // open; timeout 0 returns at once.
        let n = check(unsafe { libc::poll(&raw mut pfd, 1, 0) }).expect("poll");
        n == 1 && pfd.revents & libc::POLLIN != 0
    }

    #[test]
    fn a_socket_is_readable_only_once_its_low_water_mark_is_queued() {
        use std::io::Write;
        use std::os::fd::AsFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut tx = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (rx, _) = listener.accept().unwrap();
        set_recv_low_water(rx.as_fd(), 1000).expect("SO_RCVLOWAT on a TCP socket");
        tx.write_all(&[7; 600]).unwrap();
        // A blocking read waits for the low-water mark, so this read (of the 600 bytes and
        // the next 400) returns only once all 1000 are there; it also proves they arrived.
        let mut peek = [0u8; 1000];
        tx.write_all(&[8; 400]).unwrap();
        assert_eq!(rx.peek(&mut peek).unwrap(), 1000);
        let mut rx_read = &rx;
        let mut got = [0u8; 1000];
        std::io::Read::read_exact(&mut rx_read, &mut got).unwrap();
        assert!(!readable(&rx), "nothing queued");
        tx.write_all(&[9; 10]).unwrap();
        // 10 bytes queued: below the mark of 1000, not readable; lowering it makes it so.
        let mut ten = [0u8; 10];
        rx.set_nonblocking(true).unwrap();
        while rx.peek(&mut ten).unwrap_or(0) < 10 {
            std::thread::yield_now();
        }
        assert!(!readable(&rx), "10 bytes are below the mark");
        set_recv_low_water(rx.as_fd(), 10).unwrap();
        assert!(readable(&rx), "10 bytes meet the lowered mark");
        set_recv_low_water(rx.as_fd(), 1).unwrap();
        assert!(readable(&rx));

        let file = tempfile::tempfile().expect("create temp file");
        let err = set_recv_low_water(file.as_fd(), 10).expect_err("not a socket");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTSOCK));
    }

    #[test]
    fn a_send_buffer_asked_for_is_granted_doubled_up_to_the_kernel_ceiling() {
        use std::os::fd::AsFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let tx = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let autotuned = send_buffer(tx.as_fd()).expect("SO_SNDBUF of a fresh socket");
        assert!(autotuned > 0);
        let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/wmem_max")
            .expect("net.core.wmem_max")
            .trim()
            .parse()
            .unwrap();
        for ask in [64 * 1024, 512 * 1024] {
            set_send_buffer(tx.as_fd(), ask).expect("SO_SNDBUF on a TCP socket");
            assert_eq!(send_buffer(tx.as_fd()).unwrap(), 2 * ask.min(wmem_max));
        }
        let file = tempfile::tempfile().expect("create temp file");
        let err = set_send_buffer(file.as_fd(), 4096).expect_err("not a socket");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTSOCK));
        assert_eq!(
            send_buffer(file.as_fd()).unwrap_err().raw_os_error(),
            Some(libc::ENOTSOCK)
        );
    }
}
