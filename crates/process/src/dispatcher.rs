//! The parent's dispatcher thread: one `poll` over the worker sockets, the control socket and
//! the wake-up eventfd; it sends tasks, reads replies, completes futures, asks the zygote for
//! workers and hears from it which ones died.

use std::{
    collections::{HashMap, VecDeque},
    io::IoSliceMut,
    os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd},
    time::Duration,
};

use nix::{
    cmsg_space,
    errno::Errno,
    poll::{PollFd, PollFlags, PollTimeout, poll},
    sys::{
        eventfd::EventFd,
        socket::{ControlMessageOwned, MsgFlags, recv, recvmsg, send},
        wait::{WaitStatus, waitpid},
    },
    unistd::Pid,
};
use weft_futures::TaskError;
use weft_sync::{Arc, Deadline, Mutex, clock};

use crate::{
    control, place,
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
    pub(crate) fn new(schedule: Schedule<Request>, wake: EventFd) -> Self {
        Self {
            schedule: Mutex::new(schedule),
            wake,
        }
    }

    /// Wakes the dispatcher out of `poll` (never blocks: the eventfd is non-blocking, and a
    /// saturated counter already means "wake up").
    pub(crate) fn wake(&self) {
        let _ = self.wake.write(1);
    }
}

/// The dispatcher's view of one worker: its socket and both directions' buffers.
struct WorkerIo {
    /// `None` once closed (retired or being replaced); the worker's exit report is still due.
    fd: Option<OwnedFd>,
    pid: i32,
    /// Frames to send, oldest first, shared with the schedule (which keeps each until its task
    /// completes); `sent` bytes of the first one are already out.
    out: VecDeque<Arc<Vec<u8>>>,
    sent: usize,
    /// Received bytes: `inbuf[read_at..filled]` are not handled yet; the rest of `inbuf` is
    /// zeroed room for the next `recv`.
    inbuf: Vec<u8>,
    read_at: usize,
    filled: usize,
    /// When the latest reply came (or the worker was born): replies that follow each other
    /// quickly mark the worker's tasks as fast, and the schedule then sends it more ahead.
    last: clock::Instant,
    /// Where the dispatcher placed it (`crate::place`).
    seat: place::Seat,
}

impl WorkerIo {
    fn wants_out(&self) -> bool {
        !self.out.is_empty()
    }
}

/// What a polled descriptor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// The eventfd that submitters and `shutdown` write to wake the dispatcher.
    Wake,
    /// The control socket to the zygote.
    Control,
    /// Worker slot `w`'s socket.
    Worker(usize),
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
    /// Indexed by the schedule's worker slot.
    workers: Vec<Option<WorkerIo>>,
    /// Worker pid → slot, for the zygote's exit reports.
    pids: HashMap<i32, usize>,
    /// The `placed` frame (`crate::place`), shared by every placement.
    placed: Arc<Vec<u8>>,
    /// The pool runs an initializer in each worker: a worker is placed only after its first
    /// reply (`crate::place::Seat`).
    has_init: bool,
}

impl Dispatcher {
    pub(crate) fn new(shared: Arc<Shared>, ctl: OwnedFd, zygote: Pid, has_init: bool) -> Self {
        Self {
            shared,
            ctl: Some(ctl),
            zygote,
            zygote_reaped: false,
            workers: Vec::new(),
            pids: HashMap::new(),
            placed: Arc::new(wire::placed_frame()),
            has_init,
        }
    }

