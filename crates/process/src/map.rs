//! How the process pool runs the tasks of a `map`: one request per task, one item or a chunk.
//!
//! Order, laziness, buffering and cancellation are [`weft_futures::Map`]'s, shared by every
//! executor; this file only says how a batch of items becomes a request.

use serde::{Serialize, de::DeserializeOwned};
use weft_futures::{MapSubmit, Submitted, promise};

use crate::{
    ProcessPoolExecutor,
    request::{self, Many, One},
};

/// The process pool's side of a map: `chunksize` items (from the map's options) per request,
/// serialized on the caller's thread into one frame; a chunk's items each get their own
/// outcome from the worker.
pub(crate) struct Requests<'a, A, R> {
    pool: &'a ProcessPoolExecutor,
    f: fn(A) -> R,
}

impl<'a, A, R> Requests<'a, A, R> {
    pub(crate) fn new(pool: &'a ProcessPoolExecutor, f: fn(A) -> R) -> Self {
        Self { pool, f }
    }
}

impl<A, R> MapSubmit<A, R> for Requests<'_, A, R>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    fn submit(&mut self, items: Vec<A>) -> Submitted<A, R> {
        let frame = request::encode(self.f, items.iter());
        if items.len() == 1 {
            let (p, fut) = promise::<R>();
            match self.pool.push_sink(frame, Box::new(One(p))) {
                Ok(()) => Submitted::One(fut),
                Err(e) => Submitted::Refused(e),
            }
        } else {
            let (p, fut) = promise();
            let sink = Many {
                promise: p,
                n: items.len(),
            };
            match self.pool.push_sink(frame, Box::new(sink)) {
                Ok(()) => Submitted::Chunk(fut),
                Err(e) => Submitted::Refused(e),
            }
        }
    }
}
