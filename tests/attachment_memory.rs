#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! A 1 GiB attachment is encrypted to a file and decrypted back with the
//! process's resident memory growing by at most a few MiB. Alone in its
//! own test binary, so no other test's memory counts. Linux only (it
//! reads `/proc/self/status`).
//!
//! `cargo test --release --test attachment_memory -- --nocapture` prints
//! the measurements.

use std::io::{self, Read, Write};

use dmseal::attachment::{ATTACHMENT_CHUNK_LEN, AttachmentReader, AttachmentWriter};

const GIB: u64 = 1 << 30;
/// The most resident memory may grow: a few MiB.
const MAX_GROWTH: u64 = 8 << 20;

/// Byte `i` of the file.
fn byte_at(i: u64) -> u8 {
    (i ^ (i >> 11) ^ (i >> 23)) as u8
}

/// The file, generated as it is read: nothing of it is held.
struct Pattern {
    pos: u64,
    len: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.len - self.pos).min(buf.len() as u64) as usize;
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = byte_at(self.pos + k as u64);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A `/proc/self/status` field in bytes.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn a_one_gib_file_round_trips_in_a_few_mib_of_memory() {
    let Some(before) = status_kib("VmRSS:") else {
        eprintln!("no /proc/self/status: skipped");
        return;
    };
    let path = std::env::temp_dir().join(format!("dmseal-attachment-{}.blob", std::process::id()));
    let started = std::time::Instant::now();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = AttachmentWriter::new(io::BufWriter::with_capacity(ATTACHMENT_CHUNK_LEN, file));
    let copied = io::copy(&mut Pattern { pos: 0, len: GIB }, &mut writer).unwrap();
    assert_eq!(copied, GIB);
    let (file, pointer) = writer.finish().unwrap();
    drop(file);
    let encrypted = started.elapsed();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), pointer.blob_len());

    let started = std::time::Instant::now();
    let mut reader = AttachmentReader::new(io::BufReader::new(std::fs::File::open(&path).unwrap()), &pointer);
    let mut buf = vec![0u8; 100_000];
    let mut pos = 0u64;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for (k, &b) in buf[..n].iter().enumerate() {
            assert_eq!(b, byte_at(pos + k as u64), "byte {}", pos + k as u64);
        }
        pos += n as u64;
    }
    assert_eq!(pos, GIB);
    assert!(reader.digest_checked());
    let decrypted = started.elapsed();
    drop(reader);
    std::fs::remove_file(&path).unwrap();

    let peak = status_kib("VmHWM:").unwrap();
    let growth = peak.saturating_sub(before);
    println!(
        "1 GiB: blob {} bytes; encrypted in {encrypted:.2?}, decrypted and compared in {decrypted:.2?}; \
         resident memory {} KiB before, peak {} KiB: growth {} KiB",
        pointer.blob_len(),
        before / 1024,
        peak / 1024,
        growth / 1024
    );
    io::stdout().flush().unwrap();
    assert!(growth <= MAX_GROWTH, "resident memory grew by {growth} bytes");
}
