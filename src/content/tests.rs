#![allow(clippy::unwrap_used)]

use super::*;

fn envelope(content: Content) -> ContentEnvelope {
    let timer_version = if matches!(content, Content::Timer { .. }) { 3 } else { 0 };
    let timer = if let Content::Timer { seconds } = content { seconds } else { 60 };
    ContentEnvelope { id: MessageId::from_bytes([0xab; 16]), sent_at: 1_800_000_000, timer, timer_version, content }
}

fn round_trip(content: Content) {
    let env = envelope(content);
    let mut bytes = Vec::new();
    env.encode(&mut bytes);
    assert_eq!(ContentEnvelope::decode(&bytes), Some(env));
}

fn samples() -> Vec<Content> {
    let target = MessageId::from_bytes([7; 16]);
    vec![
        Content::Text("hi Bob".into()),
        Content::Text(String::new()),
        Content::Payload { kind: "com.example.poll".into(), bytes: vec![1, 2, 3] },
        Content::Payload { kind: String::new(), bytes: Vec::new() },
        Content::Payload { kind: "k".repeat(MAX_PAYLOAD_KIND_LEN), bytes: vec![0] },
        Content::Edit { target, content: Box::new(Content::Text("hi, Bob".into())) },
        Content::Edit { target, content: Box::new(Content::Payload { kind: "x".into(), bytes: vec![9] }) },
        Content::Delete { target },
        Content::Reaction { target, emoji: "👍".into(), remove: false },
        Content::Reaction { target, emoji: "e".repeat(MAX_REACTION_LEN), remove: true },
        Content::Receipt { kind: ReceiptKind::Delivered, ids: vec![target] },
        Content::Receipt { kind: ReceiptKind::Read, ids: vec![target; MAX_RECEIPT_MESSAGES] },
        Content::Timer { seconds: 86_400 },
        Content::Timer { seconds: 0 },
        Content::Unknown { kind: 0x42, body: vec![1, 2] },
        Content::Unknown { kind: 0x00, body: Vec::new() },
    ]
}

/// Every kind reads back to what was encoded, at its limits.
#[test]
fn every_kind_round_trips() {
    for content in samples() {
        assert!(content.is_valid(), "{content:?}");
        round_trip(content);
    }
}

/// Content past a limit is not valid, and its bytes do not decode.
#[test]
fn limits_and_one_past_them() {
    let target = MessageId::from_bytes([7; 16]);
    let past = [
        Content::Payload { kind: "k".repeat(MAX_PAYLOAD_KIND_LEN + 1), bytes: vec![] },
        Content::Reaction { target, emoji: "e".repeat(MAX_REACTION_LEN + 1), remove: false },
        Content::Reaction { target, emoji: String::new(), remove: false },
        Content::Receipt { kind: ReceiptKind::Read, ids: vec![target; MAX_RECEIPT_MESSAGES + 1] },
        Content::Receipt { kind: ReceiptKind::Read, ids: vec![] },
        Content::Edit { target, content: Box::new(Content::Delete { target }) },
        Content::Unknown { kind: KIND_TEXT, body: vec![] },
    ];
    for content in past {
        assert!(!content.is_valid(), "{content:?}");
        let mut bytes = Vec::new();
        envelope(content.clone()).encode(&mut bytes);
        if !matches!(content, Content::Unknown { .. }) {
            assert_eq!(ContentEnvelope::decode(&bytes), None, "{content:?}");
        }
    }
}

/// Known kinds with malformed bodies are refused; unknown kinds read as
/// such.
#[test]
fn malformed_bodies() {
    let header = [0u8; HEADER_LEN];
    let with = |body: &[u8]| [&header[..], body].concat();
    assert_eq!(ContentEnvelope::decode(&header[..HEADER_LEN - 1]), None, "short header");
    assert_eq!(ContentEnvelope::decode(&header), None, "no kind");
    assert_eq!(ContentEnvelope::decode(&with(&[KIND_TEXT, 0xff])), None, "text that is not UTF-8");
    assert_eq!(ContentEnvelope::decode(&with(&[KIND_PAYLOAD])), None, "payload without its kind length");
    assert_eq!(ContentEnvelope::decode(&with(&[KIND_PAYLOAD, 5, b'a'])), None, "payload kind cut short");
    assert_eq!(ContentEnvelope::decode(&with(&[KIND_DELETE, 1, 2])), None, "delete cut short");
    assert_eq!(ContentEnvelope::decode(&with(&[&[KIND_DELETE][..], &[0; 17]].concat())), None, "delete with a tail");
    assert_eq!(
        ContentEnvelope::decode(&with(&[&[KIND_REACTION][..], &[0; 16], &[2, b'x']].concat())),
        None,
        "bad flag"
    );
    assert_eq!(ContentEnvelope::decode(&with(&[&[KIND_RECEIPT, 2][..], &[0; 16]].concat())), None, "bad receipt kind");
    assert_eq!(ContentEnvelope::decode(&with(&[&[KIND_RECEIPT, 0][..], &[0; 17]].concat())), None, "ragged ids");
    assert_eq!(ContentEnvelope::decode(&with(&[KIND_TIMER, 0, 0, 1])), None, "timer version cut short");
    assert_eq!(
        ContentEnvelope::decode(&with(&[&[KIND_EDIT][..], &[0; 16], &[KIND_EDIT]].concat())),
        None,
        "nested edit"
    );
    let unknown = ContentEnvelope::decode(&with(&[0x99, 1, 2, 3])).unwrap();
    assert_eq!(unknown.content, Content::Unknown { kind: 0x99, body: vec![1, 2, 3] });
}