    /// Runs until the pool is shut down (or broken) and drained, then reaps the zygote.
    pub(crate) fn run(mut self) {
        let mut drain_deadline: Option<Deadline> = None;
        loop {
            let (spawns, sends, signal, quiescent) = {
                let mut b = self.shared.schedule.lock();
                let spawns = b.take_spawns();
                let mut sends = Vec::new();
                // A reference count, not a copy: the frame is written out after the lock.
                while let Some((w, task)) = b.next() {
                    let frame = Arc::clone(&task.frame);
                    sends.push((w, frame, b.fresh(w)));
                }
                (spawns, sends, b.signal.take(), b.is_quiescent())
            };
            for w in spawns {
                self.send_ctl(control::Msg::new(control::SPAWN, w as u32, 0, 0));
            }
            for (w, frame, fresh) in sends {
                if fresh
                    && self.place(w)
                    && let Some(Some(io)) = self.workers.get_mut(w)
                {
                    // Written out with the task, below.
                    io.out.push_back(Arc::clone(&self.placed));
                }
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
                drain_deadline.get_or_insert_with(|| Deadline::after(DRAIN_GRACE));
                if self.pids.is_empty() || self.ctl.is_none() {
                    break;
                }
            }
            let timeout = match drain_deadline {
                Some(d) => {
                    let left = d.remaining().unwrap_or(DRAIN_GRACE);
                    if left.is_zero() {
                        break;
                    }
                    PollTimeout::try_from(left.max(Duration::from_millis(1)))
                        .unwrap_or(PollTimeout::MAX)
                }
                None => {
                    let mut b = self.shared.schedule.lock();
                    if b.can_dispatch() || b.owes_spawns() || b.signal.is_some() {
                        PollTimeout::ZERO
                    } else {
                        b.parked = true;
                        PollTimeout::NONE
                    }
                }
            };
            self.poll_once(timeout);
        }
        self.teardown();
    }

    /// One `poll` over the wake-up eventfd, the control socket and every open worker socket,
    /// then the handling of whatever is ready.
    fn poll_once(&mut self, timeout: PollTimeout) {
        let ready: Vec<(Source, PollFlags)> = {
            let mut sources = Vec::with_capacity(self.workers.len() + 2);
            let mut fds = Vec::with_capacity(self.workers.len() + 2);
            sources.push(Source::Wake);
            fds.push(PollFd::new(self.shared.wake.as_fd(), PollFlags::POLLIN));
            if let Some(c) = &self.ctl {
                sources.push(Source::Control);
                fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
            }
            for (w, io) in self.workers.iter().enumerate() {
                let Some(io) = io else { continue };
                let Some(fd) = &io.fd else { continue };
                let mut events = PollFlags::POLLIN;
                if io.wants_out() {
                    events |= PollFlags::POLLOUT;
                }
                sources.push(Source::Worker(w));
                fds.push(PollFd::new(fd.as_fd(), events));
            }
            let n = poll(&mut fds, timeout);
            if timeout != PollTimeout::ZERO {
                self.shared.schedule.lock().parked = false;
            }
            if !matches!(n, Ok(n) if n > 0) {
                // Nothing ready, or EINTR: the caller's loop comes back.
                return;
            }
            sources
                .into_iter()
                .zip(&fds)
                .filter_map(|(src, fd)| fd.revents().filter(|r| !r.is_empty()).map(|r| (src, r)))
                .collect()
        };
        for (source, revents) in ready {
            match source {
                Source::Wake => {
                    let _ = self.shared.wake.read();
                }
                Source::Control => self.read_ctl(),
                Source::Worker(w) => {
                    if revents.contains(PollFlags::POLLOUT) {
                        self.flush(w);
                    }
                    if !(revents - PollFlags::POLLOUT).is_empty() {
                        self.read_worker(w);
                    }
                }
            }
        }
    }

