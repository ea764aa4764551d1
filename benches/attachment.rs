//! Criterion benchmarks of attachments: streaming encryption and
//! decryption against the raw primitives under them (ChaCha20-Poly1305 in
//! the same 64 KiB calls, and SHA-256), and the cost of a seek. Run with
//! `cargo bench --bench attachment`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Cursor, Read, Seek, SeekFrom};

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dmseal::attachment::{ATTACHMENT_CHUNK_LEN, AttachmentDecryptor, AttachmentEncryptor, AttachmentReader};
use sha2::{Digest, Sha256};

/// 16 MiB: a power of two, so Padmé adds no padding and every variant
/// handles the same bytes.
const SIZE: usize = 16 << 20;

fn encrypt_all(file: &[u8], blob: &mut Vec<u8>) -> dmseal::attachment::AttachmentPointer {
    blob.clear();
    let mut encryptor = AttachmentEncryptor::new();
    encryptor.update(file, blob).unwrap();
    loop {
        if let Some(pointer) = encryptor.finish(blob).unwrap() {
            return pointer;
        }
    }
}

fn throughput(c: &mut Criterion) {
    let file = vec![0x5a_u8; SIZE];
    let mut g = c.benchmark_group("attachment 16 MiB");
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.sample_size(20);

    let cipher = ChaCha20Poly1305::new(&[7u8; 32].into());
    let mut buf = file.clone();
    g.bench_function("raw ChaCha20-Poly1305, 64 KiB calls", |b| {
        b.iter(|| {
            for (i, chunk) in buf.chunks_mut(ATTACHMENT_CHUNK_LEN).enumerate() {
                let mut nonce = [0u8; 12];
                nonce[3..11].copy_from_slice(&(i as u64).to_be_bytes());
                std::hint::black_box(cipher.encrypt_inout_detached(&nonce.into(), &[], chunk.into()).unwrap());
            }
        });
    });
    g.bench_function("raw SHA-256", |b| b.iter(|| std::hint::black_box(Sha256::digest(&file))));

    let mut blob = Vec::with_capacity(SIZE + SIZE / 1000 + 100);
    g.bench_function("encrypt (chunks and digest)", |b| b.iter(|| encrypt_all(&file, &mut blob)));

    let pointer = encrypt_all(&file, &mut blob);
    let mut out = Vec::with_capacity(SIZE);
    g.bench_function("decrypt, streaming (chunks and digest)", |b| {
        b.iter(|| {
            out.clear();
            let mut decryptor = AttachmentDecryptor::new(&pointer);
            decryptor.update(&blob, &mut out).unwrap();
            decryptor.finish().unwrap();
        });
    });
    g.bench_function("decrypt, chunk by chunk (chunks only, no digest)", |b| {
        let decryptor = AttachmentDecryptor::new(&pointer);
        b.iter(|| {
            out.clear();
            for index in 0..pointer.chunk_count() {
                let span = pointer.chunk_span(index).unwrap();
                decryptor.open_chunk(index, &blob[span.start as usize..span.end as usize], &mut out).unwrap();
            }
        });
    });
    g.bench_function("decrypt, io::Read adapter (chunks and digest)", |b| {
        b.iter(|| {
            out.clear();
            let mut reader = AttachmentReader::new(&blob[..], &pointer);
            reader.read_to_end(&mut out).unwrap();
        });
    });
    g.finish();

    let mut g = c.benchmark_group("attachment seek");
    let mut reader = AttachmentReader::new(Cursor::new(&blob[..]), &pointer);
    let mut position = 0u64;
    g.bench_function("seek and read 1 byte (one chunk read and decrypted)", |b| {
        b.iter(|| {
            // A different chunk every time.
            position = (position + 7 * ATTACHMENT_CHUNK_LEN as u64 + 12_345) % SIZE as u64;
            reader.seek(SeekFrom::Start(position)).unwrap();
            let mut byte = [0u8; 1];
            reader.read_exact(&mut byte).unwrap();
        });
    });
    g.bench_function("open a reader, seek and read 1 byte (key derivation and header too)", |b| {
        b.iter(|| {
            position = (position + 7 * ATTACHMENT_CHUNK_LEN as u64 + 12_345) % SIZE as u64;
            let mut reader = AttachmentReader::new(Cursor::new(&blob[..]), &pointer);
            reader.seek(SeekFrom::Start(position)).unwrap();
            let mut byte = [0u8; 1];
            reader.read_exact(&mut byte).unwrap();
        });
    });
    g.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
