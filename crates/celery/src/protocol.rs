//! Celery's message protocol version 2 with the JSON serializer, as kombu's Redis transport
//! carries it, and the Redis result backend's task-meta documents.
//!
//! Everything that arrives is validated here: a message, a result or a control command that
//! does not have the expected shape becomes a typed error, never a panic.

use std::{
    collections::hash_map::RandomState,
    fmt::Write as _,
    hash::{BuildHasher, Hasher},
    time::{SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use serde_json::{Map, Value, json};

/// The content type of Celery's JSON serializer.
pub(crate) const JSON: &str = "application/json";
/// The content type of Celery's pickle serializer, which weft refuses.
pub(crate) const PICKLE: &str = "application/x-python-serialize";
/// kombu's separator in priority queue names and binding-table members.
pub(crate) const SEP: &str = "\x06\x16";
/// kombu's priority steps: a queue `q` with priority `p > 0` lives at `q\x06\x16p`.
pub(crate) const PRIORITY_STEPS: [u8; 4] = [0, 3, 6, 9];

/// The Redis key (and the publish/subscribe channel) of a task's result.
pub(crate) fn meta_key(task_id: &str) -> String {
    format!("celery-task-meta-{task_id}")
}

/// The Redis list that holds queue `queue`'s messages of priority `priority` (kombu's
/// `_q_for_pri`).
pub(crate) fn queue_key(queue: &str, priority: u8) -> String {
    let step = PRIORITY_STEPS
        .iter()
        .copied()
        .rev()
        .find(|&s| s <= priority)
        .unwrap_or(0);
    if step == 0 {
        queue.to_owned()
    } else {
        format!("{queue}{SEP}{step}")
    }
}

/// The channel kombu's Redis transport publishes the `celery.pidbox` fanout exchange on.
pub(crate) fn pidbox_channel(db: i64) -> String {
    format!("/{db}.celery.pidbox")
}

/// A random version-4 UUID in its canonical text form, as Celery uses for task ids and
/// kombu for delivery tags.
///
/// The bits come from std's randomly keyed SipHash (every `RandomState::new()` has fresh
/// keys) over the clock, so two calls never repeat in practice, and no extra dependency is
/// needed.
pub(crate) fn uuid4() -> String {
    let mut words = [0u64; 2];
    for w in &mut words {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        *w = h.finish();
    }
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&words[0].to_le_bytes());
    b[8..].copy_from_slice(&words[1].to_le_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

/// Seconds since the Unix epoch, as Python's `time.time()` (kombu's `unacked_index` score).
pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The current time in ISO 8601 with microseconds and `+00:00`, as Celery's `date_done`.
pub(crate) fn iso_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Turns a serialized Rust value into Celery's positional argument list: a JSON array (a
/// tuple, a `Vec`) is the list itself, `null` (the unit value `()`) is the empty list, and any
/// other value is the one argument.
pub(crate) fn args_list(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// The task message a client sends: the kombu envelope pushed on the queue's list, as
/// Celery's `amqp.as_task_v2` and kombu's Redis `_put` build it.
pub(crate) struct Outgoing<'a> {
    pub(crate) id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) args: Vec<Value>,
    pub(crate) queue: &'a str,
    pub(crate) reply_to: &'a str,
    pub(crate) origin: &'a str,
}

impl Outgoing<'_> {
    /// The JSON text to `LPUSH` on the queue's list.
    pub(crate) fn encode(self) -> String {
        let argsrepr = python_tuple_repr(&self.args);
        let body = json!([
            self.args,
            {},
            {"callbacks": null, "errbacks": null, "chain": null, "chord": null}
        ]);
        let envelope = json!({
            "body": B64.encode(body.to_string()),
            "content-encoding": "utf-8",
            "content-type": JSON,
            "headers": {
                "lang": "rs",
                "task": self.name,
                "id": self.id,
                "shadow": null,
                "eta": null,
                "expires": null,
                "group": null,
                "group_index": null,
                "retries": 0,
                "timelimit": [null, null],
                "root_id": self.id,
                "parent_id": null,
                "argsrepr": argsrepr,
                "kwargsrepr": "{}",
                "origin": self.origin,
                "ignore_result": false,
                "replaced_task_nesting": 0,
                "stamped_headers": null,
                "stamps": {},
            },
            "properties": {
                "correlation_id": self.id,
                "reply_to": self.reply_to,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": self.queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": uuid4(),
            },
        });
        envelope.to_string()
    }
}

/// A short Python-like repr of an argument tuple, for Celery's `argsrepr` header (shown by
/// Flower and the worker's log; never parsed).
fn python_tuple_repr(args: &[Value]) -> String {
    let mut s = String::from("(");
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&a.to_string());
    }
    if args.len() == 1 {
        s.push(',');
    }
    s.push(')');
    s
}

