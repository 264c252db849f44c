//! What runs in the forked processes: the zygote and its workers.
//!
//! Only `libc` calls on stack buffers until the loops run (the zygote is forked from a process
//! that may have other threads, whose locks it inherits held). Both leave through `_exit`, never
//! `std::process::exit`: the caller's `atexit` handlers and destructors belong to the caller.

use std::{
    any::Any,
    io::Write,
    os::fd::RawFd,
    panic::{AssertUnwindSafe, catch_unwind},
};

use crate::{call, ctl, wire};

/// The initializer a worker runs once, shared by reference from the caller's memory image.
pub(crate) type Init = dyn Fn() + Send + Sync;

/// Exit status of a worker whose initializer panicked.
pub(crate) const EXIT_INIT_FAILED: i32 = 3;
/// Exit status of a worker that received a frame it could not read.
pub(crate) const EXIT_BAD_FRAME: i32 = 70;
/// Exit status of a forked process whose own code panicked (a weft bug, never user code).
const EXIT_INTERNAL: i32 = 101;

/// The zygote's entry point, right after the caller's fork. Never returns.
pub(crate) fn zygote_main(ctl: RawFd, init: Option<&Init>) -> ! {
    let code = match catch_unwind(AssertUnwindSafe(|| zygote_loop(ctl, init))) {
        Ok(()) => 0,
        Err(_) => EXIT_INTERNAL,
    };
    // SAFETY: `_exit` ends the process at once; nothing of the caller's runs in this fork.
    unsafe { libc::_exit(code) }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Closes every descriptor except stdio and `keep`.
///
/// The zygote inherits every descriptor of the caller: other pools' sockets (a worker of
/// another pool would never see end-of-file), listening sockets, files. `close_range(2)` does
/// it in one call; the loop is the fallback for kernels older than 5.9.
fn close_other_fds(keep: RawFd) {
    let mut ranges = [(3u32, u32::MAX), (u32::MAX, u32::MAX)];
    if keep >= 3 {
        let k = keep as u32;
        ranges = [(3, k - 1), (k + 1, u32::MAX)];
    }
    for (lo, hi) in ranges {
        if lo > hi {
            continue;
        }
        // SAFETY: `close_range` only closes descriptors; nothing in this process uses the ones
        // in the range any more (the zygote runs no other thread).
        let r = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) };
        if r != 0 {
            // SAFETY: `getrlimit` writes into the stack value it is given.
            let max = unsafe {
                let mut rl: libc::rlimit = std::mem::zeroed();
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
                    rl.rlim_cur.min(65_536) as u32
                } else {
                    4_096
                }
            };
            for fd in lo..=hi.min(max) {
                // SAFETY: closing a descriptor number, open or not, is harmless here.
                unsafe { libc::close(fd as RawFd) };
            }
        }
    }
}

/// Sends one control message; false when the pool's end is gone.
fn send_msg(ctl: RawFd, m: ctl::Msg, fd: Option<RawFd>) -> bool {
    let bytes = m.to_bytes();
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    #[repr(C, align(8))]
    struct Cmsg([u8; 64]);
    let mut cbuf = Cmsg([0; 64]);
    // SAFETY: `msghdr` is plain data; zeroed is its empty value.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    if let Some(fd) = fd {
        // SAFETY: CMSG_SPACE/CMSG_LEN are pure size computations.
        let (space, len) = unsafe {
            (
                libc::CMSG_SPACE(size_of::<RawFd>() as u32),
                libc::CMSG_LEN(size_of::<RawFd>() as u32),
            )
        };
        hdr.msg_control = cbuf.0.as_mut_ptr().cast();
        hdr.msg_controllen = space as _;
        // SAFETY: `hdr` points at `cbuf`, 8-aligned and larger than `space`, so the first
        // header and its data lie inside it.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&hdr);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = len as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        }
    }
    loop {
        // SAFETY: `hdr` and everything it points to live on this stack frame.
        let n = unsafe { libc::sendmsg(ctl, &hdr, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return true;
        }
        if errno() != libc::EINTR {
            return false;
        }
    }
}

/// Kills and reaps every live worker, then leaves.
fn die(live: &[libc::pid_t]) -> ! {
    for &pid in live {
        // SAFETY: `pid` is an unreaped child of this process, so the number is still its own.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for &pid in live {
        let mut st = 0;
        // SAFETY: waiting for our own child, with a stack status word.
        while unsafe { libc::waitpid(pid, &mut st, 0) } < 0 && errno() == libc::EINTR {}
    }
    // SAFETY: see `zygote_main`.
    unsafe { libc::_exit(0) }
}