/// A message id's text form is 32 lowercase hex digits, both ways.
#[test]
fn message_id_text_form() {
    let id = MessageId::from_bytes([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 0, 0, 0, 0, 0, 0xfe, 0xff]);
    let text = id.to_string();
    assert_eq!(text, "0123456789abcdef000000000000feff");
    assert_eq!(text.parse::<MessageId>(), Ok(id));
    assert_eq!(format!("{id:?}"), "MessageId(0123456789abcdef000000000000feff)");
    for bad in ["", "0123", "0123456789ABCDEF000000000000FEFF", "0123456789abcdef000000000000fefg", "é"] {
        assert_eq!(bad.parse::<MessageId>(), Err(ParseMessageIdError), "{bad}");
    }
    assert!(!ParseMessageIdError.to_string().is_empty());
}

/// Conversions give text for strings and payloads for bytes.
#[test]
fn conversions() {
    assert_eq!(Content::from(String::from("x")), Content::Text("x".into()));
    assert_eq!(Content::from(vec![1u8]), Content::Payload { kind: String::new(), bytes: vec![1] });
    assert_eq!(Content::from(b"ab").plain_bytes(), b"ab");
    assert_eq!(Content::from("ab").plain_bytes(), b"ab");
    assert_eq!(Content::Delete { target: MessageId::from_bytes([0; 16]) }.plain_bytes(), b"");
    assert_eq!(Content::from(&Content::from("y")), Content::Text("y".into()));
    assert_eq!(Destination::User("bob".into()).to_string(), "user bob");
    assert_eq!(Destination::Group(vec![0xab, 1]).to_string(), "group ab01");
    let mut secret = Content::Text("secret".into());
    secret.zeroize();
    assert_eq!(secret, Content::Text(String::new()));
}

proptest::proptest! {
    /// Any bytes decode to an envelope or to nothing, without panicking,
    /// and an envelope that decodes encodes back to the same bytes.
    #[test]
    fn any_bytes_decode_canonically(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        if let Some(env) = ContentEnvelope::decode(&bytes) {
            let mut again = Vec::new();
            env.encode(&mut again);
            proptest::prop_assert_eq!(again, bytes);
        }
    }
}

