//! The parent's dispatcher thread: one `poll` over the worker sockets, the control socket and
//! the wake-up eventfd; it sends tasks, reads replies, completes futures, asks the zygote for
//! workers and hears from it which ones died.

use std::{
    collections::HashMap,
    io::IoSliceMut,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    time::{Duration, Instant},
};

use nix::{
    cmsg_space,
    sys::{
        eventfd::EventFd,
        socket::{ControlMessageOwned, MsgFlags, recvmsg},
        wait::{WaitStatus, waitpid},
    },
    unistd::Pid,
};
use weft_futures::TaskError;
use weft_sync::{Arc, Mutex};

use crate::{
    control,
    request::Request,
    schedule::{Phase, Schedule},
    wire::{self, FromWorker},
};

/// What the submitters and the dispatcher share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) schedule: Mutex<Schedule<Request>>,
    wake: EventFd,
}

impl Shared {
    pub(crate) fn new(book: Schedule<Request>, wake: EventFd) -> Self {
        Self {
            schedule: Mutex::new(book),
            wake,
        }
    }

    /// Wakes the dispatcher out of `poll` (never blocks: the eventfd is non-blocking, and a
    /// saturated counter already means "wake up").
    pub(crate) fn wake(&self) {
        let _ = self.wake.write(1);
    }
}

/// The dispatcher's view of one worker.
struct WorkerIo {
    /// `None` once closed (retired or being replaced); the worker's exit report is still due.
    fd: Option<OwnedFd>,
    pid: i32,
    out: Vec<u8>,
    out_at: usize,
    inbuf: Vec<u8>,
    in_at: usize,
    /// Tasks sent and not yet answered, and when the latest answer (or the first send to an
    /// idle worker) happened: replies that follow each other quickly mark the worker's tasks
    /// as fast, and the book then sends it more ahead.
    inflight: usize,
    last: Instant,
}

/// A reply that follows the previous one (or its task's send) within this is "fast".
const FAST_TASK: Duration = Duration::from_micros(200);

/// How long a shutdown waits for idle workers to exit on their own before the zygote kills them.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

pub(crate) struct Dispatcher {
    shared: Arc<Shared>,
    ctl: Option<OwnedFd>,
    zygote: Pid,
    zygote_reaped: bool,
    workers: Vec<Option<WorkerIo>>,
    pids: HashMap<i32, usize>,
    pollfds: Vec<libc::pollfd>,
    owners: Vec<usize>,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

impl Dispatcher {
    pub(crate) fn new(shared: Arc<Shared>, ctl: OwnedFd, zygote: Pid) -> Self {
        Self {
            shared,
            ctl: Some(ctl),
            zygote,
            zygote_reaped: false,
            workers: Vec::new(),
            pids: HashMap::new(),
            pollfds: Vec::new(),
            owners: Vec::new(),
        }
    }

