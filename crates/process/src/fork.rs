//! The zygote's birth, on the caller's side: the one fork of the caller's process (the
//! zygote's own loop is in `zygote.rs`).

use std::{
    io::{self, Write},
    os::fd::{AsRawFd, OwnedFd},
};

use nix::{
    sys::socket::{AddressFamily, SockFlag, SockType, socketpair},
    unistd::{ForkResult, Pid, fork},
};

use crate::{worker::Init, zygote};

/// The name of every pool's dispatcher thread.
pub(crate) const DISPATCHER_NAME: &str = "weft-process";

/// How many threads the calling process runs now (`/proc/self/task`), not counting the
/// dispatcher threads of other pools (they never touch what a zygote uses), if it can tell.
pub(crate) fn thread_count() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .map_or(true, |c| c.trim_end() != DISPATCHER_NAME)
            })
            .count(),
    )
}

/// Forks the zygote and returns its pid and the pool's end of the control socket.
///
/// Fork hazards, and what is done about each:
/// * Only the calling thread survives in the child; every lock another thread held stays held
///   forever. The child therefore runs no allocation and takes no lock until its loop, except
///   the two below.
/// * std's stdout and stderr locks: taken here around the fork, so no other thread holds them
///   at that instant, and released in the child by the same (copied) thread that owns them.
///   Buffered stdout is flushed first, so nothing is printed twice.
/// * Descriptors: the control socket is `CLOEXEC`, and the child closes every descriptor but
///   stdio and its own end (see `zygote::close_other_fds`).
pub(crate) fn fork_zygote(init: Option<&Init>) -> io::Result<(Pid, OwnedFd)> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut out = stdout.lock();
    let _ = out.flush();
    let err = stderr.lock();
    // SAFETY: the child runs only `zygote::zygote_main`, which never returns, allocates nothing
    // and takes no lock before its loop, and leaves through `_exit`; the only locks it releases
    // (stdout's and stderr's) are held by this very thread, copied into the child.
    let forked = unsafe { fork() };
    match forked {
        Ok(ForkResult::Child) => {
            drop(err);
            drop(out);
            zygote::zygote_main(theirs.as_raw_fd(), init)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(err);
            drop(out);
            drop(theirs);
            Ok((child, ours))
        }
        Err(e) => Err(e.into()),
    }
}
