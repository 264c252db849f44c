//! kombu's acknowledgement emulation for Redis: the `unacked` hash and the `unacked_index`
//! sorted set, and `restore_visible`, which puts messages that stayed unacknowledged longer
//! than the visibility timeout back on their queue.
//!
//! The keys, the mutex and the transaction are kombu's (`kombu/transport/redis.py`, `QoS`),
//! so a Python worker restores what a weft worker left behind and the other way round.

use std::time::Duration;

use redis::{Connection, RedisResult, Value as RValue};
use serde_json::Value;

use crate::protocol::{self, SEP};

pub(crate) const UNACKED: &str = "unacked";
pub(crate) const UNACKED_INDEX: &str = "unacked_index";
pub(crate) const UNACKED_MUTEX: &str = "unacked_mutex";
/// kombu's `unacked_mutex_expire`: 5 minutes.
const MUTEX_EXPIRE_MS: u64 = 300_000;

/// Records delivered messages as unacknowledged, as kombu's `QoS.append` does for each: one
/// `MULTI` of `ZADD unacked_index <now> <tag>` and `HSET unacked <tag> [message, exchange,
/// routing_key]` per message.
pub(crate) fn mark_unacked(
    conn: &mut Connection,
    messages: &[&protocol::Incoming],
) -> RedisResult<()> {
    let now = protocol::now_secs();
    let mut pipe = redis::pipe();
    pipe.atomic();
    for m in messages {
        let entry = serde_json::json!([m.raw, m.exchange, m.routing_key]).to_string();
        pipe.cmd("ZADD")
            .arg(UNACKED_INDEX)
            .arg(now)
            .arg(&m.delivery_tag)
            .ignore()
            .cmd("HSET")
            .arg(UNACKED)
            .arg(&m.delivery_tag)
            .arg(entry)
            .ignore();
    }
    pipe.query(conn)
}

/// Adds kombu's acknowledgement (`ZREM` and `HDEL` of the tag) to `pipe`.
pub(crate) fn ack_into(pipe: &mut redis::Pipeline, tag: &str) {
    pipe.cmd("ZREM")
        .arg(UNACKED_INDEX)
        .arg(tag)
        .ignore()
        .cmd("HDEL")
        .arg(UNACKED)
        .arg(tag)
        .ignore();
}

/// kombu's `restore_visible`: under the `unacked_mutex` lock (taken without waiting; if
/// another worker holds it, that worker is restoring), every message unacknowledged for
/// longer than `visibility_timeout` goes back on its queue, marked redelivered. Returns how
/// many were restored.
pub(crate) fn restore_visible(
    conn: &mut Connection,
    visibility_timeout: Duration,
) -> RedisResult<usize> {
    let token = protocol::uuid4().replace('-', "");
    let got: Option<String> = redis::cmd("SET")
        .arg(UNACKED_MUTEX)
        .arg(&token)
        .arg("NX")
        .arg("PX")
        .arg(MUTEX_EXPIRE_MS)
        .query(conn)?;
    if got.is_none() {
        return Ok(0);
    }
    let result = restore_locked(conn, visibility_timeout);
    // The release is redis-py's `Lock.release`: delete the key only if it still holds our token.
    let release: RedisResult<i64> = redis::cmd("EVAL")
        .arg("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end")
        .arg(1)
        .arg(UNACKED_MUTEX)
        .arg(&token)
        .query(conn);
    let n = result?;
    release?;
    Ok(n)
}

fn restore_locked(conn: &mut Connection, visibility_timeout: Duration) -> RedisResult<usize> {
    let ceil = protocol::now_secs() - visibility_timeout.as_secs_f64();
    let tags: Vec<String> = redis::cmd("ZREVRANGEBYSCORE")
        .arg(UNACKED_INDEX)
        .arg(ceil)
        .arg(0)
        .query(conn)?;
    let mut restored = 0;
    for tag in tags {
        if restore_by_tag(conn, &tag)? {
            restored += 1;
        }
    }
    Ok(restored)
}

/// kombu's `restore_by_tag`: `WATCH unacked`, read the entry, then in one `MULTI` remove it
/// from both indices and `RPUSH` it back (the end `BRPOP` takes next). Returns whether a
/// message was put back.
pub(crate) fn restore_by_tag(conn: &mut Connection, tag: &str) -> RedisResult<bool> {
    for _ in 0..8 {
        redis::cmd("WATCH").arg(UNACKED).query::<()>(conn)?;
        let entry: Option<Vec<u8>> = redis::cmd("HGET").arg(UNACKED).arg(tag).query(conn)?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        ack_into(&mut pipe, tag);
        let mut pushed = false;
        if let Some(entry) = entry.as_deref().and_then(parse_entry) {
            let (message, exchange, routing_key) = entry;
            for queue in lookup(conn, &exchange, &routing_key)? {
                let priority = message
                    .pointer("/properties/priority")
                    .and_then(Value::as_u64)
                    .map_or(0, |p| u8::try_from(p.min(9)).unwrap_or(9));
                pipe.cmd("RPUSH")
                    .arg(protocol::queue_key(&queue, priority))
                    .arg(message.to_string())
                    .ignore();
                pushed = true;
            }
        }
        // EXEC answers nil when `unacked` changed since WATCH: then try again.
        let reply: RValue = pipe.query(conn)?;
        if !matches!(reply, RValue::Nil) {
            return Ok(pushed);
        }
    }
    Ok(false)
}

/// `[message, exchange, routing_key]` from an `unacked` entry, with the message marked
/// redelivered as kombu's `_do_restore_message` does.
fn parse_entry(bytes: &[u8]) -> Option<(Value, String, String)> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let mut parts = match v {
        Value::Array(p) if p.len() == 3 => p,
        _ => return None,
    };
    let routing_key = parts.pop()?.as_str()?.to_owned();
    let exchange = parts.pop()?.as_str()?.to_owned();
    let mut message = parts.pop()?;
    if !message.is_object() {
        return None;
    }
    if let Some(h) = message.get_mut("headers").and_then(Value::as_object_mut) {
        h.insert("redelivered".into(), Value::Bool(true));
    }
    if let Some(d) = message
        .pointer_mut("/properties/delivery_info")
        .and_then(Value::as_object_mut)
    {
        d.insert("redelivered".into(), Value::Bool(true));
    }
    Some((message, exchange, routing_key))
}

/// kombu's `_lookup` for the exchange types Celery uses: the default exchange routes to the
/// queue named by the routing key; a named exchange through its binding table
/// (`_kombu.binding.<exchange>`, members `routing_key␆␖pattern␆␖queue`), by exact routing
/// key (direct) or to every bound queue when no member names the key (fanout-like). With no
/// binding at all, the routing key is taken as the queue name.
fn lookup(conn: &mut Connection, exchange: &str, routing_key: &str) -> RedisResult<Vec<String>> {
    if exchange.is_empty() {
        return Ok(vec![routing_key.to_owned()]);
    }
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(format!("_kombu.binding.{exchange}"))
        .query(conn)?;
    let bindings: Vec<(String, String)> = members
        .iter()
        .filter_map(|m| {
            let mut it = m.split(SEP);
            let rk = it.next()?.to_owned();
            let _pattern = it.next()?;
            Some((rk, it.next()?.to_owned()))
        })
        .collect();
    let mut direct: Vec<String> = bindings
        .iter()
        .filter(|(rk, _)| rk == routing_key)
        .map(|(_, q)| q.clone())
        .collect();
    direct.dedup();
    if direct.is_empty() {
        direct = vec![routing_key.to_owned()];
    }
    Ok(direct)
}
