//! Content envelopes as JSON for the device commands (docs/CONFORMANCE.md
//! §3, PROTOCOL §13.12): the same shape as `tests/vectors/content_envelope.json`.

use dmseal::Content;
use dmseal::Destination;
use dmseal::MessageId;
use dmseal::content::ReceiptKind;
use serde_json::{Map, Value, json};

use crate::{Failure, fail};

fn id_of(v: &Value, what: &str) -> Result<MessageId, Failure> {
    let bytes =
        v.as_str().and_then(|s| hex::decode(s).ok()).ok_or_else(|| fail("BadCommand", format!("{what} is not hex")))?;
    let bytes: [u8; 16] = bytes.try_into().map_err(|_| fail("BadCommand", format!("{what} is not 16 bytes")))?;
    Ok(MessageId::from_bytes(bytes))
}

fn str_of<'a>(c: &'a Map<String, Value>, name: &str) -> Result<&'a str, Failure> {
    c.get(name).and_then(Value::as_str).ok_or_else(|| fail("BadCommand", format!("content.{name} must be a string")))
}

fn hex_of(c: &Map<String, Value>, name: &str) -> Result<Vec<u8>, Failure> {
    c.get(name)
        .and_then(Value::as_str)
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| fail("BadCommand", format!("content.{name} must be hex")))
}

fn u32_of(c: &Map<String, Value>, name: &str) -> Result<u32, Failure> {
    c.get(name)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| fail("BadCommand", format!("content.{name} must be a u32")))
}

/// The content of a command: its `content` object, or else its
/// `plaintext` hex as a payload of type `""`.
pub(crate) fn of_command(cmd: &Map<String, Value>) -> Result<Content, Failure> {
    match cmd.get("content") {
        Some(v) => parse(v),
        None => Ok(Content::from(crate::bytes(cmd, "plaintext")?)),
    }
}

/// A content from its JSON form.
pub(crate) fn parse(v: &Value) -> Result<Content, Failure> {
    let c = v.as_object().ok_or_else(|| fail("BadCommand", "content must be an object"))?;
    Ok(match str_of(c, "kind")? {
        "text" => Content::Text(str_of(c, "text")?.to_owned()),
        "payload" => Content::Payload { kind: str_of(c, "type")?.to_owned(), bytes: hex_of(c, "bytes")? },
        "edit" => Content::Edit {
            target: id_of(c.get("target").unwrap_or(&Value::Null), "content.target")?,
            content: Box::new(parse(c.get("content").unwrap_or(&Value::Null))?),
        },
        "delete" => Content::Delete { target: id_of(c.get("target").unwrap_or(&Value::Null), "content.target")? },
        "reaction" => Content::Reaction {
            target: id_of(c.get("target").unwrap_or(&Value::Null), "content.target")?,
            emoji: str_of(c, "emoji")?.to_owned(),
            remove: c.get("remove").and_then(Value::as_bool).unwrap_or(false),
        },
        "receipt" => Content::Receipt {
            kind: match str_of(c, "receipt")? {
                "read" => ReceiptKind::Read,
                "delivered" => ReceiptKind::Delivered,
                other => return Err(fail("BadCommand", format!("content.receipt {other:?}"))),
            },
            ids: c
                .get("ids")
                .and_then(Value::as_array)
                .ok_or_else(|| fail("BadCommand", "content.ids must be an array"))?
                .iter()
                .map(|v| id_of(v, "content.ids[]"))
                .collect::<Result<_, _>>()?,
        },
        "timer" => Content::Timer { seconds: u32_of(c, "seconds")? },
        "attachment" => Content::Attachment(
            dmseal::attachment::AttachmentPointer::from_bytes(&hex_of(c, "pointer")?)
                .map_err(|e| fail("BadCommand", format!("content.pointer: {e}")))?,
        ),
        "unknown" => Content::Unknown {
            kind: u8::try_from(u32_of(c, "kind_byte")?).map_err(|_| fail("BadCommand", "content.kind_byte"))?,
            body: hex_of(c, "body")?,
        },
        other => return Err(fail("BadCommand", format!("content.kind {other:?}"))),
    })
}

/// A content as JSON (timer changes without their version: the driver
/// reports what the application sees).
pub(crate) fn to_json(content: &Content) -> Value {
    let h = |b: &[u8]| hex::encode(b);
    match content {
        Content::Text(text) => json!({ "kind": "text", "text": text }),
        Content::Payload { kind, bytes } => json!({ "kind": "payload", "type": kind, "bytes": h(bytes) }),
        Content::Edit { target, content } => {
            json!({ "kind": "edit", "target": h(target.as_bytes()), "content": to_json(content) })
        }
        Content::Delete { target } => json!({ "kind": "delete", "target": h(target.as_bytes()) }),
        Content::Reaction { target, emoji, remove } => {
            json!({ "kind": "reaction", "target": h(target.as_bytes()), "emoji": emoji, "remove": remove })
        }
        Content::Receipt { kind, ids } => json!({
            "kind": "receipt",
            "receipt": if *kind == ReceiptKind::Read { "read" } else { "delivered" },
            "ids": ids.iter().map(|i| h(i.as_bytes())).collect::<Vec<_>>(),
        }),
        Content::Timer { seconds } => json!({ "kind": "timer", "seconds": seconds }),
        Content::Unknown { kind, body } => json!({ "kind": "unknown", "kind_byte": kind, "body": h(body) }),
        Content::Attachment(pointer) => json!({ "kind": "attachment", "pointer": h(&pointer.to_bytes()) }),
        other => json!({ "kind": format!("{other:?}") }),
    }
}

/// A conversation as JSON: `{"user": id}` or `{"group": hex}`.
pub(crate) fn destination(d: &Destination) -> Value {
    match d {
        Destination::User(user) => json!({ "user": user }),
        Destination::Group(id) => json!({ "group": hex::encode(id) }),
        other => json!({ "other": format!("{other:?}") }),
    }
}

/// The `conversation` field of a command.
pub(crate) fn destination_of(cmd: &Map<String, Value>) -> Result<Destination, Failure> {
    let c = cmd
        .get("conversation")
        .and_then(Value::as_object)
        .ok_or_else(|| fail("BadCommand", "conversation must be {\"user\": ...} or {\"group\": hex}"))?;
    match (c.get("user").and_then(Value::as_str), c.get("group").and_then(Value::as_str)) {
        (Some(user), None) => Ok(Destination::User(user.to_owned())),
        (None, Some(group)) => {
            Ok(Destination::Group(hex::decode(group).map_err(|_| fail("BadCommand", "conversation.group is not hex"))?))
        }
        _ => Err(fail("BadCommand", "conversation must be {\"user\": ...} or {\"group\": hex}")),
    }
}
