#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Attachments end to end (docs/PROTOCOL.md §14): a pointer sent in a
//! conversation and a group, the blob decrypted by its receivers, and the
//! tokio adapters.

mod common;

use dmseal::Content;
use dmseal::attachment::{self, AttachmentError, AttachmentPointer};

use self::common::world::*;

fn photo() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// The pointer a receiver got in a message.
fn pointer_in(content: Option<&Content>) -> AttachmentPointer {
    match content {
        Some(Content::Attachment(pointer)) => pointer.clone(),
        other => panic!("not an attachment: {other:?}"),
    }
}

#[test]
fn a_photo_sent_in_a_conversation_is_decrypted_by_its_receiver() {
    let (mut w, a, b) = alice_and_bob();
    let (blob, mut pointer) = attachment::encrypt(&photo()).unwrap();
    pointer.set_content_type("image/jpeg").unwrap();
    pointer.set_file_name("beach.jpg").unwrap();
    pointer.set_location("blob://7f3a").unwrap();
    let sent = w.send(&a, "bob", Content::Attachment(pointer.clone()), NOW);
    let received = w.get(&b).receive(&a, &sent[0].1, NOW).unwrap();
    let got = pointer_in(received.content());
    assert_eq!(got, pointer, "every field, the key included");
    assert_eq!((got.content_type(), got.file_name(), got.location()), ("image/jpeg", "beach.jpg", "blob://7f3a"));
    assert!(received.plaintext().is_empty(), "an attachment has no plaintext bytes of its own");
    w.get(&b).commit_received(received, vec![]).unwrap();
    assert_eq!(attachment::decrypt(&got, &blob).unwrap().as_slice(), &photo()[..]);
    // The message stays small (here a first message, with PQXDH's
    // prefix): the file went apart.
    assert!(sent[0].1.len() < 2_000, "{}", sent[0].1.len());
}

#[test]
fn a_group_shares_one_blob_and_one_pointer() {
    let (mut w, members) = group_world(b"family", &[addr("alice", 1), addr("bob", 1), addr("carol", 1)]);
    let (blob, pointer) = attachment::encrypt(&photo()).unwrap();
    let sent = send_group(&mut w, &members[0], b"family", Content::Attachment(pointer.clone()));
    for (device, bytes) in &sent.distributions.messages {
        let d = w.get(device);
        let keys = d.receive(&members[0], bytes, NOW).unwrap();
        d.commit_received(keys, vec![]).unwrap();
    }
    for member in &members[1..] {
        let d = w.get(member);
        let received = d.receive_group(b"family", &members[0], &sent.message, NOW).unwrap();
        let got = pointer_in(received.content());
        d.commit_received(received, vec![]).unwrap();
        assert_eq!(got, pointer);
        assert_eq!(attachment::decrypt(&got, &blob).unwrap().as_slice(), &photo()[..], "{member}");
    }
}

#[test]
fn a_blob_from_another_message_is_refused_with_this_pointer() {
    let (blob_a, _) = attachment::encrypt(b"first file").unwrap();
    let (_, pointer_b) = attachment::encrypt(b"second file").unwrap();
    assert_eq!(attachment::decrypt(&pointer_b, &blob_a).err(), Some(AttachmentError::WrongKey));
}

#[cfg(feature = "tokio")]
mod tokio_adapters {
    use dmseal::attachment::{AsyncAttachmentReader, AsyncAttachmentWriter, AttachmentError};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn file(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 253) as u8).collect()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_file_round_trips_through_tokio_files() {
        let data = file(3 * 65_536 + 999);
        let path = std::env::temp_dir().join(format!("dmseal-async-{}.blob", std::process::id()));
        let out = tokio::fs::File::create(&path).await.unwrap();
        let mut writer = AsyncAttachmentWriter::new(out);
        for piece in data.chunks(5_000) {
            writer.write_all(piece).await.unwrap();
        }
        let (out, pointer) = writer.finish().await.unwrap();
        out.sync_all().await.unwrap();
        drop(out);
        assert_eq!(tokio::fs::metadata(&path).await.unwrap().len(), pointer.blob_len());

        let blob = tokio::fs::File::open(&path).await.unwrap();
        let mut back = Vec::new();
        AsyncAttachmentReader::new(blob, &pointer).read_to_end(&mut back).await.unwrap();
        assert_eq!(back, data);
        tokio::fs::remove_file(&path).await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn shutdown_finishes_the_writer() {
        let mut writer = AsyncAttachmentWriter::new(Vec::new());
        writer.write_all(b"voice note").await.unwrap();
        assert!(writer.pointer().is_none());
        writer.shutdown().await.unwrap();
        let pointer = writer.pointer().unwrap().clone();
        let blob = writer.get_ref().clone();
        let mut back = Vec::new();
        AsyncAttachmentReader::new(&blob[..], &pointer).read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"voice note");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn damage_and_truncation_fail_the_async_reader_and_stay_failed() {
        let data = file(2 * 65_536 + 5);
        let mut writer = AsyncAttachmentWriter::new(Vec::new());
        writer.write_all(&data).await.unwrap();
        let (blob, pointer) = writer.finish().await.unwrap();

        let mut flipped = blob.clone();
        flipped[40_000] ^= 1;
        let mut reader = AsyncAttachmentReader::new(&flipped[..], &pointer);
        let mut sink = Vec::new();
        let err = reader.read_to_end(&mut sink).await.unwrap_err();
        assert_eq!(AttachmentError::from_io(&err), Some(&AttachmentError::Chunk { index: 0 }));
        assert!(sink.is_empty(), "nothing of a damaged chunk is released");
        assert!(reader.read_to_end(&mut sink).await.is_err(), "the error sticks");

        for cut in [10, 33, pointer.chunk_span(1).unwrap().end as usize, blob.len() - 1] {
            let mut back = Vec::new();
            let err = AsyncAttachmentReader::new(&blob[..cut], &pointer).read_to_end(&mut back).await.unwrap_err();
            assert_eq!(AttachmentError::from_io(&err), Some(&AttachmentError::Truncated), "cut at {cut}");
        }
    }
}
