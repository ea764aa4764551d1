//! Attachment round trips, and every way of damaging a blob.

use std::io::{Read, Seek, SeekFrom, Write};

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;

const CHUNK: usize = ATTACHMENT_CHUNK_LEN;

/// A file of `len` bytes that differs at every position.
fn file(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31) ^ ((i >> 8) as u8) ^ seed).collect()
}

/// Encrypts `data` with a key from `seed`, writing in pieces of `step`.
fn seal(data: &[u8], seed: u64, step: usize) -> (Vec<u8>, AttachmentPointer) {
    let mut encryptor = AttachmentEncryptor::new_with_rng(&mut ChaCha20Rng::seed_from_u64(seed));
    let mut blob = Vec::new();
    for piece in data.chunks(step.max(1)) {
        encryptor.update(piece, &mut blob).unwrap();
    }
    let pointer = loop {
        if let Some(pointer) = encryptor.finish(&mut blob).unwrap() {
            break pointer;
        }
    };
    assert_eq!(blob.len() as u64, pointer.blob_len());
    (blob, pointer)
}

/// Decrypts `blob` through the streaming decryptor in pieces of `step`.
fn open(pointer: &AttachmentPointer, blob: &[u8], step: usize) -> Result<Vec<u8>, AttachmentError> {
    let mut decryptor = AttachmentDecryptor::new(pointer);
    let mut out = Vec::new();
    for piece in blob.chunks(step.max(1)) {
        decryptor.update(piece, &mut out)?;
    }
    decryptor.finish()?;
    Ok(out)
}

/// Decrypts `blob` through the `Read` adapter.
fn read_all(pointer: &AttachmentPointer, blob: &[u8]) -> Result<Vec<u8>, AttachmentError> {
    let mut out = Vec::new();
    AttachmentReader::new(blob, pointer)
        .read_to_end(&mut out)
        .map_err(|e| AttachmentError::from_io(&e).cloned().unwrap_or(AttachmentError::Finished))?;
    Ok(out)
}

/// Every way of decrypting refuses `blob` with `expected`.
fn refused(pointer: &AttachmentPointer, blob: &[u8], expected: &AttachmentError) {
    assert_eq!(open(pointer, blob, blob.len()).as_ref(), Err(expected), "one piece");
    assert_eq!(open(pointer, blob, 1000).as_ref(), Err(expected), "pieces of 1,000");
    assert_eq!(read_all(pointer, blob).as_ref(), Err(expected), "the reader");
    assert_eq!(decrypt(pointer, blob).map(|f| f.to_vec()).as_ref(), Err(expected), "decrypt");
}

/// A pointer like `pointer` but for `size` bytes (a forged size).
fn resized(pointer: &AttachmentPointer, size: u64) -> AttachmentPointer {
    let mut bytes = pointer.to_bytes().to_vec();
    bytes[64..72].copy_from_slice(&size.to_be_bytes());
    AttachmentPointer::from_bytes(&bytes).unwrap()
}

/// Sizes around the chunk length and the padding minimum read back
/// through every path, written in any piece size.
#[test]
fn files_of_every_shape_round_trip() {
    for len in [0, 1, 1023, 1024, 1025, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5] {
        let data = file(len, 1);
        for step in [1usize << 20, 7_000, CHUNK] {
            let (blob, pointer) = seal(&data, len as u64, step);
            assert_eq!(pointer.size(), len as u64);
            assert_eq!(open(&pointer, &blob, 4096).unwrap(), data, "{len} {step}");
            assert_eq!(read_all(&pointer, &blob).unwrap(), data);
            assert_eq!(decrypt(&pointer, &blob).unwrap().as_slice(), &data[..]);
        }
    }
}

/// An empty file is one chunk of padding: 1,073 bytes.
#[test]
fn an_empty_file_is_a_minimum_sized_blob() {
    let (blob, pointer) = encrypt(&[]).unwrap();
    assert_eq!((pointer.size(), blob.len(), pointer.chunk_count()), (0, 33 + 1024 + 16, 1));
    assert_eq!(decrypt(&pointer, &blob).unwrap().len(), 0);
    let mut reader = AttachmentReader::new(&blob[..], &pointer);
    assert_eq!(reader.read(&mut [0u8; 10]).unwrap(), 0);
    assert!(reader.digest_checked(), "the padding chunk was read and the digest checked");
}

