//! A task on the parent's side: its frame, ready to send, and the promise(s) its reply
//! completes.

use serde::{Serialize, de::DeserializeOwned};
use weft_futures::{Chunk, Promise, TaskError};
use weft_sync::Arc;

use crate::{schedule, trampoline, wire, wire::Outcome};

/// What completes a task's future(s) once its reply, its failure or its cancellation is known.
pub(crate) trait Sink: Send {
    /// Marks the future(s) running; `false` if cancelled (the task is then skipped).
    fn start(&self) -> bool;
    /// Completes from the worker's reply.
    fn finish(self: Box<Self>, outcomes: Vec<Outcome<'_>>);
    /// Fails every item with `e`.
    fn fail(self: Box<Self>, e: TaskError);
    /// Cancels (a queued task at `shutdown(cancel_futures = true)`); a task that already
    /// started fails with [`TaskError::Cancelled`] instead.
    fn cancel(self: Box<Self>);
}

/// A queued or dispatched task.
pub(crate) struct Request {
    /// The whole frame, header included; kept until the task completes, since a task sent
    /// ahead to a worker that dies goes back to the queue and is sent again. Shared with the
    /// dispatcher's send buffer, so that handing it out under the schedule's lock copies
    /// nothing.
    pub(crate) frame: Arc<Vec<u8>>,
    pub(crate) sink: Box<dyn Sink>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("frame_len", &self.frame.len())
            .finish_non_exhaustive()
    }
}

impl schedule::Job for Request {
    fn start(&mut self) -> bool {
        self.sink.start()
    }
}

/// Encodes `args` for `f` into a task frame; `Err(reason)` if an argument cannot be
/// serialized or the frame would exceed the size cap.
pub(crate) fn encode<'a, A, R>(
    f: fn(A) -> R,
    args: impl ExactSizeIterator<Item = &'a A>,
) -> Result<Vec<u8>, String>
where
    A: Serialize + DeserializeOwned + 'a,
    R: Serialize + DeserializeOwned,
{
    let (t, func) = trampoline::erase(f);
    let mut out = Vec::with_capacity(64);
    wire::begin(&mut out, wire::KIND_TASK);
    out.extend_from_slice(&t.to_le_bytes());
    out.extend_from_slice(&func.to_le_bytes());
    out.extend_from_slice(&(args.len() as u32).to_le_bytes());
    for a in args {
        let at = wire::len_slot(&mut out);
        out = postcard::to_extend(a, out)
            .map_err(|e| format!("cannot serialize the argument: {e}"))?;
        wire::patch_len(&mut out, at).map_err(|e| format!("the argument is too large: {e}"))?;
    }
    wire::finish(&mut out).map_err(|e| format!("the arguments are too large: {e}"))?;
    Ok(out)
}

fn decode<R: DeserializeOwned>(o: &Outcome<'_>) -> Result<R, TaskError> {
    match *o {
        Outcome::Ok(b) => postcard::from_bytes(b)
            .map_err(|e| TaskError::Failed(format!("cannot deserialize the result: {e}"))),
        Outcome::Panicked(m) => Err(TaskError::Panicked(m.to_owned())),
        Outcome::Failed(m) => Err(TaskError::Failed(m.to_owned())),
    }
}

fn cancel_or_fail<T>(p: Promise<T>) {
    if !p.cancel() {
        p.set_error(TaskError::Cancelled);
    }
}

/// One item, one future.
pub(crate) struct One<R>(pub(crate) Promise<R>);

impl<R: DeserializeOwned + Send> Sink for One<R> {
    fn start(&self) -> bool {
        self.0.set_running()
    }
    fn finish(self: Box<Self>, outcomes: Vec<Outcome<'_>>) {
        match outcomes.as_slice() {
            [o] => {
                self.0.complete(decode(o));
            }
            _ => self.0.set_error(TaskError::Failed(format!(
                "malformed reply: {} results for 1 argument",
                outcomes.len()
            ))),
        }
    }
    fn fail(self: Box<Self>, e: TaskError) {
        self.0.set_error(e);
    }
    fn cancel(self: Box<Self>) {
        cancel_or_fail(self.0);
    }
}

/// A chunk of `n` items (a `map` with `chunksize`), one future for the chunk's results.
pub(crate) struct Many<A, R> {
    pub(crate) promise: Promise<Chunk<A, R>>,
    pub(crate) n: usize,
}

impl<A: Send, R: DeserializeOwned + Send> Sink for Many<A, R> {
    fn start(&self) -> bool {
        self.promise.set_running()
    }
    fn finish(self: Box<Self>, outcomes: Vec<Outcome<'_>>) {
        if outcomes.len() == self.n {
            self.promise
                .set_result(Chunk::new(outcomes.iter().map(decode).collect()));
        } else {
            self.promise.set_error(TaskError::Failed(format!(
                "malformed reply: {} results for {} arguments",
                outcomes.len(),
                self.n
            )));
        }
    }
    fn fail(self: Box<Self>, e: TaskError) {
        self.promise.set_error(e);
    }
    fn cancel(self: Box<Self>) {
        cancel_or_fail(self.promise);
    }
}
