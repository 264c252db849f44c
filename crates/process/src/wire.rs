//! The frames that cross a worker's socket.
//!
//! Every frame is an 8-byte header, then a body:
//!
//! ```text
//! header   magic u32 LE (0x5746_5001: "WFP" + version 1) | body length u32 LE (≤ MAX_FRAME)
//! task     kind u8 = 1 | trampoline u64 | function u64 | count u32 | count × (len u32 | postcard argument)
//! reply    kind u8 = 2 | count u32 | count × (tag u8 | len u32 | bytes)
//!          tag 0: postcard result; 1: panic message (UTF-8); 2: failure reason (UTF-8)
//! init     kind u8 = 3 | len u32 | panic message of a failed initializer (UTF-8)
//! placed   kind u8 = 4 (to a worker, before a task: the dispatcher pinned it; restore your mask)
//! ```
//!
//! The envelope is fixed binary (no allocation to read it, no schema to agree on); the values
//! inside are postcard. Both ends run the very same binary image (the workers are forks of the
//! caller), so there is no version skew to negotiate: the version byte in the magic word only
//! makes a stray or corrupted stream fail loudly.

use std::fmt;

/// The magic/version word that opens every frame.
pub(crate) const MAGIC: u32 = 0x5746_5001;
/// Header length in bytes.
pub(crate) const HEADER: usize = 8;
/// The largest body a frame may carry (1 GiB).
pub(crate) const MAX_FRAME: usize = 1 << 30;

pub(crate) const KIND_TASK: u8 = 1;
pub(crate) const KIND_REPLY: u8 = 2;
pub(crate) const KIND_INIT_FAILED: u8 = 3;
pub(crate) const KIND_PLACED: u8 = 4;

/// The whole `placed` frame (header and one-byte body).
pub(crate) fn placed_frame() -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + 1);
    begin(&mut out, KIND_PLACED);
    let _ = finish(&mut out);
    out
}

pub(crate) const TAG_OK: u8 = 0;
pub(crate) const TAG_PANICKED: u8 = 1;
pub(crate) const TAG_FAILED: u8 = 2;

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The magic/version word is wrong.
    BadMagic(u32),
    /// The declared length exceeds [`MAX_FRAME`].
    TooLarge(usize),
    /// The body ends early or its fields do not add up.
    Malformed(&'static str),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic(m) => write!(f, "malformed frame: bad magic word {m:#010x}"),
            Self::TooLarge(n) => {
                write!(
                    f,
                    "malformed frame: length {n} exceeds the cap of {MAX_FRAME} bytes"
                )
            }
            Self::Malformed(what) => write!(f, "malformed frame: {what}"),
        }
    }
}

/// Reads a header: the body length, or why the frame is bad.
pub(crate) fn parse_header(h: &[u8]) -> Result<usize, FrameError> {
    let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    if magic != MAGIC {
        return Err(FrameError::BadMagic(magic));
    }
    let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    Ok(len)
}

/// Starts a frame in `out` (cleared): a header with a placeholder length, then `kind`.
pub(crate) fn begin(out: &mut Vec<u8>, kind: u8) {
    out.clear();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.push(kind);
}

/// Writes the body length into the header of a frame started with [`begin`].
///
/// Errors when the body exceeds [`MAX_FRAME`].
pub(crate) fn finish(out: &mut [u8]) -> Result<(), FrameError> {
    let len = out.len() - HEADER;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    out[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(())
}

/// Reserves a `u32` length slot and returns its position (for [`patch_len`]).
pub(crate) fn len_slot(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    at
}

/// Fills the length slot at `at` with the number of bytes written after it.
pub(crate) fn patch_len(out: &mut [u8], at: usize) -> Result<(), FrameError> {
    let len = out.len() - at - 4;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    out[at..at + 4].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(())
}

/// A cursor over a frame body.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FrameError> {
        let (&b, rest) = self
            .buf
            .split_first()
            .ok_or(FrameError::Malformed("truncated body"))?;
        self.buf = rest;
        Ok(b)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, FrameError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, FrameError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.buf.len() < n {
            return Err(FrameError::Malformed("truncated body"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// A `u32` length, then that many bytes.
    pub(crate) fn blob(&mut self) -> Result<&'a [u8], FrameError> {
        let n = self.u32()? as usize;
        self.bytes(n)
    }

    pub(crate) fn end(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Malformed("trailing bytes"))
        }
    }
}