/// Two encryptions of one file differ: each has its own key.
#[test]
fn every_file_gets_its_own_key() {
    let data = file(5000, 0);
    let (a, pa) = encrypt(&data).unwrap();
    let (b, pb) = encrypt(&data).unwrap();
    assert_ne!(a, b);
    assert_ne!(pa.digest(), pb.digest());
    assert_eq!(decrypt(&pb, &a).err(), Some(AttachmentError::WrongKey));
}

/// The blob cut at and between every chunk boundary is refused as
/// truncated, by every path.
#[test]
fn truncation_at_and_between_every_chunk_boundary_is_refused() {
    let (blob, pointer) = seal(&file(3 * CHUNK + 100, 2), 3, CHUNK);
    let mut cuts = vec![0, 1, 32, 33, 34];
    for index in 0..pointer.chunk_count() {
        let span = pointer.chunk_span(index).unwrap();
        let (start, end) = (span.start as usize, span.end as usize);
        cuts.extend([start + 1, start + 16, (start + end) / 2, end - 17, end - 16, end - 1, end]);
    }
    cuts.retain(|&cut| cut < blob.len());
    for cut in cuts {
        refused(&pointer, &blob[..cut], &AttachmentError::Truncated);
    }
}

/// A blob cut after a chunk and passed off as a shorter file (its
/// pointer's size forged to match) fails: the chunk was not sealed as the
/// last.
#[test]
fn a_blob_cut_at_a_chunk_boundary_does_not_pass_as_a_shorter_file() {
    let (blob, pointer) = seal(&file(2 * CHUNK + 10, 3), 4, CHUNK);
    let shorter = resized(&pointer, CHUNK as u64);
    let cut = &blob[..pointer.chunk_span(0).unwrap().end as usize];
    refused(&shorter, cut, &AttachmentError::Chunk { index: 0 });
}

/// Two chunks swapped, a chunk repeated, a chunk from another file under
/// another key, a flipped bit anywhere: the chunk is named.
#[test]
fn swapped_repeated_foreign_and_flipped_chunks_are_refused() {
    let data = file(3 * CHUNK, 4);
    let (blob, pointer) = seal(&data, 5, CHUNK);
    let span = |i: u64| {
        let s = pointer.chunk_span(i).unwrap();
        s.start as usize..s.end as usize
    };
    // Chunks 0 and 1 have the same length: swap them.
    let mut swapped = blob.clone();
    swapped[span(0)].copy_from_slice(&blob[span(1)]);
    swapped[span(1)].copy_from_slice(&blob[span(0)]);
    refused(&pointer, &swapped, &AttachmentError::Chunk { index: 0 });
    let mut repeated = blob.clone();
    repeated[span(1)].copy_from_slice(&blob[span(0)]);
    refused(&pointer, &repeated, &AttachmentError::Chunk { index: 1 });
    // The same chunk of another file of the same size.
    let (other, _) = seal(&file(3 * CHUNK, 9), 6, CHUNK);
    let mut foreign = blob.clone();
    foreign[span(1)].copy_from_slice(&other[span(1)]);
    refused(&pointer, &foreign, &AttachmentError::Chunk { index: 1 });
    for at in [span(0).start, span(1).start + 100, span(2).end - 1] {
        let mut flipped = blob.clone();
        flipped[at] ^= 0x01;
        let index = (0..3).find(|&i| span(i).contains(&at)).unwrap();
        refused(&pointer, &flipped, &AttachmentError::Chunk { index });
    }
    // A blob of another file, under its own header.
    let (_, other_pointer) = seal(&file(3 * CHUNK, 9), 6, CHUNK);
    refused(&other_pointer, &blob, &AttachmentError::WrongKey);
}

