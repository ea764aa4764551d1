//! Alice sends Bob a video: she encrypts the file as it streams from disk,
//! "uploads" the blob (here: writes it to a temporary directory), and
//! sends only a pointer in a message; Bob reads the pointer, decrypts the
//! whole blob to a file, then seeks into the middle the way a video
//! player does, decrypting only one chunk.
//!
//! Run with `cargo run --example attachment`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom};

use dmseal::attachment::{AttachmentReader, AttachmentWriter};
use dmseal::store::MemoryStore;
use dmseal::{Address, Content, ConversationConfig, Conversations, StorageKey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = 1_800_000_000;
    let dir = std::env::temp_dir().join(format!("dmseal-attachment-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    // A 3 MB "video" on Alice's disk.
    let video: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("holiday.mp4"), &video)?;

    // Alice encrypts it as it streams from the file: memory stays at a
    // few chunks whatever the file's size.
    let blob_path = dir.join("blob-7f3a");
    let mut writer = AttachmentWriter::new(BufWriter::new(File::create(&blob_path)?));
    io::copy(&mut BufReader::new(File::open(dir.join("holiday.mp4"))?), &mut writer)?;
    let (_, mut pointer) = writer.finish()?;
    // In an app: upload the blob, then name where it went.
    pointer.set_content_type("video/mp4")?;
    pointer.set_file_name("holiday.mp4")?;
    pointer.set_location(&blob_path.to_string_lossy())?;
    println!(
        "Alice encrypted {} bytes into a {}-byte blob ({} chunks; the server sees only the size bucket)",
        pointer.size(),
        std::fs::metadata(&blob_path)?.len(),
        pointer.chunk_count()
    );

    // She sends the pointer to Bob like any message.
    let (alice, bob) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    let config = ConversationConfig::default();
    let mut alice_phone = Conversations::open(MemoryStore::new(), StorageKey::generate(), alice.clone(), config)?;
    let mut bob_phone = Conversations::open(MemoryStore::new(), StorageKey::generate(), bob.clone(), config)?;
    alice_phone.set_devices("bob", &[1])?;
    bob_phone.set_devices("alice", &[1])?;
    let bundle = bob_phone.account().prekey_bundle(None, None)?;
    let sent = alice_phone.send("bob", Content::Attachment(pointer), &[(bob, bundle)], now)?;
    let (_, message) = sent.messages.first().ok_or("one message, to Bob's device")?;
    println!("the message carrying the pointer is {} bytes", message.len());

    // Bob reads it and finds the pointer: key, digest, size, type, name, location.
    let received = bob_phone.receive(&alice, message, now)?;
    let Some(Content::Attachment(pointer)) = received.content().cloned() else {
        return Err("expected an attachment".into());
    };
    bob_phone.commit_received(received, vec![])?;
    println!("Bob got {} ({}, {} bytes)", pointer.file_name(), pointer.content_type(), pointer.size());

    // He downloads the blob and decrypts it to a file. The reader checks
    // every chunk before returning it, and the digest before the end.
    let blob = BufReader::new(File::open(pointer.location())?);
    let mut reader = AttachmentReader::new(blob, &pointer);
    let saved = dir.join("bob-holiday.mp4");
    io::copy(&mut reader, &mut BufWriter::new(File::create(&saved)?))?;
    assert!(reader.digest_checked());
    assert_eq!(std::fs::read(&saved)?, video);
    println!("Bob saved the video; every chunk and the blob's digest checked");

    // A player seeking to 2,000,000 bytes decrypts only the chunk there.
    let mut player = AttachmentReader::new(File::open(pointer.location())?, &pointer);
    player.seek(SeekFrom::Start(2_000_000))?;
    let mut frame = [0u8; 16];
    player.read_exact(&mut frame)?;
    assert_eq!(Some(&frame[..]), video.get(2_000_000..2_000_016));
    println!("seeking to byte 2,000,000 read chunk {} alone", pointer.chunk_of(2_000_000).unwrap_or_default());

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
