//! A worker: the loop that runs tasks in a process the zygote forked, one frame in, one frame
//! out, over its own socket.
//!
//! Raw `libc` on the socket: the worker is forked from the zygote (single-threaded, so no lock
//! is held), but the path from the fork to the loop stays async-signal-safe all the same, and
//! the loop's reads and writes are the plainest system calls there are. It leaves through
//! `_exit`, flushing stdout first.

use std::{
    any::Any,
    io::Write,
    os::fd::RawFd,
    panic::{AssertUnwindSafe, catch_unwind},
};

use crate::{place, trampoline, wire};

/// The initializer a worker runs once, shared by reference from the caller's memory image.
pub(crate) type Init = dyn Fn() + Send + Sync;

/// Exit status of a worker whose initializer panicked.
pub(crate) const EXIT_INIT_FAILED: i32 = 3;
/// Exit status of a worker that received a frame it could not read.
pub(crate) const EXIT_BAD_FRAME: i32 = 70;
/// Exit status of a forked process whose own code panicked (a weft bug, never user code).
pub(crate) const EXIT_INTERNAL: i32 = 101;

/// The `errno` of the last failed system call (raw `libc` calls only; nix returns `Errno`).
pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
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
/// `home`: the mask it was forked with (crate::place).
pub(crate) fn worker_main(sock: RawFd, init: Option<&Init>, home: place::Home) -> ! {
    let code =
        catch_unwind(AssertUnwindSafe(|| worker_loop(sock, init, home))).unwrap_or(EXIT_INTERNAL);
    // Rust's stdout is line-buffered: keep what the tasks printed without a newline.
    let _ = std::io::stdout().flush();
    // SAFETY: `_exit` ends the process at once; nothing of the caller's runs in this fork.
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

fn worker_loop(sock: RawFd, init: Option<&Init>, mut home: place::Home) -> i32 {
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
    // The mask to take back after each placement (crate::place): read again after an
    // initializer, which may have set one of its own (the dispatcher does not place this worker
    // before its first reply, so this is not a placement's pin).
    if init.is_some() {
        home = place::Home::read();
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
        if body == [wire::KIND_PLACED] {
            home.restore();
            continue;
        }
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
                // SAFETY: the pool built this frame from `trampoline::erase` in our ancestor, the
                // process this worker was forked from (through the zygote) without exec.
                unsafe { trampoline::call(task.trampoline, task.function, arg, &mut out) }
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