/// The wrong key, a flipped header and an unknown version.
#[test]
fn wrong_key_and_bad_headers_are_refused() {
    let (blob, pointer) = seal(&file(10_000, 5), 7, CHUNK);
    let mut wrong = pointer.to_bytes().to_vec();
    wrong[0] ^= 1;
    refused(&AttachmentPointer::from_bytes(&wrong).unwrap(), &blob, &AttachmentError::WrongKey);
    let mut header = blob.clone();
    header[20] ^= 1;
    refused(&pointer, &header, &AttachmentError::WrongKey);
    let mut version = blob.clone();
    version[0] = 2;
    refused(&pointer, &version, &AttachmentError::UnsupportedVersion(2));
    // open_chunk needs no header: the chunk itself fails under a wrong key.
    let wrong = AttachmentDecryptor::new(&AttachmentPointer::from_bytes(&wrong).unwrap());
    let span = pointer.chunk_span(0).unwrap();
    assert_eq!(
        wrong.open_chunk(0, &blob[span.start as usize..span.end as usize], &mut Vec::new()).err(),
        Some(AttachmentError::Chunk { index: 0 })
    );
}

/// Bytes after the last chunk are refused.
#[test]
fn trailing_bytes_are_refused() {
    let (mut blob, pointer) = seal(&file(CHUNK + 3, 6), 8, CHUNK);
    blob.push(0);
    refused(&pointer, &blob, &AttachmentError::TrailingBytes);
}

/// An encryptor under the key of `pointer` (what a holder of the key can
/// do), to make blobs whose chunks all authenticate.
fn encryptor_with_key_of(pointer: &AttachmentPointer) -> AttachmentEncryptor {
    AttachmentEncryptor::with_key(*pointer.key)
}

/// Another file of the same size under the same key: every chunk
/// authenticates, and the digest catches it.
#[test]
fn another_blob_under_the_same_key_fails_the_digest() {
    let (blob, pointer) = seal(&file(2 * CHUNK, 7), 9, CHUNK);
    let mut forger = encryptor_with_key_of(&pointer);
    let mut forged = Vec::new();
    forger.update(&file(2 * CHUNK, 8), &mut forged).unwrap();
    while forger.finish(&mut forged).unwrap().is_none() {}
    assert_ne!(forged, blob);
    refused(&pointer, &forged, &AttachmentError::DigestMismatch);
    // Chunk by chunk, it reads: range reads trust the key alone.
    let decryptor = AttachmentDecryptor::new(&pointer);
    let span = pointer.chunk_span(1).unwrap();
    assert!(decryptor.open_chunk(1, &forged[span.start as usize..span.end as usize], &mut Vec::new()).is_ok());
}

/// Non-zero bytes in the padding (only a key holder can put them there)
/// are refused.
#[test]
fn non_zero_padding_is_refused() {
    let (_, pointer) = seal(&file(1000, 7), 10, CHUNK);
    let mut forger = encryptor_with_key_of(&pointer);
    let mut forged = Vec::new();
    forger.update(&[1u8; 1001], &mut forged).unwrap();
    let forged_pointer = loop {
        if let Some(p) = forger.finish(&mut forged).unwrap() {
            break p;
        }
    };
    // The same blob read as a 1,000-byte file: byte 1,000 is padding.
    let short = resized(&forged_pointer, 1000);
    refused(&short, &forged, &AttachmentError::Padding { index: 0 });
}

/// A refused chunk leaves nothing behind: the decryptor keeps the chunks
/// before it and waits for it again from its start, also when the damage
/// was in bytes an earlier call gave.
#[test]
fn a_refused_chunk_is_given_again_from_its_start() {
    let data = file(3 * CHUNK, 11);
    let (blob, pointer) = seal(&data, 11, CHUNK);
    let span = |i: u64| pointer.chunk_span(i).unwrap();
    // Damage at the end of chunk 2, in a call that also completes chunk 1.
    let mut decryptor = AttachmentDecryptor::new(&pointer);
    let mut out = Vec::new();
    let split = span(1).start as usize + 500;
    decryptor.update(&blob[..split], &mut out).unwrap();
    assert_eq!((out.len(), decryptor.blob_offset()), (CHUNK, split as u64));
    let mut bad = blob[split..].to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(decryptor.update(&bad, &mut out), Err(AttachmentError::Chunk { index: 2 }));
    assert_eq!(out, &data[..2 * CHUNK], "chunk 1 is kept, nothing of chunk 2");
    assert_eq!(decryptor.blob_offset(), span(2).start);
    assert_eq!(decryptor.finish(), Err(AttachmentError::Truncated), "finish changes nothing");
    decryptor.update(&blob[span(2).start as usize..], &mut out).unwrap();
    decryptor.finish().unwrap();
    assert_eq!(out, data);

    // Damage in the bytes of chunk 1 an earlier call left pending.
    let mut damaged = blob.clone();
    damaged[span(1).start as usize + 10] ^= 1;
    let mut decryptor = AttachmentDecryptor::new(&pointer);
    let mut out = Vec::new();
    decryptor.update(&damaged[..split], &mut out).unwrap();
    assert_eq!(decryptor.update(&damaged[split..], &mut out), Err(AttachmentError::Chunk { index: 1 }));
    assert_eq!((out.len() as u64, decryptor.blob_offset()), (CHUNK as u64, span(1).start));
    decryptor.update(&blob[span(1).start as usize..], &mut out).unwrap();
    decryptor.finish().unwrap();
    assert_eq!(out, data);
    // After the end, a byte more is refused and changes nothing.
    assert_eq!(decryptor.update(&[0], &mut out), Err(AttachmentError::TrailingBytes));
    decryptor.finish().unwrap();
}