/// One item's outcome in a reply, borrowed from the frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome<'a> {
    /// The postcard-encoded result.
    Ok(&'a [u8]),
    /// The task panicked with this message.
    Panicked(&'a str),
    /// The argument or result could not be (de)serialized.
    Failed(&'a str),
}

/// A decoded frame from a worker.
#[derive(Debug)]
pub(crate) enum FromWorker<'a> {
    /// Results, one per item of the task it answers.
    Reply(Vec<Outcome<'a>>),
    /// The initializer panicked with this message; the worker exits next.
    InitFailed(&'a str),
}

/// Decodes a body sent by a worker.
pub(crate) fn parse_from_worker(body: &[u8]) -> Result<FromWorker<'_>, FrameError> {
    let mut r = Reader::new(body);
    match r.u8()? {
        KIND_REPLY => {
            let n = r.u32()? as usize;
            // Each outcome takes at least five bytes: never trust `n` for the allocation.
            let mut v = Vec::with_capacity(n.min(body.len() / 5));
            for _ in 0..n {
                let tag = r.u8()?;
                let b = r.blob()?;
                v.push(match tag {
                    TAG_OK => Outcome::Ok(b),
                    TAG_PANICKED => Outcome::Panicked(text(b)?),
                    TAG_FAILED => Outcome::Failed(text(b)?),
                    _ => return Err(FrameError::Malformed("unknown outcome tag")),
                });
            }
            r.end()?;
            Ok(FromWorker::Reply(v))
        }
        KIND_INIT_FAILED => {
            let m = text(r.blob()?)?;
            r.end()?;
            Ok(FromWorker::InitFailed(m))
        }
        _ => Err(FrameError::Malformed("unknown frame kind")),
    }
}

fn text(b: &[u8]) -> Result<&str, FrameError> {
    std::str::from_utf8(b).map_err(|_| FrameError::Malformed("message is not UTF-8"))
}

/// A decoded task frame, borrowed.
#[derive(Debug)]
pub(crate) struct TaskFrame<'a> {
    pub(crate) trampoline: u64,
    pub(crate) function: u64,
    pub(crate) count: u32,
    pub(crate) args: Reader<'a>,
}

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("left", &self.buf.len())
            .finish()
    }
}

/// Decodes a task body (the arguments stay in `args`, read one `blob` per item).
pub(crate) fn parse_task(body: &[u8]) -> Result<TaskFrame<'_>, FrameError> {
    let mut r = Reader::new(body);
    if r.u8()? != KIND_TASK {
        return Err(FrameError::Malformed("not a task frame"));
    }
    let trampoline = r.u64()?;
    let function = r.u64()?;
    let count = r.u32()?;
    Ok(TaskFrame {
        trampoline,
        function,
        count,
        args: r,
    })
}

/// Decodes `bytes` as a stream of frames, as the two ends of a worker's socket read them:
/// task frames as a worker reads them (every argument blob), reply and init frames as the
/// dispatcher does. Returns how many whole frames it decoded, or why the stream is bad.
///
/// Not part of the API: the entry point of the fuzz target `wire_decode` (`fuzz/`), hidden
/// from the documentation and free to change or go away in any release.
///
/// # Errors
///
/// The first bad or cut frame, as text.
#[doc(hidden)]
pub fn fuzz_decode(mut bytes: &[u8]) -> Result<usize, String> {
    let mut frames = 0;
    while !bytes.is_empty() {
        if bytes.len() < HEADER {
            return Err("malformed frame: truncated header".into());
        }
        let len = parse_header(&bytes[..HEADER]).map_err(|e| e.to_string())?;
        let rest = &bytes[HEADER..];
        if rest.len() < len {
            return Err("malformed frame: truncated body".into());
        }
        let (body, after) = rest.split_at(len);
        bytes = after;
        if body.first() == Some(&KIND_TASK) {
            let mut task = parse_task(body).map_err(|e| e.to_string())?;
            for _ in 0..task.count {
                task.args.blob().map_err(|e| e.to_string())?;
            }
        } else {
            parse_from_worker(body).map_err(|e| e.to_string())?;
        }
        frames += 1;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_round_trip() {
        let mut out = Vec::new();
        begin(&mut out, KIND_REPLY);
        out.extend_from_slice(&2u32.to_le_bytes());
        out.push(TAG_OK);
        let at = len_slot(&mut out);
        out.extend_from_slice(&[1, 2, 3]);
        patch_len(&mut out, at).unwrap();
        out.push(TAG_PANICKED);
        let at = len_slot(&mut out);
        out.extend_from_slice(b"boom");
        patch_len(&mut out, at).unwrap();
        finish(&mut out).unwrap();
        let len = parse_header(&out[..HEADER]).unwrap();
        assert_eq!(len, out.len() - HEADER);
        match parse_from_worker(&out[HEADER..]).unwrap() {
            FromWorker::Reply(v) => {
                assert_eq!(v, vec![Outcome::Ok(&[1, 2, 3]), Outcome::Panicked("boom")]);
            }
            FromWorker::InitFailed(_) => panic!("wrong kind"),
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        assert!(matches!(
            parse_header(&[0; 8]),
            Err(FrameError::BadMagic(0))
        ));
        let mut h = MAGIC.to_le_bytes().to_vec();
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse_header(&h), Err(FrameError::TooLarge(_))));
        assert!(parse_from_worker(&[]).is_err());
        assert!(parse_from_worker(&[KIND_REPLY, 1, 0, 0, 0, TAG_OK, 9, 0, 0, 0, 1]).is_err());
        assert!(parse_from_worker(&[KIND_REPLY, 255, 255, 255, 255]).is_err());
        assert!(parse_from_worker(&[9]).is_err());
        assert!(parse_task(&[KIND_TASK, 1, 2]).is_err());
    }

    #[test]
    fn fuzz_decode_reads_a_stream() {
        let mut out = Vec::new();
        begin(&mut out, KIND_INIT_FAILED);
        let at = len_slot(&mut out);
        out.extend_from_slice(b"boom");
        patch_len(&mut out, at).unwrap();
        finish(&mut out).unwrap();
        let mut two = out.clone();
        two.extend_from_slice(&out);
        assert_eq!(fuzz_decode(&two), Ok(2));
        assert!(fuzz_decode(&two[..two.len() - 1]).is_err());
        assert!(fuzz_decode(&[1, 2, 3]).is_err());
        assert_eq!(fuzz_decode(&[]), Ok(0));
    }
}