    /// Runs until the pool is shut down (or broken) and drained, then reaps the zygote.
    pub(crate) fn run(mut self) {
        let mut drain_deadline: Option<Instant> = None;
        loop {
            let (spawns, sends, signal, quiescent) = {
                let mut b = self.shared.schedule.lock();
                let spawns = b.take_spawns();
                let mut sends = Vec::new();
                while let Some((w, task)) = b.next() {
                    sends.push((w, task.frame.clone()));
                }
                (spawns, sends, b.signal.take(), b.is_quiescent())
            };
            for w in spawns {
                self.send_ctl(control::Msg::new(control::SPAWN, w as u32, 0, 0));
            }
            for (w, frame) in sends {
                self.queue_frame(w, frame);
            }
            if let Some(sig) = signal {
                let pids: Vec<i32> = self.pids.keys().copied().collect();
                for pid in pids {
                    self.send_ctl(control::Msg::new(control::SIGNAL, 0, pid, sig));
                }
            }
            if quiescent {
                // Close every worker socket (again each round: a worker spawned late is closed
                // too): each idle worker reads end-of-file and exits.
                for io in self.workers.iter_mut().flatten() {
                    io.fd = None;
                }
                drain_deadline.get_or_insert_with(|| Instant::now() + DRAIN_GRACE);
                if self.pids.is_empty() || self.ctl.is_none() {
                    break;
                }
            }
            let timeout = match drain_deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    left.as_millis().max(1) as i32
                }
                None => {
                    let mut b = self.shared.schedule.lock();
                    if b.can_dispatch() || b.owes_spawns() || b.signal.is_some() {
                        0
                    } else {
                        b.parked = true;
                        -1
                    }
                }
            };
            self.poll_once(timeout);
        }
        self.teardown();
    }

    fn build_pollset(&mut self) {
        self.pollfds.clear();
        self.owners.clear();
        self.pollfds.push(libc::pollfd {
            fd: self.shared.wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        self.owners.push(usize::MAX);
        if let Some(c) = &self.ctl {
            self.pollfds.push(libc::pollfd {
                fd: c.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            self.owners.push(usize::MAX - 1);
        }
        for (w, io) in self.workers.iter().enumerate() {
            let Some(io) = io else { continue };
            let Some(fd) = &io.fd else { continue };
            let mut events = libc::POLLIN;
            if io.out_at < io.out.len() {
                events |= libc::POLLOUT;
            }
            self.pollfds.push(libc::pollfd {
                fd: fd.as_raw_fd(),
                events,
                revents: 0,
            });
            self.owners.push(w);
        }
    }

    fn poll_once(&mut self, timeout: i32) {
        self.build_pollset();
        // SAFETY: `pollfds` is a live vector of `len` entries.
        let n = unsafe {
            libc::poll(
                self.pollfds.as_mut_ptr(),
                self.pollfds.len() as libc::nfds_t,
                timeout,
            )
        };
        if timeout != 0 {
            self.shared.schedule.lock().parked = false;
        }
        if n <= 0 {
            return;
        }
        for i in 0..self.pollfds.len() {
            let revents = self.pollfds[i].revents;
            if revents == 0 {
                continue;
            }
            match self.owners[i] {
                usize::MAX => {
                    let _ = self.shared.wake.read();
                }
                o if o == usize::MAX - 1 => self.read_ctl(),
                w => {
                    if revents & libc::POLLOUT != 0 {
                        self.flush(w);
                    }
                    if revents & !libc::POLLOUT != 0 {
                        self.read_worker(w);
                    }
                }
            }
        }
    }

    fn send_ctl(&mut self, m: control::Msg) {
        let Some(c) = &self.ctl else { return };
        let b = m.to_bytes();
        loop {
            // SAFETY: sending a stack buffer on our control socket.
            let r = unsafe {
                libc::send(
                    c.as_raw_fd(),
                    b.as_ptr().cast(),
                    b.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if r >= 0 || errno() != libc::EINTR {
                // A failed send means the zygote is gone: its end-of-file breaks the pool.
                return;
            }
        }
    }

    fn read_ctl(&mut self) {
        loop {
            let Some(c) = &self.ctl else { return };
            let raw = c.as_raw_fd();
            let mut buf = [0u8; control::LEN];
            let mut space = cmsg_space!(RawFd);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let r = recvmsg::<()>(
                raw,
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let (len, fd) = match r {
                Ok(msg) => {
                    let mut fd = None;
                    if let Ok(cmsgs) = msg.cmsgs() {
                        for c in cmsgs {
                            if let ControlMessageOwned::ScmRights(fds) = c {
                                for raw in fds {
                                    // SAFETY: SCM_RIGHTS just installed this descriptor in our
                                    // table; we are its only owner.
                                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                                    fd.get_or_insert(owned);
                                }
                            }
                        }
                    }
                    (msg.bytes, fd)
                }
                Err(nix::errno::Errno::EAGAIN) => return,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => (0, None),
            };
            if len != control::LEN {
                self.zygote_died();
                return;
            }
            let m = control::Msg::from_bytes(&buf);
            match m.op {
                control::SPAWNED => self.spawned(m.a as usize, m.b, fd),
                control::EXITED => self.exited(m.b, m.c),
                control::SPAWN_FAILED => {
                    let e = std::io::Error::from_raw_os_error(m.c);
                    let jobs = self
                        .shared
                        .schedule
                        .lock()
                        .break_pool(format!("the zygote could not fork a worker: {e}"));
                    fail_all(jobs, &self.shared);
                }
                _ => {
                    self.zygote_died();
                    return;
                }
            }
        }
    }

    fn spawned(&mut self, w: usize, pid: i32, fd: Option<OwnedFd>) {
        let wanted = self.shared.schedule.lock().spawned(w);
        self.pids.insert(pid, w);
        let fd = fd.filter(|_| wanted).and_then(|fd| {
            nix::fcntl::fcntl(
                &fd,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            )
            .ok()
            .map(|_| fd)
        });
        if self.workers.len() <= w {
            self.workers.resize_with(w + 1, || None);
        }
        self.workers[w] = Some(WorkerIo {
            fd,
            pid,
            out: Vec::new(),
            out_at: 0,
            inbuf: Vec::new(),
            in_at: 0,
            inflight: 0,
            last: Instant::now(),
        });
        if wanted && self.workers[w].as_ref().is_some_and(|io| io.fd.is_none()) {
            // Its socket did not arrive usable (out of descriptors, say): never send it work;
            // it is killed and replaced like a worker with a broken stream.
            self.protocol_error(w, pid, "its socket could not be received".into());
        } else if !wanted {
            self.send_ctl(control::Msg::new(control::SIGNAL, 0, pid, libc::SIGKILL));
        }
    }

    fn exited(&mut self, pid: i32, status: i32) {
        let Some(w) = self.pids.remove(&pid) else {
            return;
        };
        // Read what it wrote before dying: a last reply may sit in the socket.
        self.read_worker(w);
        self.workers[w] = None;
        let how = control::describe_status(status);
        let (jobs, broken) = {
            let mut b = self.shared.schedule.lock();
            let jobs = b.died(w, &how);
            let broken = match b.phase() {
                Phase::Broken(r) => Some(r.clone()),
                _ => None,
            };
            (jobs, broken)
        };
        let reason = broken
            .unwrap_or_else(|| format!("the worker process {pid} {how} while running the task"));
        for job in jobs {
            job.sink.fail(TaskError::BrokenPool(reason.clone()));
        }
    }

    fn zygote_died(&mut self) {
        self.ctl = None;
        let status = self.reap_zygote();
        let jobs = self
            .shared
            .schedule
            .lock()
            .break_pool(format!("the zygote process {status}"));
        fail_all(jobs, &self.shared);
        // Its workers die with it (PR_SET_PDEATHSIG); no exit report will come.
        self.pids.clear();
        for io in self.workers.iter_mut() {
            *io = None;
        }
    }

    fn reap_zygote(&mut self) -> String {
        if self.zygote_reaped {
            return "was already reaped".into();
        }
        self.zygote_reaped = true;
        loop {
            match waitpid(self.zygote, None) {
                Ok(WaitStatus::Exited(_, code)) => return format!("exited with status {code}"),
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    return format!("was killed by signal {} ({})", sig as i32, sig.as_str());
                }
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return format!("could not be waited for: {e}"),
            }
        }
    }

    fn queue_frame(&mut self, w: usize, frame: Vec<u8>) {
        let Some(Some(io)) = self.workers.get_mut(w) else {
            return;
        };
        if io.out_at == io.out.len() {
            io.out = frame;
            io.out_at = 0;
        } else {
            io.out.extend_from_slice(&frame);
        }
        self.flush(w);
    }

    /// Writes as much of `w`'s pending output as the socket takes now.
    fn flush(&mut self, w: usize) {
        let Some(Some(io)) = self.workers.get_mut(w) else {
            return;
        };
        let Some(fd) = &io.fd else { return };
        while io.out_at < io.out.len() {
            let rest = &io.out[io.out_at..];
            // SAFETY: sending from a live slice; never raises SIGPIPE.
            let n = unsafe {
                libc::send(
                    fd.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                io.out_at += n as usize;
            } else if n < 0 && errno() == libc::EINTR {
                continue;
            } else {
                if n < 0 && errno() != libc::EAGAIN {
                    // The worker is gone; its exit report fails its task.
                    io.out.clear();
                    io.out_at = 0;
                }
                return;
            }
        }
        io.out.clear();
        io.out_at = 0;
        if io.out.capacity() > 1 << 20 {
            io.out = Vec::new();
        }
    }

    /// Reads what `w` sent and handles every complete frame.
    fn read_worker(&mut self, w: usize) {
        loop {
            let Some(Some(io)) = self.workers.get_mut(w) else {
                return;
            };
            let Some(fd) = &io.fd else { return };
            let raw = fd.as_raw_fd();
            // Read straight to the end of a frame whose length is known, else 64 KiB at a time.
            let avail = io.inbuf.len() - io.in_at;
            let want = match io
                .inbuf
                .get(io.in_at..io.in_at + wire::HEADER)
                .map(wire::parse_header)
            {
                Some(Ok(len)) => (wire::HEADER + len).saturating_sub(avail).max(4096),
                _ => 64 * 1024,
            };
            io.inbuf.reserve(want);
            let spare = io.inbuf.spare_capacity_mut();
            // SAFETY: reading into the vector's spare capacity; `set_len` below covers exactly
            // the bytes the kernel wrote.
            let n = unsafe { libc::read(raw, spare.as_mut_ptr().cast(), spare.len()) };
            if n > 0 {
                // SAFETY: the kernel initialized `n` bytes of the spare capacity.
                unsafe { io.inbuf.set_len(io.inbuf.len() + n as usize) };
                self.handle_frames(w);
                continue;
            }
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            if n == 0 || errno() != libc::EAGAIN {
                // End-of-file or error: the worker is gone. Stop listening; its exit report
                // (which always follows, from the zygote) fails the task it held, naming the
                // exit status or signal, even if it died halfway through a reply.
                io.fd = None;
            }
            return;
        }
    }

    fn handle_frames(&mut self, w: usize) {
        loop {
            let Some(Some(io)) = self.workers.get_mut(w) else {
                return;
            };
            let avail = io.inbuf.len() - io.in_at;
            if avail < wire::HEADER {
                break;
            }
            let pid = io.pid;
            let len = match wire::parse_header(&io.inbuf[io.in_at..io.in_at + wire::HEADER]) {
                Ok(len) => len,
                Err(e) => {
                    self.protocol_error(w, pid, e.to_string());
                    return;
                }
            };
            if avail < wire::HEADER + len {
                break;
            }
            let start = io.in_at + wire::HEADER;
            io.in_at = start + len;
            let body = std::mem::take(&mut io.inbuf);
            let parsed = wire::parse_from_worker(&body[start..start + len]);
            match parsed {
                Ok(FromWorker::Reply(outcomes)) => {
                    let now = Instant::now();
                    let fast = now.duration_since(io.last) < FAST_TASK;
                    io.last = now;
                    io.inflight = io.inflight.saturating_sub(1);
                    let done = self.shared.schedule.lock().finished(w, fast);
                    match done {
                        Some((job, retire)) => {
                            job.sink.finish(outcomes);
                            if retire && let Some(Some(io)) = self.workers.get_mut(w) {
                                io.fd = None;
                            }
                        }
                        None => {
                            self.restore(w, body);
                            self.protocol_error(w, pid, "a reply to no task".into());
                            return;
                        }
                    }
                }
                Ok(FromWorker::InitFailed(msg)) => {
                    let jobs = self.shared.schedule.lock().init_failed(w, msg);
                    fail_all(jobs, &self.shared);
                }
                Err(e) => {
                    self.restore(w, body);
                    self.protocol_error(w, pid, e.to_string());
                    return;
                }
            }
            self.restore(w, body);
        }
        if let Some(Some(io)) = self.workers.get_mut(w) {
            if io.in_at == io.inbuf.len() {
                io.inbuf.clear();
                io.in_at = 0;
                if io.inbuf.capacity() > 1 << 20 {
                    io.inbuf = Vec::new();
                }
            } else if io.in_at > 0 {
                io.inbuf.drain(..io.in_at);
                io.in_at = 0;
            }
        }
    }

    fn restore(&mut self, w: usize, buf: Vec<u8>) {
        if let Some(Some(io)) = self.workers.get_mut(w) {
            io.inbuf = buf;
        }
    }

    /// `w` sent something unreadable: fail its task, stop talking to it, have it killed.
    fn protocol_error(&mut self, w: usize, pid: i32, why: String) {
        let jobs = self.shared.schedule.lock().retire(w);
        for job in jobs {
            job.sink
                .fail(TaskError::Failed(format!("worker process {pid}: {why}")));
        }
        if let Some(Some(io)) = self.workers.get_mut(w) {
            io.fd = None;
            io.inbuf = Vec::new();
            io.in_at = 0;
        }
        self.send_ctl(control::Msg::new(control::SIGNAL, 0, pid, libc::SIGKILL));
    }

    fn teardown(&mut self) {
        for io in self.workers.iter_mut() {
            *io = None;
        }
        // End-of-file on its control socket: the zygote kills and reaps whatever worker is
        // left, then exits.
        self.ctl = None;
        let _ = self.reap_zygote();
    }
}

fn fail_all(jobs: Vec<Request>, shared: &Shared) {
    let reason = match shared.schedule.lock().phase() {
        Phase::Broken(r) => r.clone(),
        _ => "the pool was shut down".into(),
    };
    for job in jobs {
        job.sink.fail(TaskError::BrokenPool(reason.clone()));
    }
}