/// Faults are found part by part, in order: the first failing part
/// names the error, whatever follows it.
#[test]
fn the_first_failing_part_names_the_error() {
    let (blob, pointer) = seal(&file(2 * CHUNK + 100, 12), 12, CHUNK);
    let mut two = blob.clone();
    two[40] ^= 1;
    two.truncate(pointer.chunk_span(2).unwrap().start as usize + 5);
    refused(&pointer, &two, &AttachmentError::Chunk { index: 0 });
    let mut last_and_extra = blob.clone();
    let end = last_and_extra.len() - 1;
    last_and_extra[end] ^= 1;
    last_and_extra.push(0);
    refused(&pointer, &last_and_extra, &AttachmentError::Chunk { index: 2 });
    // A header check given more than the header reads only the header.
    let decryptor = AttachmentDecryptor::new(&pointer);
    decryptor.check_header(&blob).unwrap();
    assert_eq!(decryptor.check_header(&blob[..32]), Err(AttachmentError::Truncated));
    assert_eq!(decryptor.check_header(&[2]), Err(AttachmentError::Truncated), "lengths first");
}

/// The encryptor refuses plaintext past the limit, taking nothing, and
/// anything after it finished.
#[test]
fn the_encryptor_stops_at_its_limits() {
    let mut encryptor = AttachmentEncryptor::new();
    let mut out = Vec::new();
    encryptor.update(b"abc", &mut out).unwrap();
    encryptor.size = MAX_ATTACHMENT_LEN - 3;
    encryptor.update(b"abc", &mut out).unwrap();
    assert_eq!(encryptor.size(), MAX_ATTACHMENT_LEN, "at the limit");
    assert_eq!(
        encryptor.update(b"d", &mut out),
        Err(AttachmentError::TooLarge { max: MAX_ATTACHMENT_LEN }),
        "one past it"
    );
    assert_eq!(encryptor.size(), MAX_ATTACHMENT_LEN);
    let mut done = AttachmentEncryptor::new();
    assert!(done.finish(&mut out).unwrap().is_some());
    assert_eq!(done.finish(&mut out).err(), Some(AttachmentError::Finished));
    assert_eq!(done.update(b"x", &mut out), Err(AttachmentError::Finished));
}

/// The writer over `io::Write` makes the same kind of blob, whatever the
/// write sizes, and its pointer reads it.
#[test]
fn the_writer_and_reader_round_trip() {
    let data = file(2 * CHUNK + 777, 12);
    let mut writer = AttachmentWriter::new(Vec::new());
    assert_eq!(writer.write(&data).unwrap(), CHUNK, "one chunk per write");
    for piece in data[CHUNK..].chunks(10_000) {
        writer.write_all(piece).unwrap();
    }
    writer.flush().unwrap();
    let (blob, pointer) = writer.finish().unwrap();
    let mut reader = AttachmentReader::new(&blob[..], &pointer);
    let mut out = Vec::new();
    let mut buf = [0u8; 3000];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out, data);
    assert!(reader.digest_checked());
}