/// The JSON form of a content in `tests/vectors/content_envelope.json`.
fn content_json(content: &Content, timer_version: u32) -> serde_json::Value {
    use serde_json::json;
    match content {
        Content::Text(text) => json!({ "kind": "text", "text": text }),
        Content::Payload { kind, bytes } => json!({ "kind": "payload", "type": kind, "bytes": h(bytes) }),
        Content::Edit { target, content } => {
            json!({ "kind": "edit", "target": h(target.as_bytes()), "content": content_json(content, 0) })
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
        Content::Timer { seconds } => json!({ "kind": "timer", "seconds": seconds, "version": timer_version }),
        Content::Unknown { kind, body } => json!({ "kind": "unknown", "kind_byte": kind, "body": h(body) }),
        Content::Attachment(pointer) => json!({ "kind": "attachment", "pointer": h(pointer.to_bytes()) }),
    }
}

/// `tests/vectors/content_envelope.json` (docs/PROTOCOL.md §11, §13.12,
/// §13.13): envelopes of every kind with their bytes, envelopes a reader
/// must refuse, and padded lengths and bytes.
#[test]
fn vector_content_envelope() {
    use serde_json::json;
    let target = MessageId::from_bytes(*b"\x01\x23\x45\x67\x89\xab\xcd\xef\xfe\xdc\xba\x98\x76\x54\x32\x10");
    let mut contents = samples();
    contents.truncate(contents.len() - 2);
    contents.retain(|c| !matches!(c, Content::Receipt { ids, .. } if ids.len() > 2));
    contents.push(Content::Receipt { kind: ReceiptKind::Read, ids: vec![target, MessageId::from_bytes([0xee; 16])] });
    contents.push(Content::Unknown { kind: 0x42, body: b"from a newer version".to_vec() });
    let envelopes: Vec<_> = contents
        .into_iter()
        .enumerate()
        .map(|(n, content)| {
            let timer_version = if matches!(content, Content::Timer { .. }) { 7 } else { 0 };
            let timer = match content {
                Content::Timer { seconds } => seconds,
                _ => [0, 60, 86_400][n % 3],
            };
            let env = ContentEnvelope {
                id: MessageId::from_bytes([n as u8; 16]),
                sent_at: 1_800_000_000 + n as u64,
                timer,
                timer_version,
                content,
            };
            let mut bytes = Vec::new();
            env.encode(&mut bytes);
            assert_eq!(ContentEnvelope::decode(&bytes).as_ref(), Some(&env));
            json!({
                "id": h(env.id.as_bytes()),
                "sent_at": env.sent_at,
                "timer": env.timer,
                "content": content_json(&env.content, env.timer_version),
                "bytes": h(&bytes),
            })
        })
        .collect();
    let header = [&[0x5a; 16][..], &1_800_000_000u64.to_be_bytes(), &60u32.to_be_bytes()].concat();
    let with = |body: &[u8]| [&header[..], body].concat();
    let malformed: Vec<Vec<u8>> = vec![
        header[..27].to_vec(),
        header.clone(),
        with(&[KIND_TEXT, 0xc3]),
        with(&[KIND_PAYLOAD]),
        with(&[KIND_PAYLOAD, 3, b'a']),
        with(&[&[KIND_PAYLOAD, 65][..], &[b'k'; 65]].concat()),
        with(&[KIND_PAYLOAD, 1, 0xff]),
        with(&[&[KIND_EDIT][..], &[7; 16]].concat()),
        with(&[&[KIND_EDIT][..], &[7; 16], &[KIND_DELETE], &[7; 16]].concat()),
        with(&[&[KIND_DELETE][..], &[7; 15]].concat()),
        with(&[&[KIND_DELETE][..], &[7; 17]].concat()),
        with(&[&[KIND_REACTION][..], &[7; 16], &[0]].concat()),
        with(&[&[KIND_REACTION][..], &[7; 16], &[2, b'x']].concat()),
        with(&[&[KIND_REACTION][..], &[7; 16], &[0], &[b'e'; 65]].concat()),
        with(&[KIND_RECEIPT, 1]),
        with(&[&[KIND_RECEIPT, 2][..], &[7; 16]].concat()),
        with(&[&[KIND_RECEIPT, 0][..], &[7; 20]].concat()),
        with(&[&[KIND_RECEIPT, 0][..], &[7; 16 * (MAX_RECEIPT_MESSAGES + 1)]].concat()),
        with(&[KIND_TIMER, 0, 0, 0]),
        with(&[KIND_TIMER, 0, 0, 0, 1, 0]),
    ];
    for bytes in &malformed {
        assert_eq!(ContentEnvelope::decode(bytes), None, "{}", h(bytes));
    }
    let policies = [
        ("padme", 0usize, Padding::Padme),
        ("power_of_two", 1024, Padding::PowerOfTwo { cap: 1024 }),
        ("power_of_two", 100, Padding::PowerOfTwo { cap: 100 }),
        ("off", 0, Padding::Off),
    ];
    let lengths = [0usize, 1, 62, 63, 64, 65, 71, 72, 127, 128, 300, 511, 512, 1000, 1023, 1024, 1025, 4000, 70_000];
    let padded_lengths: Vec<_> = policies
        .iter()
        .flat_map(|(name, cap, p)| {
            lengths
                .iter()
                .map(move |len| json!({ "policy": name, "cap": cap, "len": len, "padded_len": p.padded_len(*len) }))
        })
        .collect();
    let examples: Vec<_> = [b"\x00hi".to_vec(), vec![0x11; 70]]
        .iter()
        .map(|plaintext| json!({ "policy": "padme", "plaintext": h(plaintext), "padded": h(&Padding::Padme.pad(plaintext)[..]) }))
        .collect();
    let unpad_refused: Vec<Vec<u8>> =
        vec![vec![], vec![0; 64], [&[0x00, 0x41][..], &[0; 62]].concat(), vec![0x80, 0x81]];
    for bytes in &unpad_refused {
        assert_eq!(unpad(bytes), None);
    }
    crate::vectors::check(
        "content_envelope.json",
        json!({
            "section": "docs/PROTOCOL.md §13.12, §13.13",
            "envelopes": envelopes,
            "malformed": malformed.iter().map(h).collect::<Vec<_>>(),
            "padded_lengths": padded_lengths,
            "padded": examples,
            "unpad_refused": unpad_refused.iter().map(h).collect::<Vec<_>>(),
        }),
    );
}

fn h(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}
