//! The control channel between the pool and its zygote: fixed 16-byte messages over an
//! `AF_UNIX` `SOCK_SEQPACKET` socket (message boundaries kept, so a descriptor passed with
//! `SCM_RIGHTS` always arrives with its own message).
//!
//! ```text
//! op u32 LE | a u32 LE | b i32 LE | c i32 LE
//! pool → zygote   SPAWN(a = token)            fork a worker for this slot
//!                 SIGNAL(b = pid, c = signal) signal a worker, if it is still a live child
//! zygote → pool   SPAWNED(a = token, b = pid) + the pool's end of the worker socket (SCM_RIGHTS)
//!                 SPAWN_FAILED(a = token, c = errno)
//!                 EXITED(b = pid, c = raw wait status)
//! ```

pub(crate) const SPAWN: u32 = 1;
pub(crate) const SIGNAL: u32 = 2;
pub(crate) const SPAWNED: u32 = 11;
pub(crate) const SPAWN_FAILED: u32 = 12;
pub(crate) const EXITED: u32 = 13;

/// Size of every control message.
pub(crate) const LEN: usize = 16;

/// One control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Msg {
    pub(crate) op: u32,
    pub(crate) a: u32,
    pub(crate) b: i32,
    pub(crate) c: i32,
}

impl Msg {
    pub(crate) fn new(op: u32, a: u32, b: i32, c: i32) -> Self {
        Self { op, a, b, c }
    }

    pub(crate) fn to_bytes(self) -> [u8; LEN] {
        let mut o = [0u8; LEN];
        o[0..4].copy_from_slice(&self.op.to_le_bytes());
        o[4..8].copy_from_slice(&self.a.to_le_bytes());
        o[8..12].copy_from_slice(&self.b.to_le_bytes());
        o[12..16].copy_from_slice(&self.c.to_le_bytes());
        o
    }

    pub(crate) fn from_bytes(b: &[u8; LEN]) -> Self {
        let w = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        Self {
            op: u32::from_le_bytes(w(0)),
            a: u32::from_le_bytes(w(4)),
            b: i32::from_le_bytes(w(8)),
            c: i32::from_le_bytes(w(12)),
        }
    }
}

/// Describes a raw wait status the way the fault messages name it: "exited with status 3",
/// "killed by signal 9 (SIGKILL)".
pub(crate) fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        match nix::sys::signal::Signal::try_from(sig) {
            Ok(s) => format!("killed by signal {sig} ({})", s.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        }
    } else {
        format!("ended with wait status {status:#x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_status() {
        let m = Msg::new(SPAWNED, 7, 1234, -5);
        assert_eq!(Msg::from_bytes(&m.to_bytes()), m);
        assert_eq!(describe_status(3 << 8), "exited with status 3");
        assert_eq!(describe_status(9), "killed by signal 9 (SIGKILL)");
    }
}