/// Seeking reads the right bytes and only the chunks it needs; a damaged
/// chunk fails only the reads that touch it.
#[test]
fn seeking_reads_only_the_chunks_it_touches() {
    let data = file(4 * CHUNK + 10, 13);
    let (mut blob, pointer) = seal(&data, 13, CHUNK);
    // Damage chunk 1: reads in chunks 0, 2, 3 and 4 still work.
    let bad = pointer.chunk_span(1).unwrap().start as usize + 5;
    blob[bad] ^= 1;
    let mut reader = AttachmentReader::new(std::io::Cursor::new(&blob), &pointer);
    let mut buf = vec![0u8; 100];
    for at in [3 * CHUNK as u64 + 7, 10, 2 * CHUNK as u64 - 50 + 50, 4 * CHUNK as u64] {
        reader.seek(SeekFrom::Start(at)).unwrap();
        reader.read_exact(&mut buf[..10]).unwrap();
        assert_eq!(&buf[..10], &data[at as usize..at as usize + 10]);
    }
    reader.seek(SeekFrom::Start(CHUNK as u64 + 3)).unwrap();
    let err = reader.read(&mut buf).unwrap_err();
    assert_eq!(AttachmentError::from_io(&err), Some(&AttachmentError::Chunk { index: 1 }));
    assert!(reader.read(&mut buf).is_err(), "a failed read sticks until a seek");
    assert_eq!(reader.seek(SeekFrom::End(-5)).unwrap(), data.len() as u64 - 5);
    let mut tail = Vec::new();
    reader.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, &data[data.len() - 5..]);
    assert!(!reader.digest_checked(), "chunks were skipped");
    assert!(reader.seek(SeekFrom::Current(-(data.len() as i64) - 1)).is_err(), "before the start");
}

/// Learning the size by seeking to the end, asking the position, and
/// seeking away and back before reading on keep the reader in place and
/// the digest checked; once checked it stays so.
#[test]
fn ordinary_seek_patterns_keep_the_digest_check() {
    let data = file(4 * CHUNK + 10, 20);
    let (blob, pointer) = seal(&data, 20, CHUNK);
    let mut reader = AttachmentReader::new(std::io::Cursor::new(&blob), &pointer);
    assert_eq!(reader.seek(SeekFrom::End(0)).unwrap(), data.len() as u64);
    assert_eq!(reader.stream_position().unwrap(), data.len() as u64);
    reader.seek(SeekFrom::Start(0)).unwrap();
    let mut head = [0u8; 10];
    reader.read_exact(&mut head).unwrap();
    // Away to chunk 3 without reading, then back into the held chunk 0.
    reader.seek(SeekFrom::Start(3 * CHUNK as u64 + 5)).unwrap();
    reader.seek(SeekFrom::Start(10)).unwrap();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, &data[10..]);
    assert!(reader.digest_checked(), "every chunk was read in order");
    reader.seek(SeekFrom::Start(CHUNK as u64)).unwrap();
    reader.read_exact(&mut head).unwrap();
    assert_eq!(&head, &data[CHUNK..CHUNK + 10]);
    assert!(reader.digest_checked(), "stays checked");
}

/// A blob inside a larger file (after 1,000 other bytes) seeks from its
/// own start.
#[test]
fn a_blob_inside_a_larger_file_seeks_from_its_own_start() {
    let data = file(3 * CHUNK, 21);
    let (blob, pointer) = seal(&data, 21, CHUNK);
    let mut container = vec![0xee; 1000];
    container.extend_from_slice(&blob);
    let mut cursor = std::io::Cursor::new(&container);
    cursor.set_position(1000);
    let mut reader = AttachmentReader::new(cursor.clone(), &pointer);
    reader.seek(SeekFrom::Start(2 * CHUNK as u64 + 3)).unwrap();
    let mut buf = [0u8; 20];
    reader.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, &data[2 * CHUNK + 3..2 * CHUNK + 23]);
    // The first seek after reading: the start is found from where the
    // reader is.
    let mut reader = AttachmentReader::new(cursor, &pointer);
    reader.read_exact(&mut buf).unwrap();
    reader.seek(SeekFrom::Start(2 * CHUNK as u64 + 3)).unwrap();
    reader.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, &data[2 * CHUNK + 3..2 * CHUNK + 23]);
}

