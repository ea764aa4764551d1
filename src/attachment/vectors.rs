//! `tests/vectors/attachments.json` (docs/PROTOCOL.md §11, §14): blobs of
//! several sizes from fixed keys, with the derived keys, every chunk's
//! nonce and tag, the digest and (for small files) every byte; pointers
//! and a content envelope carrying one; malformed pointers; and damaged
//! blobs with the error each must give.

use serde_json::{Value, json};

use super::layout::{ChunkKeys, Layout, chunk_nonce};
use super::*;
use crate::content::{Content, ContentEnvelope, MessageId};
use crate::primitives::kdf::hkdf_sha256;
use crate::vectors::{check, h};

/// The file of a vector: byte `i` is `i mod 251`.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn seal(key: [u8; 32], file: &[u8]) -> (Vec<u8>, AttachmentPointer) {
    let mut encryptor = AttachmentEncryptor::with_key(key);
    let mut blob = Vec::new();
    encryptor.update(file, &mut blob).unwrap();
    loop {
        if let Some(pointer) = encryptor.finish(&mut blob).unwrap() {
            return (blob, pointer);
        }
    }
}

fn blob_case(n: u8, size: usize) -> (Value, Vec<u8>, AttachmentPointer) {
    let key = [n; 32];
    let (blob, pointer) = seal(key, &pattern(size));
    let layout = Layout::new(size as u64).unwrap();
    let okm: zeroize::Zeroizing<[u8; 64]> = hkdf_sha256(&[], &key, &[crate::labels::KDF_ATTACHMENT]);
    let keys = ChunkKeys::derive(&key);
    let chunks: Vec<Value> = (0..layout.chunks)
        .map(|i| {
            let span = pointer.chunk_span(i).unwrap();
            json!({
                "index": i,
                "offset": span.start,
                "plaintext_len": layout.plain_len(i),
                "nonce": h(&chunk_nonce(i, layout.is_last(i))),
                "tag": h(&blob[span.end as usize - 16..span.end as usize]),
            })
        })
        .collect();
    assert_eq!(decrypt(&pointer, &blob).unwrap().as_slice(), &pattern(size)[..]);
    let case = json!({
        "key": h(&key),
        "size": size,
        "padded_len": layout.padded,
        "chunk_count": layout.chunks,
        "blob_len": layout.blob_len(),
        "chunk_key": h(&okm[..32]),
        "commitment": h(&okm[32..]),
        "header": h(&keys.header()),
        "chunks": chunks,
        "digest": h(pointer.digest()),
        "blob": (blob.len() <= 4096).then(|| h(&blob)),
    });
    (case, blob, pointer)
}

/// A damaged copy of `blob` and the error it must give.
fn damage(name: &str, op: Value, error: &AttachmentError, pointer: &AttachmentPointer, blob: &[u8]) -> Value {
    let mut damaged = blob.to_vec();
    apply(&op, pointer, blob, &mut damaged);
    check_refused(name, json!({ "name": name, "damage": op }), error, pointer, &damaged)
}

/// Several changes, applied in order.
fn damage_all(name: &str, ops: Value, error: &AttachmentError, pointer: &AttachmentPointer, blob: &[u8]) -> Value {
    let mut damaged = blob.to_vec();
    for op in ops.as_array().unwrap() {
        apply(op, pointer, blob, &mut damaged);
    }
    check_refused(name, json!({ "name": name, "damages": ops }), error, pointer, &damaged)
}

fn apply(op: &Value, pointer: &AttachmentPointer, blob: &[u8], damaged: &mut Vec<u8>) {
    match (op["op"].as_str().unwrap(), op["at"].as_u64().map(|a| a as usize)) {
        ("truncate", Some(at)) => damaged.truncate(at),
        ("flip", Some(at)) => damaged[at] ^= 0x01,
        ("append", _) => damaged.push(0),
        ("swap_chunks", _) => {
            let (a, b) = (pointer.chunk_span(0).unwrap(), pointer.chunk_span(1).unwrap());
            let first = blob[a.start as usize..a.end as usize].to_vec();
            let second = blob[b.start as usize..b.end as usize].to_vec();
            damaged[a.start as usize..a.end as usize].copy_from_slice(&second);
            damaged[b.start as usize..b.end as usize].copy_from_slice(&first);
        }
        ("set_version", _) => damaged[0] = 2,
        other => panic!("{other:?}"),
    }
}