fn zygote_loop(ctl: RawFd, init: Option<&Init>) {
    close_other_fds(ctl);
    // SAFETY: signal-mask calls on stack sets; the zygote runs one thread.
    let (sfd, empty) = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigemptyset(&mut empty);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        (
            libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK),
            empty,
        )
    };
    // SAFETY: plain system call.
    let me = unsafe { libc::getpid() };
    // The loop is past the fork hazard: allocation is fine from here on (glibc's fork resets
    // the allocator's locks in the child).
    let mut live: Vec<libc::pid_t> = Vec::new();
    loop {
        let mut fds = [
            libc::pollfd {
                fd: ctl,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let nfds = if sfd >= 0 { 2 } else { 1 };
        // Without a signalfd (it cannot fail on Linux short of running out of descriptors),
        // poll with a timeout and reap on every round.
        let timeout = if sfd >= 0 { -1 } else { 10 };
        // SAFETY: `fds` is a live stack array of `nfds` entries.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout) };
        if n < 0 && errno() != libc::EINTR {
            die(&live);
        }
        if sfd < 0 || fds[1].revents != 0 {
            let mut info = [0u8; 128];
            // SAFETY: reading into a stack buffer of the size signalfd records have.
            while sfd >= 0 && unsafe { libc::read(sfd, info.as_mut_ptr().cast(), info.len()) } > 0 {
            }
            loop {
                let mut st = 0;
                // SAFETY: reaping our own children (only workers are children of the zygote).
                let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
                if pid <= 0 {
                    break;
                }
                live.retain(|&p| p != pid);
                if !send_msg(ctl, ctl::Msg::new(ctl::EXITED, 0, pid, st), None) {
                    die(&live);
                }
            }
        }
        if fds[0].revents == 0 {
            continue;
        }
        let mut buf = [0u8; ctl::LEN];
        // SAFETY: receiving into a stack buffer of its size.
        let got = unsafe { libc::recv(ctl, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if got < 0 && matches!(errno(), libc::EINTR | libc::EAGAIN) {
            continue;
        }
        if got != ctl::LEN as isize {
            // End-of-file (the pool closed its end, or its process died) or garbage.
            die(&live);
        }
        let m = ctl::Msg::from_bytes(&buf);
        match m.op {
            ctl::SPAWN => {
                let mut sv = [0 as RawFd; 2];
                // SAFETY: `sv` is a stack array of two descriptors, as socketpair expects.
                let r = unsafe {
                    libc::socketpair(
                        libc::AF_UNIX,
                        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                        0,
                        sv.as_mut_ptr(),
                    )
                };
                if r != 0 {
                    if !send_msg(ctl, ctl::Msg::new(ctl::SPAWN_FAILED, m.a, 0, errno()), None) {
                        die(&live);
                    }
                    continue;
                }
                // SAFETY: the zygote is single-threaded, so the child is a faithful copy.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    // SAFETY: in the new worker: drop the zygote's descriptors, restore an
                    // empty signal mask, and die with the zygote (checked against the race
                    // where it died before prctl ran).
                    unsafe {
                        libc::close(ctl);
                        if sfd >= 0 {
                            libc::close(sfd);
                        }
                        libc::close(sv[0]);
                        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                        if libc::getppid() != me {
                            libc::_exit(0);
                        }
                    }
                    worker_main(sv[1], init);
                }
                let e = errno();
                // SAFETY: closing our copy of the worker's end.
                unsafe { libc::close(sv[1]) };
                if pid < 0 {
                    // SAFETY: closing the pool's end, which will not be sent.
                    unsafe { libc::close(sv[0]) };
                    if !send_msg(ctl, ctl::Msg::new(ctl::SPAWN_FAILED, m.a, 0, e), None) {
                        die(&live);
                    }
                    continue;
                }
                live.push(pid);
                let ok = send_msg(ctl, ctl::Msg::new(ctl::SPAWNED, m.a, pid, 0), Some(sv[0]));
                // SAFETY: the descriptor now travels in the message (or is not wanted).
                unsafe { libc::close(sv[0]) };
                if !ok {
                    die(&live);
                }
            }
            ctl::SIGNAL => {
                if live.contains(&m.b) {
                    // SAFETY: `m.b` is a live, unreaped child, so the pid is still its own.
                    unsafe { libc::kill(m.b, m.c) };
                }
            }
            _ => die(&live),
        }
    }
}

/// The text of a panic payload: the `&str` or `String` it carries, else `Box<dyn Any>`.
pub(crate) fn panic_text(p: &(dyn Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

/// A worker's entry point, right after the zygote's fork. Never returns.
fn worker_main(sock: RawFd, init: Option<&Init>) -> ! {
    let code = catch_unwind(AssertUnwindSafe(|| worker_loop(sock, init))).unwrap_or(EXIT_INTERNAL);
    // Rust's stdout is line-buffered: keep what the tasks printed without a newline.
    let _ = std::io::stdout().flush();
    // SAFETY: see `zygote_main`.
    unsafe { libc::_exit(code) }
}

/// Makes sure a whole frame starts at `buf[*start..]`, reading as much as the socket holds;
/// returns its body length, `None` on end-of-file between frames, `Err` on a bad or cut frame.
fn next_frame(fd: RawFd, buf: &mut Vec<u8>, start: &mut usize) -> Result<Option<usize>, ()> {
    loop {
        let avail = buf.len() - *start;
        let need = if avail >= wire::HEADER {
            let len = wire::parse_header(&buf[*start..*start + wire::HEADER]).map_err(|_| ())?;
            if avail >= wire::HEADER + len {
                return Ok(Some(len));
            }
            wire::HEADER + len - avail
        } else {
            wire::HEADER - avail
        };
        if *start > 0 {
            buf.drain(..*start);
            *start = 0;
        }
        buf.reserve(need.max(64 * 1024));
        let spare = buf.spare_capacity_mut();
        // SAFETY: reading into the vector's spare capacity; `set_len` covers exactly the bytes
        // the kernel wrote.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), spare.len()) };
        if n > 0 {
            // SAFETY: the kernel initialized `n` bytes of the spare capacity.
            unsafe { buf.set_len(buf.len() + n as usize) };
        } else if n == 0 {
            return if buf.is_empty() { Ok(None) } else { Err(()) };
        } else if errno() != libc::EINTR {
            return Err(());
        }
    }
}

/// Writes all of `buf`; never raises SIGPIPE.
fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), ()> {
    while !buf.is_empty() {
        // SAFETY: sending from a live slice.
        let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n >= 0 {
            buf = &buf[n as usize..];
        } else if errno() != libc::EINTR {
            return Err(());
        }
    }
    Ok(())
}

/// Builds a reply in which every one of `count` items failed with `reason`.
fn all_failed(out: &mut Vec<u8>, count: u32, reason: &str) {
    wire::begin(out, wire::KIND_REPLY);
    out.extend_from_slice(&count.to_le_bytes());
    for _ in 0..count {
        out.push(wire::TAG_FAILED);
        let at = wire::len_slot(out);
        out.extend_from_slice(reason.as_bytes());
        let _ = wire::patch_len(out, at);
    }
    let _ = wire::finish(out);
}

fn worker_loop(sock: RawFd, init: Option<&Init>) -> i32 {
    let mut out = Vec::with_capacity(4096);
    if let Some(init) = init
        && let Err(p) = catch_unwind(AssertUnwindSafe(init))
    {
        wire::begin(&mut out, wire::KIND_INIT_FAILED);
        let at = wire::len_slot(&mut out);
        out.extend_from_slice(panic_text(&*p).as_bytes());
        let _ = wire::patch_len(&mut out, at);
        let _ = wire::finish(&mut out);
        let _ = write_all(sock, &out);
        return EXIT_INIT_FAILED;
    }
    // Frames are read in bulk (the pool may send the next task ahead of this one).
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut start = 0;
    loop {
        let len = match next_frame(sock, &mut buf, &mut start) {
            Ok(Some(len)) => len,
            // The pool closed our socket: retire.
            Ok(None) => return 0,
            Err(()) => return EXIT_BAD_FRAME,
        };
        let body = &buf[start + wire::HEADER..start + wire::HEADER + len];
        start += wire::HEADER + len;
        let Ok(mut task) = wire::parse_task(body) else {
            return EXIT_BAD_FRAME;
        };
        wire::begin(&mut out, wire::KIND_REPLY);
        out.extend_from_slice(&task.count.to_le_bytes());
        for _ in 0..task.count {
            let Ok(arg) = task.args.blob() else {
                return EXIT_BAD_FRAME;
            };
            let tag_at = out.len();
            out.push(wire::TAG_OK);
            let at = wire::len_slot(&mut out);
            let r = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: the pool built this frame from `call::erase` in our ancestor, the
                // process this worker was forked from (through the zygote) without exec.
                unsafe { call::call(task.trampoline, task.function, arg, &mut out) }
            }));
            let fail = match r {
                Ok(Ok(())) => None,
                Ok(Err(reason)) => Some((wire::TAG_FAILED, reason)),
                Err(p) => Some((wire::TAG_PANICKED, panic_text(&*p).to_owned())),
            };
            if let Some((tag, text)) = fail {
                out.truncate(at + 4);
                out[tag_at] = tag;
                out.extend_from_slice(text.as_bytes());
            }
            if wire::patch_len(&mut out, at).is_err() {
                out.truncate(at + 4);
                out[tag_at] = wire::TAG_FAILED;
                out.extend_from_slice(b"the result exceeds the frame size cap");
                let _ = wire::patch_len(&mut out, at);
            }
        }
        if wire::finish(&mut out).is_err() {
            all_failed(
                &mut out,
                task.count,
                "the results exceed the frame size cap",
            );
        }
        if write_all(sock, &out).is_err() {
            return 0;
        }
        // Do not keep a huge argument's or result's memory for the rest of the worker's life.
        if start == buf.len() {
            buf.clear();
            start = 0;
            if buf.capacity() > 1 << 20 {
                buf = Vec::with_capacity(64 * 1024);
            }
        }
        if out.capacity() > 1 << 20 {
            out = Vec::with_capacity(4096);
        }
    }
}