/// A refused end (a byte after the blob) is refused again by the next
/// read: the last chunk is not served from memory.
#[test]
fn a_refused_end_stays_refused() {
    let (mut blob, pointer) = seal(&file(100, 22), 22, CHUNK);
    blob.push(1);
    let mut reader = AttachmentReader::new(&blob[..], &pointer);
    let mut buf = [0u8; 10];
    let err = reader.read(&mut buf).unwrap_err();
    assert_eq!(AttachmentError::from_io(&err), Some(&AttachmentError::TrailingBytes));
    let again = reader.read(&mut buf).unwrap_err();
    assert_eq!(AttachmentError::from_io(&again), Some(&AttachmentError::TrailingBytes));
}

/// A reader or writer underneath that claims more bytes than it was given
/// room for is an error, not a panic.
#[test]
fn an_underlying_reader_or_writer_that_overcounts_is_refused() {
    #[derive(Debug)]
    struct Liar;
    impl Read for Liar {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            Ok(buf.len() + 1)
        }
    }
    impl Write for Liar {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len() + 1)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let (_, pointer) = seal(b"x", 23, CHUNK);
    let err = AttachmentReader::new(Liar, &pointer).read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(AttachmentError::from_io(&err), None, "the count is refused before any byte is used");
    let mut writer = AttachmentWriter::new(Liar);
    writer.write_all(b"abc").unwrap();
    assert_eq!(writer.finish().unwrap_err().kind(), std::io::ErrorKind::InvalidData);
}

/// `open_chunk` gives each chunk's file bytes, from the spans the pointer
/// gives.
#[test]
fn chunks_open_alone_from_their_spans() {
    let data = file(2 * CHUNK + 5, 14);
    let (blob, pointer) = seal(&data, 14, CHUNK);
    let decryptor = AttachmentDecryptor::new(&pointer);
    decryptor.check_header(&blob[..ATTACHMENT_HEADER_LEN]).unwrap();
    let mut whole = Vec::new();
    for index in 0..pointer.chunk_count() {
        let span = pointer.chunk_span(index).unwrap();
        decryptor.open_chunk(index, &blob[span.start as usize..span.end as usize], &mut whole).unwrap();
    }
    assert_eq!(whole, data);
    assert_eq!(decryptor.open_chunk(3, &[], &mut whole), Err(AttachmentError::NoSuchChunk { index: 3, chunks: 3 }));
    assert_eq!(decryptor.open_chunk(0, &blob[33..100], &mut whole), Err(AttachmentError::Truncated));
    assert_eq!(whole, data, "a refused chunk adds nothing");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any size, written and read in any piece sizes, round trips; the
    /// blob's length is a function of the padded size alone.
    #[test]
    fn any_size_round_trips(len in 0usize..300_000, write in 1usize..100_000, read in 1usize..100_000) {
        let data = file(len, 15);
        let (blob, pointer) = seal(&data, len as u64, write);
        prop_assert_eq!(blob.len() as u64, layout::Layout::new(len as u64).unwrap().blob_len());
        prop_assert_eq!(open(&pointer, &blob, read).unwrap(), data);
    }

    /// Any range read through a seek gives the file's bytes.
    #[test]
    fn any_range_reads_back(len in 1usize..300_000, start in 0usize..300_000, take in 0usize..150_000) {
        let data = file(len, 16);
        let (blob, pointer) = seal(&data, 1, 1 << 20);
        let start = start % len;
        let end = (start + take).min(len);
        let mut reader = AttachmentReader::new(std::io::Cursor::new(&blob), &pointer);
        reader.seek(SeekFrom::Start(start as u64)).unwrap();
        let mut out = vec![0u8; end - start];
        reader.read_exact(&mut out).unwrap();
        prop_assert_eq!(&out[..], &data[start..end]);
    }

    /// Any single flipped bit, or any cut, is refused by the streaming
    /// decryptor.
    #[test]
    fn any_damage_is_refused(len in 0usize..200_000, at in any::<prop::sample::Index>(), cut in any::<bool>()) {
        let data = file(len, 17);
        let (mut blob, pointer) = seal(&data, 2, 1 << 20);
        let at = at.index(blob.len());
        if cut {
            blob.truncate(at);
        } else {
            blob[at] ^= 0x80;
        }
        prop_assert!(open(&pointer, &blob, 9_000).is_err());
    }
}

