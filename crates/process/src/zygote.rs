//! The zygote: the single-threaded helper process that forks, signals and reaps every worker
//! (its loop runs in the process `fork::fork_zygote` made).
//!
//! Raw `libc` only, on stack buffers, until the loop runs: the zygote is forked from a process
//! that may have other threads, whose locks it inherits held, so the path from the fork to the
//! loop must be async-signal-safe (nix's wrappers may allocate, e.g. for error values or
//! `CString`s). It leaves through `_exit`, never `std::process::exit`: the caller's `atexit`
//! handlers and destructors belong to the caller.

use std::{
    os::fd::RawFd,
    panic::{AssertUnwindSafe, catch_unwind},
};

use crate::{
    control, place,
    worker::{self, EXIT_INTERNAL, Init, errno},
};

/// The zygote's entry point, right after the caller's fork. Never returns.
pub(crate) fn zygote_main(ctl: RawFd, init: Option<&Init>) -> ! {
    let code = match catch_unwind(AssertUnwindSafe(|| zygote_loop(ctl, init))) {
        Ok(()) => 0,
        Err(_) => EXIT_INTERNAL,
    };
    // SAFETY: `_exit` ends the process at once; nothing of the caller's runs in this fork.
    unsafe { libc::_exit(code) }
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
fn send_msg(ctl: RawFd, m: control::Msg, fd: Option<RawFd>) -> bool {
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
                if !send_msg(ctl, control::Msg::new(control::EXITED, 0, pid, st), None) {
                    die(&live);
                }
            }
        }
        if fds[0].revents == 0 {
            continue;
        }
        let mut buf = [0u8; control::LEN];
        // SAFETY: receiving into a stack buffer of its size.
        let got = unsafe { libc::recv(ctl, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if got < 0 && matches!(errno(), libc::EINTR | libc::EAGAIN) {
            continue;
        }
        if got != control::LEN as isize {
            // End-of-file (the pool closed its end, or its process died) or garbage.
            die(&live);
        }
        let m = control::Msg::from_bytes(&buf);
        match m.op {
            control::SPAWN => {
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
                    if !send_msg(
                        ctl,
                        control::Msg::new(control::SPAWN_FAILED, m.a, 0, errno()),
                        None,
                    ) {
                        die(&live);
                    }
                    continue;
                }
                // The new worker's mask is ours: read before the fork, it is known before the
                // dispatcher could place the worker (crate::place).
                let home = place::Home::read();
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
                    worker::worker_main(sv[1], init, home);
                }
                let e = errno();
                // SAFETY: closing our copy of the worker's end.
                unsafe { libc::close(sv[1]) };
                if pid < 0 {
                    // SAFETY: closing the pool's end, which will not be sent.
                    unsafe { libc::close(sv[0]) };
                    if !send_msg(
                        ctl,
                        control::Msg::new(control::SPAWN_FAILED, m.a, 0, e),
                        None,
                    ) {
                        die(&live);
                    }
                    continue;
                }
                live.push(pid);
                let ok = send_msg(
                    ctl,
                    control::Msg::new(control::SPAWNED, m.a, pid, 0),
                    Some(sv[0]),
                );
                // SAFETY: the descriptor now travels in the message (or is not wanted).
                unsafe { libc::close(sv[0]) };
                if !ok {
                    die(&live);
                }
            }
            control::SIGNAL => {
                if live.contains(&m.b) {
                    // SAFETY: `m.b` is a live, unreaped child, so the pid is still its own.
                    unsafe { libc::kill(m.b, m.c) };
                }
            }
            _ => die(&live),
        }
    }
}