    fn send_ctl(&mut self, m: control::Msg) {
        let Some(c) = &self.ctl else { return };
        let b = m.to_bytes();
        // A failed send means the zygote is gone: its end-of-file breaks the pool.
        while let Err(Errno::EINTR) = send(c.as_raw_fd(), &b, MsgFlags::MSG_NOSIGNAL) {}
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
                Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => continue,
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
            out: VecDeque::new(),
            sent: 0,
            inbuf: Vec::new(),
            read_at: 0,
            filled: 0,
            last: clock::Instant::now(),
            seat: place::Seat::new(!self.has_init),
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
                Err(Errno::EINTR) => continue,
                Err(e) => return format!("could not be waited for: {e}"),
            }
        }
    }

    /// Pins worker `w`, idle and about to be sent a task, to a CPU (`crate::place`); `true` if
    /// it was pinned (a `placed` frame must then precede the task, so that the worker takes back
    /// its own mask).
    fn place(&mut self, w: usize) -> bool {
        let live = self.workers.iter().flatten().filter(|io| io.fd.is_some());
        if live.count() < 2 {
            // One worker: nothing to place it away from.
            return false;
        }
        // Where the other live workers are busy (a dead one, never to reply, counts nowhere).
        let others: Vec<Option<usize>> = (self.workers.iter().enumerate())
            .filter(|&(v, _)| v != w)
            .map(|(_, io)| io.as_ref().filter(|io| io.fd.is_some()))
            .map(|io| io.and_then(|io| io.seat.busy_on()))
            .collect();
        let Some(Some(io)) = self.workers.get_mut(w) else {
            return false;
        };
        // Only a worker whose socket is open. One that died may be reaped before its
        // end-of-file is read, its pid free again; Linux hands pids out in turn, so another
        // process gets it only after the whole pid space has wrapped around in that moment.
        io.fd.is_some() && place::pin(&mut io.seat, io.pid, others.iter().copied())
    }

    fn queue_frame(&mut self, w: usize, frame: Arc<Vec<u8>>) {
        let Some(Some(io)) = self.workers.get_mut(w) else {
            return;
        };
        io.out.push_back(frame);
        self.flush(w);
    }

    /// Writes as much of `w`'s pending frames as the socket takes now.
    fn flush(&mut self, w: usize) {
        let Some(Some(io)) = self.workers.get_mut(w) else {
            return;
        };
        let Some(fd) = &io.fd else { return };
        while let Some(frame) = io.out.front() {
            let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
            match send(fd.as_raw_fd(), &frame[io.sent..], flags) {
                Ok(n) => {
                    io.sent += n;
                    if io.sent == frame.len() {
                        io.out.pop_front();
                        io.sent = 0;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    // The worker is gone; its exit report fails its task.
                    io.out.clear();
                    io.sent = 0;
                    return;
                }
            }
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
            let pending = &io.inbuf[io.read_at..io.filled];
            let want = match pending.get(..wire::HEADER).map(wire::parse_header) {
                Some(Ok(len)) => (wire::HEADER + len).saturating_sub(pending.len()).max(4096),
                _ => 64 * 1024,
            };
            if io.inbuf.len() - io.filled < want {
                // Zeroed once: the room is reused for every later read.
                io.inbuf.resize(io.filled + want, 0);
            }
            match recv(raw, &mut io.inbuf[io.filled..], MsgFlags::MSG_DONTWAIT) {
                Ok(0) => {}
                Ok(n) => {
                    io.filled += n;
                    self.handle_frames(w);
                    continue;
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                Err(_) => {}
            }
            // End-of-file or error: the worker is gone. Stop listening; its exit report (which
            // always follows, from the zygote) fails the task it held, naming the exit status or
            // signal, even if it died halfway through a reply.
            if let Some(Some(io)) = self.workers.get_mut(w) {
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
            let avail = io.filled - io.read_at;
            if avail < wire::HEADER {
                break;
            }
            let pid = io.pid;
            let header = &io.inbuf[io.read_at..io.read_at + wire::HEADER];
            let len = match wire::parse_header(header) {
                Ok(len) => len,
                Err(e) => {
                    self.protocol_error(w, pid, e.to_string());
                    return;
                }
            };
            if avail < wire::HEADER + len {
                break;
            }
            let start = io.read_at + wire::HEADER;
            io.read_at = start + len;
            // Borrow the buffer out of the worker's entry while the frame is handled (which
            // needs `self`); it goes back below.
            let body = std::mem::take(&mut io.inbuf);
            let parsed = wire::parse_from_worker(&body[start..start + len]);
            match parsed {
                Ok(FromWorker::Reply(outcomes)) => {
                    let fast = !io.last.elapsed_at_least(FAST_TASK);
                    io.last = clock::Instant::now();
                    io.seat.replied();
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
            if io.read_at == io.filled {
                io.read_at = 0;
                io.filled = 0;
                // Do not keep a huge reply's memory for the rest of the worker's life.
                if io.inbuf.len() > 1 << 20 {
                    io.inbuf = Vec::new();
                }
            } else if io.read_at > 0 {
                io.inbuf.copy_within(io.read_at..io.filled, 0);
                io.filled -= io.read_at;
                io.read_at = 0;
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
            io.read_at = 0;
            io.filled = 0;
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