/// `Debug` shows sizes and progress, never a key or plaintext; errors
/// read as sentences and map to the `io::ErrorKind` an app would expect.
#[test]
fn debug_display_and_io_kinds() {
    let mut encryptor = AttachmentEncryptor::with_key([0x77; 32]);
    let mut blob = Vec::new();
    encryptor.update(b"secret words", &mut blob).unwrap();
    let shown = format!("{encryptor:?}");
    assert!(shown.contains("size: 12") && shown.contains("AttachmentEncryptor"), "{shown}");
    assert!(!shown.contains("secret") && !shown.contains("119"), "{shown}");
    while encryptor.finish(&mut blob).unwrap().is_none() {}
    let (_, pointer) = seal(b"secret words", 30, CHUNK);
    let decryptor = AttachmentDecryptor::new(&pointer);
    let shown = format!("{decryptor:?}");
    assert!(shown.contains("size: 12") && shown.contains("Header"), "{shown}");
    let writer = AttachmentWriter::new(Vec::new());
    assert!(format!("{writer:?}").contains("AttachmentEncryptor"));
    let reader = AttachmentReader::new(&blob[..], &pointer);
    assert!(format!("{reader:?}").contains("digest_checked: false"));

    for (error, text) in [
        (AttachmentError::UnsupportedVersion(2), "version 2"),
        (AttachmentError::WrongKey, "key"),
        (AttachmentError::Chunk { index: 4 }, "chunk 4"),
        (AttachmentError::Padding { index: 5 }, "chunk 5"),
        (AttachmentError::Truncated, "cut short"),
        (AttachmentError::TrailingBytes, "follow"),
        (AttachmentError::DigestMismatch, "digest"),
        (AttachmentError::TooLarge { max: 9 }, "9 bytes"),
        (AttachmentError::FieldTooLong { field: "location", len: 3, max: 2 }, "location is 3 bytes"),
        (AttachmentError::MalformedPointer, "pointer"),
        (AttachmentError::NoSuchChunk { index: 7, chunks: 3 }, "7 of 3"),
        (AttachmentError::Finished, "finished"),
    ] {
        assert!(error.to_string().contains(text), "{error}");
    }
    use std::io::ErrorKind;
    for (error, kind) in [
        (AttachmentError::Truncated, ErrorKind::UnexpectedEof),
        (AttachmentError::TooLarge { max: 1 }, ErrorKind::InvalidInput),
        (AttachmentError::Finished, ErrorKind::InvalidInput),
        (AttachmentError::NoSuchChunk { index: 1, chunks: 1 }, ErrorKind::InvalidInput),
        (AttachmentError::FieldTooLong { field: "file name", len: 1, max: 0 }, ErrorKind::InvalidInput),
        (AttachmentError::Chunk { index: 0 }, ErrorKind::InvalidData),
        (AttachmentError::DigestMismatch, ErrorKind::InvalidData),
    ] {
        let io = std::io::Error::from(error.clone());
        assert_eq!(io.kind(), kind, "{error}");
        assert_eq!(AttachmentError::from_io(&io), Some(&error));
    }
    assert_eq!(AttachmentError::from_io(&std::io::Error::other("disk")), None);
}

/// A reader and writer underneath that are interrupted every other call,
/// move at most 7 bytes a call, count flushes, and can fail for good.
#[derive(Debug, Default)]
struct Flaky {
    data: Vec<u8>,
    at: usize,
    calls: usize,
    flushes: usize,
    /// Fail with `Other` once this many bytes went through.
    fail_after: Option<usize>,
}

impl Flaky {
    /// Every other call is interrupted; past `fail_after` bytes moved
    /// (`done`), every other call fails for good.
    fn step(&mut self, done: usize) -> std::io::Result<()> {
        self.calls += 1;
        if self.calls.is_multiple_of(2) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        match self.fail_after {
            Some(n) if done >= n => Err(std::io::Error::other("gone")),
            _ => Ok(()),
        }
    }
}

impl Read for Flaky {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step(self.at)?;
        let n = buf.len().min(7).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.step(self.data.len())?;
        let n = buf.len().min(7);
        self.data.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.flushes += 1;
        Ok(())
    }
}