fn check_refused(
    name: &str,
    mut entry: Value,
    error: &AttachmentError,
    pointer: &AttachmentPointer,
    damaged: &[u8],
) -> Value {
    assert_eq!(decrypt(pointer, damaged).err().as_ref(), Some(error), "{name}");
    let (error_name, index) = match error {
        AttachmentError::Chunk { index } => ("Chunk", Some(index)),
        AttachmentError::Padding { index } => ("Padding", Some(index)),
        AttachmentError::Truncated => ("Truncated", None),
        AttachmentError::TrailingBytes => ("TrailingBytes", None),
        AttachmentError::WrongKey => ("WrongKey", None),
        AttachmentError::UnsupportedVersion(_) => ("UnsupportedVersion", None),
        AttachmentError::DigestMismatch => ("DigestMismatch", None),
        other => panic!("{other:?}"),
    };
    entry["error"] = json!(error_name);
    entry["chunk"] = json!(index);
    entry
}

#[test]
fn vector_attachments() {
    let mut blobs = Vec::new();
    let mut kept = Vec::new();
    for (n, size) in [(1u8, 0usize), (2, 5), (3, 1024), (4, 1025), (5, 65_536), (6, 65_537), (7, 140_000)] {
        let (case, blob, pointer) = blob_case(n, size);
        blobs.push(case);
        kept.push((blob, pointer));
    }
    let (blob, pointer) = &kept[6];
    let (start1, end1) = {
        let s = pointer.chunk_span(1).unwrap();
        (s.start, s.end)
    };
    let damaged = vec![
        damage(
            "cut inside the header",
            json!({ "op": "truncate", "at": 20 }),
            &AttachmentError::Truncated,
            pointer,
            blob,
        ),
        damage(
            "cut at the end of chunk 1",
            json!({ "op": "truncate", "at": end1 }),
            &AttachmentError::Truncated,
            pointer,
            blob,
        ),
        damage(
            "cut inside chunk 1",
            json!({ "op": "truncate", "at": start1 + 100 }),
            &AttachmentError::Truncated,
            pointer,
            blob,
        ),
        damage(
            "the last byte dropped",
            json!({ "op": "truncate", "at": blob.len() - 1 }),
            &AttachmentError::Truncated,
            pointer,
            blob,
        ),
        damage("a byte appended", json!({ "op": "append" }), &AttachmentError::TrailingBytes, pointer, blob),
        damage(
            "chunks 0 and 1 swapped",
            json!({ "op": "swap_chunks" }),
            &AttachmentError::Chunk { index: 0 },
            pointer,
            blob,
        ),
        damage(
            "a bit of chunk 1 flipped",
            json!({ "op": "flip", "at": start1 + 7 }),
            &AttachmentError::Chunk { index: 1 },
            pointer,
            blob,
        ),
        damage(
            "a bit of the last tag flipped",
            json!({ "op": "flip", "at": blob.len() - 1 }),
            &AttachmentError::Chunk { index: 2 },
            pointer,
            blob,
        ),
        damage(
            "a bit of the commitment flipped",
            json!({ "op": "flip", "at": 5 }),
            &AttachmentError::WrongKey,
            pointer,
            blob,
        ),
        damage("version 2", json!({ "op": "set_version" }), &AttachmentError::UnsupportedVersion(2), pointer, blob),
    ];

    // Two faults: the first failing part names the error.
    let start2 = pointer.chunk_span(2).unwrap().start;
    let two_faults = vec![
        damage_all(
            "a bit of chunk 0 flipped, and the blob cut inside chunk 2",
            json!([{ "op": "flip", "at": 40 }, { "op": "truncate", "at": start2 + 5 }]),
            &AttachmentError::Chunk { index: 0 },
            pointer,
            blob,
        ),
        damage_all(
            "a bit of the last tag flipped, and a byte appended",
            json!([{ "op": "flip", "at": blob.len() - 1 }, { "op": "append" }]),
            &AttachmentError::Chunk { index: 2 },
            pointer,
            blob,
        ),
    ];

    // A blob cut after chunk 0 and read as a one-chunk file (a forged
    // size): chunk 0 was not sealed as the last.
    let (blob6, pointer6) = &kept[5];
    let mut forged = pointer6.to_bytes().to_vec();
    forged[64..72].copy_from_slice(&65_536u64.to_be_bytes());
    let forged = AttachmentPointer::from_bytes(&forged).unwrap();
    let cut = &blob6[..pointer6.chunk_span(0).unwrap().end as usize];
    assert_eq!(decrypt(&forged, cut).err(), Some(AttachmentError::Chunk { index: 0 }));

    // Another file under the same key: every chunk authenticates, the
    // digest does not match.
    let (other, _) = seal([2; 32], b"other");
    assert_eq!(decrypt(&kept[1].1, &other).err(), Some(AttachmentError::DigestMismatch));
    // Non-zero padding: six bytes read as a five-byte file.
    let (six, six_pointer) = seal([2; 32], b"\x00\x01\x02\x03\x04\x05");
    let mut as_five = six_pointer.to_bytes().to_vec();
    as_five[64..72].copy_from_slice(&5u64.to_be_bytes());
    let as_five = AttachmentPointer::from_bytes(&as_five).unwrap();
    assert_eq!(decrypt(&as_five, &six).err(), Some(AttachmentError::Padding { index: 0 }));

    let mut pointer = kept[6].1.clone();
    pointer.set_content_type("video/mp4").unwrap();
    pointer.set_file_name("clip.mp4").unwrap();
    pointer.set_location("https://blobs.example/v/1").unwrap();
    let envelope = ContentEnvelope {
        id: MessageId::from_bytes([0x31; 16]),
        sent_at: 1_800_000_000,
        timer: 0,
        timer_version: 0,
        content: Content::Attachment(pointer.clone()),
    };
    let mut envelope_bytes = Vec::new();
    envelope.encode(&mut envelope_bytes);
    assert_eq!(ContentEnvelope::decode(&envelope_bytes).as_ref(), Some(&envelope));
    let bare = kept[0].1.to_bytes();

    let mut malformed = Vec::new();
    let encoded = pointer.to_bytes().to_vec();
    malformed.push(json!({ "name": "cut inside the size", "bytes": h(&encoded[..70]) }));
    malformed.push(json!({ "name": "cut inside the location", "bytes": h(&encoded[..encoded.len() - 1]) }));
    let mut extra = encoded.clone();
    extra.push(0);
    malformed.push(json!({ "name": "a byte after the location", "bytes": h(&extra) }));
    let mut big = encoded.clone();
    big[64..72].copy_from_slice(&(MAX_ATTACHMENT_LEN + 1).to_be_bytes());
    malformed.push(json!({ "name": "size past 2^40", "bytes": h(&big) }));
    let mut long_type = encoded[..72].to_vec();
    long_type.push(129);
    long_type.extend_from_slice(&[b'a'; 129]);
    long_type.extend_from_slice(&[0, 0, 0]);
    malformed.push(json!({ "name": "content type of 129 bytes", "bytes": h(&long_type) }));
    let mut long_location = encoded[..72].to_vec();
    long_location.extend_from_slice(&[0, 0, 0x08, 0x01]);
    long_location.extend_from_slice(&[b'a'; 2049]);
    malformed.push(json!({ "name": "location of 2,049 bytes", "bytes": h(&long_location) }));
    let mut not_utf8 = encoded[..72].to_vec();
    not_utf8.extend_from_slice(&[0, 1, 0xff, 0, 0]);
    malformed.push(json!({ "name": "file name not UTF-8", "bytes": h(&not_utf8) }));
    for m in &malformed {
        let bytes = hex::decode(m["bytes"].as_str().unwrap()).unwrap();
        assert_eq!(AttachmentPointer::from_bytes(&bytes), Err(AttachmentError::MalformedPointer), "{}", m["name"]);
    }

    check(
        "attachments.json",
        json!({
            "description": "Attachment blobs (docs/PROTOCOL.md §14): the file of each case is byte i = i mod 251 for i < size. \
                Each case gives the key, the derived chunk key and commitment, the header, every chunk's nonce and tag, \
                the digest, and the whole blob when it is at most 4,096 bytes. `damaged` applies one change to the blob \
                of the last case (size 140,000) and names the error a reader must give; `two_faults` applies two, in \
                order, and names the error of the first failing part. `pointers` gives pointer \
                encodings and a content envelope (kind 0x08) carrying one; `malformed_pointers` must all be refused.",
            "blobs": blobs,
            "damaged": damaged,
            "two_faults": two_faults,
            "forged_size": {
                "note": "the blob of the 65,537-byte case cut after chunk 0 and read with its pointer's size set to 65,536: chunk 0 fails (it was not sealed as the last)",
                "case_size": 65_537,
                "cut_at": pointer6.chunk_span(0).unwrap().end,
                "size": 65_536,
                "error": "Chunk",
                "chunk": 0,
            },
            "same_key_other_file": {
                "note": "the 5-byte file \"other\" under the key of the size-5 case: read with that case's pointer, DigestMismatch; the 6-byte file 00..05 under the same key read as a 5-byte file: Padding in chunk 0",
                "other_blob": h(&other),
                "six_byte_blob": h(&six),
            },
            "pointers": [
                { "name": "the size-0 case, no fields", "size": 0, "digest": h(kept[0].1.digest()), "key": h(&[1; 32]), "bytes": h(&bare) },
                {
                    "name": "the size-140,000 case with fields",
                    "size": 140_000,
                    "content_type": "video/mp4",
                    "file_name": "clip.mp4",
                    "location": "https://blobs.example/v/1",
                    "bytes": h(&encoded),
                    "envelope": { "id": h(&[0x31; 16]), "sent_at": 1_800_000_000u64, "timer": 0, "bytes": h(&envelope_bytes) },
                },
            ],
            "malformed_pointers": malformed,
        }),
    );
}