/// Why an incoming task message was not run. Each variant maps to the exception Celery
/// would report, so Python and weft clients read the same failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The message is not a kombu envelope with a task id: nothing can be reported back.
    Undecodable(String),
    /// The message carries an id, but its body cannot be used (kombu's `DecodeError` or
    /// `ContentDisallowed`, Celery's `InvalidTaskError`).
    Invalid {
        id: String,
        exc_type: &'static str,
        exc_module: &'static str,
        message: String,
    },
}

/// A task message that passed validation.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    /// The envelope exactly as it arrived (what goes into kombu's `unacked` hash).
    pub(crate) raw: Value,
    pub(crate) id: String,
    pub(crate) task: String,
    pub(crate) delivery_tag: String,
    pub(crate) exchange: String,
    pub(crate) routing_key: String,
    pub(crate) args: Vec<Value>,
    pub(crate) kwargs: Map<String, Value>,
}

/// The longest task id or task name accepted; Celery's are UUIDs and dotted paths.
const MAX_NAME: usize = 512;

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Validates and decodes one message popped from a queue's list.
///
/// # Errors
/// A [`Refusal`] that says what was wrong; pickle bodies are refused without being looked at.
pub(crate) fn decode_task(text: &[u8]) -> Result<Incoming, Refusal> {
    let undecodable = |why: String| Refusal::Undecodable(why);
    let raw: Value = serde_json::from_slice(text)
        .map_err(|e| undecodable(format!("the message is not JSON: {e}")))?;
    let obj = raw
        .as_object()
        .ok_or_else(|| undecodable("the message is not a JSON object".into()))?;
    let headers = obj
        .get("headers")
        .and_then(Value::as_object)
        .ok_or_else(|| undecodable("the message has no headers object".into()))?;
    let id = headers
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= MAX_NAME)
        .ok_or_else(|| {
            undecodable("the message has no task id (protocol 1 is not supported)".into())
        })?
        .to_owned();
    let invalid = |exc_type, exc_module, message: String| Refusal::Invalid {
        id: id.clone(),
        exc_type,
        exc_module,
        message,
    };
    let task = headers
        .get("task")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= MAX_NAME)
        .ok_or_else(|| {
            invalid(
                "InvalidTaskError",
                "celery.exceptions",
                "the message has no task name".into(),
            )
        })?
        .to_owned();
    let props = obj.get("properties").and_then(Value::as_object);
    let delivery_tag = props
        .and_then(|p| p.get("delivery_tag"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= MAX_NAME)
        .unwrap_or(&id)
        .to_owned();
    let info = props
        .and_then(|p| p.get("delivery_info"))
        .and_then(Value::as_object);
    let exchange = info
        .and_then(|i| i.get("exchange"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let routing_key = info
        .and_then(|i| i.get("routing_key"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let content_type = obj
        .get("content-type")
        .and_then(Value::as_str)
        .unwrap_or("");
    if content_type != JSON {
        let what = if content_type == PICKLE {
            "pickle (application/x-python-serialize) is never decoded: it can run arbitrary code"
                .to_owned()
        } else {
            format!(
                "content type {:?} is not accepted (only {JSON})",
                short(content_type)
            )
        };
        return Err(invalid(
            "ContentDisallowed",
            "kombu.exceptions",
            format!(
                "refusing to deserialize the body of task {}: {what}",
                short(&task)
            ),
        ));
    }
    let body = obj.get("body").and_then(Value::as_str).ok_or_else(|| {
        invalid(
            "DecodeError",
            "kombu.exceptions",
            "the message body is not a string".into(),
        )
    })?;
    let encoding = props
        .and_then(|p| p.get("body_encoding"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let body_bytes = match encoding {
        "base64" => B64.decode(body.as_bytes()).map_err(|e| {
            invalid(
                "DecodeError",
                "kombu.exceptions",
                format!("the message body is not valid base64: {e}"),
            )
        })?,
        "" | "utf-8" => body.as_bytes().to_vec(),
        other => {
            return Err(invalid(
                "DecodeError",
                "kombu.exceptions",
                format!("unknown body encoding {:?}", short(other)),
            ));
        }
    };
    let parsed: Value = serde_json::from_slice(&body_bytes).map_err(|e| {
        invalid(
            "DecodeError",
            "kombu.exceptions",
            format!("the message body is not JSON: {e}"),
        )
    })?;
    let (args, kwargs) = match parsed {
        Value::Array(mut parts) if (2..=3).contains(&parts.len()) => {
            parts.truncate(2);
            let kwargs = parts.pop();
            let args = parts.pop();
            match (args, kwargs) {
                (Some(Value::Array(a)), Some(Value::Object(k))) => (a, k),
                _ => {
                    return Err(invalid(
                        "InvalidTaskError",
                        "celery.exceptions",
                        "the body is not [args list, kwargs object, embed]".into(),
                    ));
                }
            }
        }
        _ => {
            return Err(invalid(
                "InvalidTaskError",
                "celery.exceptions",
                "the body is not [args, kwargs, embed] (protocol 2)".into(),
            ));
        }
    };
    Ok(Incoming {
        raw,
        id,
        task,
        delivery_tag,
        exchange,
        routing_key,
        args,
        kwargs,
    })
}

/// The exception part of a FAILURE or REVOKED result, as Celery's JSON backend writes it
/// (`prepare_exception`): the type's name, its arguments, and its module (`None` lets a
/// Python client create a class of that name).
pub(crate) fn exception(exc_type: &str, exc_module: Option<&str>, message: &str) -> Value {
    json!({"exc_type": exc_type, "exc_message": [message], "exc_module": exc_module})
}

/// A task-meta document, as Celery's Redis backend stores and publishes it.
pub(crate) fn meta(task_id: &str, status: &str, result: &Value, traceback: Option<&str>) -> String {
    json!({
        "status": status,
        "result": result,
        "traceback": traceback,
        "children": [],
        "date_done": iso_now(),
        "task_id": task_id,
    })
    .to_string()
}

/// A decoded task-meta document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Meta {
    /// Not finished yet (`PENDING`, `RECEIVED`, `STARTED`, `RETRY`, a custom state).
    NotReady { started: bool },
    /// `SUCCESS`, with the task's return value.
    Success(Value),
    /// `FAILURE`: the exception's type and text, as one line.
    Failure(String),
    /// `REVOKED`.
    Revoked,
}

/// Decodes a task-meta document.
///
/// # Errors
/// A description of what was malformed.
pub(crate) fn decode_meta(text: &[u8]) -> Result<(String, Meta), String> {
    let v: Value =
        serde_json::from_slice(text).map_err(|e| format!("the task result is not JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or("the task result is not a JSON object")?;
    let status = obj
        .get("status")
        .and_then(Value::as_str)
        .ok_or("the task result has no status")?;
    let id = obj
        .get("task_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let result = obj.get("result").cloned().unwrap_or(Value::Null);
    let meta = match status {
        "SUCCESS" => Meta::Success(result),
        "FAILURE" => Meta::Failure(describe_exception(&result)),
        "REVOKED" => Meta::Revoked,
        other => Meta::NotReady {
            started: other == "STARTED",
        },
    };
    Ok((id, meta))
}

/// `ValueError: bad value` from `{"exc_type": "ValueError", "exc_message": ["bad value"]}`.
pub(crate) fn describe_exception(result: &Value) -> String {
    let Some(obj) = result.as_object() else {
        return format!("the task failed with {result}");
    };
    let exc_type = obj
        .get("exc_type")
        .and_then(Value::as_str)
        .unwrap_or("Exception");
    let text = match obj.get("exc_message") {
        Some(Value::Array(parts)) if parts.len() == 1 => match &parts[0] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        Some(Value::Array(parts)) if parts.is_empty() => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    if text.is_empty() {
        exc_type.to_owned()
    } else {
        format!("{exc_type}: {text}")
    }
}

/// The kombu envelope of a pidbox broadcast (`app.control.revoke`), published on
/// [`pidbox_channel`].
/// One id is sent as a string, several as a list (both are what `app.control.revoke` sends).
pub(crate) fn revoke_broadcast(task_ids: &[&str]) -> String {
    let ids = match task_ids {
        [one] => json!(one),
        many => json!(many),
    };
    let body = json!({
        "method": "revoke",
        "arguments": {"task_id": ids, "terminate": false, "signal": "SIGTERM"},
        "destination": null,
        "pattern": null,
        "matcher": null,
    });
    json!({
        "body": B64.encode(body.to_string()),
        "content-encoding": "utf-8",
        "content-type": JSON,
        "headers": {"clock": 1, "expires": now_secs() + 5.0},
        "properties": {
            "delivery_mode": 2,
            "delivery_info": {"exchange": "celery.pidbox", "routing_key": ""},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": uuid4(),
        },
    })
    .to_string()
}

/// The task ids a pidbox message revokes for the worker named `hostname`; empty for any
/// other command, a message meant for other workers, or a malformed one.
pub(crate) fn decode_revoke(text: &[u8], hostname: &str) -> Vec<String> {
    let Ok(envelope) = serde_json::from_slice::<Value>(text) else {
        return Vec::new();
    };
    if envelope.get("content-type").and_then(Value::as_str) != Some(JSON) {
        return Vec::new();
    }
    let Some(body) = envelope.get("body").and_then(Value::as_str) else {
        return Vec::new();
    };
    let encoded = envelope
        .pointer("/properties/body_encoding")
        .and_then(Value::as_str)
        == Some("base64");
    let bytes = if encoded {
        match B64.decode(body.as_bytes()) {
            Ok(b) => b,
            Err(_) => return Vec::new(),
        }
    } else {
        body.as_bytes().to_vec()
    };
    let Ok(cmd) = serde_json::from_slice::<Value>(&bytes) else {
        return Vec::new();
    };
    if cmd.get("method").and_then(Value::as_str) != Some("revoke") {
        return Vec::new();
    }
    match cmd.get("destination") {
        None | Some(Value::Null) => {}
        Some(Value::Array(names)) if names.iter().any(|n| n.as_str() == Some(hostname)) => {}
        Some(_) => return Vec::new(),
    }
    match cmd.pointer("/arguments/task_id") {
        Some(Value::String(id)) if id.len() <= MAX_NAME => vec![id.clone()],
        Some(Value::Array(ids)) => ids
            .iter()
            .filter_map(Value::as_str)
            .filter(|id| id.len() <= MAX_NAME)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let a = uuid4();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, uuid4());
    }

    #[test]
    fn queue_keys_follow_kombu_priority_steps() {
        assert_eq!(queue_key("celery", 0), "celery");
        assert_eq!(queue_key("celery", 2), "celery");
        assert_eq!(queue_key("celery", 3), "celery\x06\x163");
        assert_eq!(queue_key("celery", 9), "celery\x06\x169");
    }

    #[test]
    fn a_sent_message_decodes() {
        let text = Outgoing {
            id: "i",
            name: "tasks.add",
            args: vec![json!(2), json!(3)],
            queue: "celery",
            reply_to: "r",
            origin: "o",
        }
        .encode();
        let m = decode_task(text.as_bytes()).unwrap();
        assert_eq!(m.task, "tasks.add");
        assert_eq!(m.args, vec![json!(2), json!(3)]);
        assert_eq!(m.routing_key, "celery");
        assert_eq!(m.exchange, "");
    }

    #[test]
    fn pickle_is_refused_with_the_id() {
        let text = json!({"body": "gASV", "content-type": PICKLE,
            "headers": {"id": "x", "task": "t"}, "properties": {"body_encoding": "base64"}});
        match decode_task(text.to_string().as_bytes()) {
            Err(Refusal::Invalid { id, exc_type, .. }) => {
                assert_eq!(id, "x");
                assert_eq!(exc_type, "ContentDisallowed");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(decode_task(b"\xff"), Err(Refusal::Undecodable(_))));
        assert!(matches!(decode_task(b"[1]"), Err(Refusal::Undecodable(_))));
    }

    #[test]
    fn failures_read_as_type_and_text() {
        let r = json!({"exc_type": "ValueError", "exc_message": ["bad value"], "exc_module": "builtins"});
        assert_eq!(describe_exception(&r), "ValueError: bad value");
        let meta = meta("t", "FAILURE", &r, None);
        assert_eq!(
            decode_meta(meta.as_bytes()).unwrap().1,
            Meta::Failure("ValueError: bad value".into())
        );
    }

    #[test]
    fn revoke_round_trips_and_respects_destination() {
        let b = revoke_broadcast(&["abc"]);
        assert_eq!(decode_revoke(b.as_bytes(), "w@h"), vec!["abc".to_owned()]);
        let b = revoke_broadcast(&["a", "b"]);
        assert_eq!(
            decode_revoke(b.as_bytes(), "w@h"),
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert!(decode_revoke(b"{}", "w@h").is_empty());
    }

    #[test]
    fn iso_dates_look_like_pythons() {
        let s = iso_now();
        assert_eq!(s.len(), "2026-12-04T20:00:25.820194+00:00".len());
        assert!(s.starts_with("20"));
    }
}
