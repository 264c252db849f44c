//! Connections to Redis: one parsed endpoint, connecting with a timeout, and reconnecting
//! with a capped back-off that a stop signal interrupts.

use std::time::Duration;

use weft_event::Event;

use crate::CeleryError;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest pause between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A parsed `redis://` URL.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    client: redis::Client,
    pub(crate) db: i64,
}

impl Endpoint {
    /// Parses `url`; only plain `redis://` (and `unix://`/`redis+unix://`) URLs are accepted.
    pub(crate) fn parse(url: &str) -> Result<Self, CeleryError> {
        let scheme = url.split("://").next().unwrap_or("");
        if !matches!(scheme, "redis" | "unix" | "redis+unix") || !url.contains("://") {
            return Err(CeleryError::InvalidUrl(format!(
                "{url:?}: expected redis://[:password@]host[:port][/db]"
            )));
        }
        let client =
            redis::Client::open(url).map_err(|e| CeleryError::InvalidUrl(e.to_string()))?;
        let db = client.get_connection_info().redis.db;
        Ok(Self { client, db })
    }

    /// One connection attempt.
    pub(crate) fn connect(&self) -> redis::RedisResult<redis::Connection> {
        self.client.get_connection_with_timeout(CONNECT_TIMEOUT)
    }

    /// Connects, retrying with back-off until it succeeds or `stop` is set (then `None`).
    pub(crate) fn connect_until(&self, stop: &Event) -> Option<redis::Connection> {
        let mut pause = Duration::from_millis(20);
        loop {
            if stop.is_set() {
                return None;
            }
            match self.connect() {
                Ok(c) => return Some(c),
                Err(_) => {
                    if stop.wait_timeout(pause) {
                        return None;
                    }
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Runs `op` on a connection from `slot`, reconnecting and retrying after connection
    /// errors until `budget` has passed; a Redis error reply is returned at once.
    pub(crate) fn with_retry<T>(
        &self,
        slot: &mut Option<redis::Connection>,
        budget: Duration,
        mut op: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        let deadline = weft_sync::Deadline::after(budget);
        let mut pause = Duration::from_millis(20);
        let pauser = Event::new();
        loop {
            let attempt = match slot {
                Some(c) => op(c),
                None => self.connect().and_then(|mut c| {
                    let r = op(&mut c);
                    *slot = Some(c);
                    r
                }),
            };
            match attempt {
                Ok(v) => return Ok(v),
                Err(e) if is_connection_error(&e) && !deadline.has_passed() => {
                    *slot = None;
                    let _ = pauser.wait_timeout(pause);
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
                Err(e) => {
                    if is_connection_error(&e) {
                        *slot = None;
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// Whether `e` means the connection is unusable (as opposed to an error reply).
pub(crate) fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
        || e.is_timeout()
        || e.is_connection_refusal()
}