/// Interrupted calls are retried and short counts continued; a lasting
/// error is returned, not retried forever; `flush` reaches the writer.
#[test]
fn interrupted_and_short_io_is_retried_and_lasting_errors_are_returned() {
    let data = file(CHUNK + 3000, 31);
    let mut writer = AttachmentWriter::new(Flaky::default());
    writer.write_all(&data).unwrap();
    writer.flush().unwrap();
    assert_eq!(writer.get_ref().flushes, 1);
    let (flaky, pointer) = writer.finish().unwrap();
    assert_eq!(flaky.data.len() as u64, pointer.blob_len());
    let blob = flaky.data.clone();
    let mut reader = AttachmentReader::new(Flaky { data: blob.clone(), ..Flaky::default() }, &pointer);
    let mut back = Vec::new();
    reader.read_to_end(&mut back).unwrap();
    assert_eq!(back, data);
    assert!(reader.digest_checked());
    assert_eq!(reader.position(), data.len() as u64);

    // Failing for good: the error comes back, in the header, in a chunk,
    // and at the check for a trailing byte.
    for fail_after in [10, 5000, blob.len()] {
        let mut reader = AttachmentReader::new(
            Flaky { data: blob.clone(), fail_after: Some(fail_after), ..Flaky::default() },
            &pointer,
        );
        let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "gone", "{fail_after}");
    }
    let mut writer = AttachmentWriter::new(Flaky { fail_after: Some(100), ..Flaky::default() });
    writer.write_all(&data[..CHUNK]).unwrap();
    // Sealing chunk 0 fails to write it; the error comes with the next call.
    assert_eq!(writer.write(&data[CHUNK..]).unwrap(), 3000);
    assert_eq!(writer.write(&data).unwrap_err().to_string(), "gone");
    assert_eq!(writer.flush().unwrap_err().to_string(), "gone", "flush writes what is pending first");
}

/// A file whose padding fills whole chunks after its data (2^25 + 1
/// bytes: 15 chunks of pure padding): read in order, the padding chunks
/// are read and the digest checked before the end; cut inside them, the
/// blob is refused; after a seek, the end comes at the file's last byte.
#[test]
fn chunks_of_pure_padding_are_read_before_the_end() {
    let size = (1usize << 25) + 1;
    let data = file(size, 32);
    let (blob, pointer) = seal(&data, 32, 1 << 20);
    assert_eq!(pointer.chunk_count(), 528, "data in chunks 0 to 512, padding alone in 513 to 527");
    let mut reader = AttachmentReader::new(&blob[..], &pointer);
    let mut back = Vec::with_capacity(size);
    reader.read_to_end(&mut back).unwrap();
    assert!(back == data && reader.digest_checked());

    let cut = &blob[..pointer.chunk_span(520).unwrap().start as usize];
    let err = AttachmentReader::new(cut, &pointer).read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(AttachmentError::from_io(&err), Some(&AttachmentError::Truncated));

    // A seek past chunk 0: the end comes at the last data byte, unchecked.
    let mut seeking = AttachmentReader::new(std::io::Cursor::new(cut), &pointer);
    seeking.seek(SeekFrom::Start(size as u64 - 10)).unwrap();
    let mut tail = Vec::new();
    seeking.read_to_end(&mut tail).unwrap();
    assert_eq!((tail.as_slice(), seeking.digest_checked()), (&data[size - 10..], false));

    // Two chunks read, then a seek to the end: the end is reported
    // without reading the rest of the file to check a digest.
    let mut early = AttachmentReader::new(std::io::Cursor::new(&blob), &pointer);
    early.read_exact(&mut vec![0u8; CHUNK + 10]).unwrap();
    early.seek(SeekFrom::End(0)).unwrap();
    assert_eq!(early.read(&mut [0u8; 4]).unwrap(), 0);
    assert!(!early.digest_checked());
    assert_eq!(early.get_ref().position(), pointer.chunk_span(2).unwrap().start, "nothing more was read");

    // Every data chunk read in order, then `inner` moved away: the end
    // needs no more reading, and is not the digest's.
    let mut moved = AttachmentReader::new(std::io::Cursor::new(&blob), &pointer);
    let mut sink = vec![0u8; size];
    moved.read_exact(&mut sink).unwrap();
    moved.seek(SeekFrom::Start(5)).unwrap();
    moved.seek(SeekFrom::End(0)).unwrap();
    assert_eq!(moved.read(&mut [0u8; 4]).unwrap(), 0);
    assert!(!moved.digest_checked());
}
