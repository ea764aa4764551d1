// Attachments (PROTOCOL §14): the pointer decoder and every decrypt path.
// The first byte picks the mode:
// - 0: the input is a pointer encoding; if it decodes, it encodes back to
//   the same bytes.
// - 1: the input is a blob for a fixed pointer (size from the next two
//   bytes), fed to the streaming decryptor in pieces, to the reader, and
//   chunk by chunk: no panic, and only the genuine blob could read (the
//   fuzzer cannot forge a tag).
// - 2: the input is a file, encrypted under a fixed key, then damaged as
//   the next bytes say (a cut or a flipped bit, or nothing); every path
//   reads the undamaged blob back and refuses the damaged one.

use std::io::{Read, Seek, SeekFrom};

use dmseal::attachment::{self, AttachmentDecryptor, AttachmentEncryptor, AttachmentPointer, AttachmentReader};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn seal(file: &[u8]) -> (Vec<u8>, AttachmentPointer) {
    let mut encryptor = AttachmentEncryptor::new_with_rng(&mut ChaCha20Rng::from_seed([5; 32]));
    let mut blob = Vec::new();
    encryptor.update(file, &mut blob).expect("a small file");
    for _ in 0..4 {
        if let Some(pointer) = encryptor.finish(&mut blob).expect("finish") {
            return (blob, pointer);
        }
    }
    panic!("a small file takes one chunk");
}

/// Reads `blob` every way; `Some(file)` only if every way agrees it is whole.
fn read_every_way(pointer: &AttachmentPointer, blob: &[u8], piece: usize) -> Option<Vec<u8>> {
    let mut decryptor = AttachmentDecryptor::new(pointer);
    let mut streamed = Vec::new();
    let mut ok = true;
    for part in blob.chunks(piece.max(1)) {
        if decryptor.update(part, &mut streamed).is_err() {
            ok = false;
            break;
        }
    }
    let streamed_ok = ok && decryptor.finish().is_ok();
    let mut read = Vec::new();
    let read_ok = AttachmentReader::new(blob, pointer).read_to_end(&mut read).is_ok();
    let whole = attachment::decrypt(pointer, blob).ok();
    assert_eq!(streamed_ok, read_ok, "the decryptor and the reader agree");
    assert_eq!(streamed_ok, whole.is_some(), "the decryptor and decrypt agree");
    // Chunk by chunk and through seeks: never a panic.
    let chunks = AttachmentDecryptor::new(pointer);
    let mut by_chunk = Vec::new();
    for index in 0..pointer.chunk_count().min(4) {
        if let Some(span) = pointer.chunk_span(index) {
            let part = blob.get(span.start as usize..(span.end as usize).min(blob.len())).unwrap_or_default();
            let _ = chunks.open_chunk(index, part, &mut by_chunk);
        }
    }
    let mut seeking = AttachmentReader::new(std::io::Cursor::new(blob), pointer);
    if seeking.seek(SeekFrom::Start(pointer.size() / 2)).is_ok() {
        let _ = seeking.read(&mut [0u8; 64]);
    }
    if streamed_ok {
        assert_eq!(streamed, read);
        assert_eq!(streamed.len() as u64, pointer.size());
        Some(streamed)
    } else {
        None
    }
}

pub(crate) fn run(data: &[u8]) {
    let Some((&mode, input)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            if let Ok(pointer) = AttachmentPointer::from_bytes(input) {
                assert_eq!(&pointer.to_bytes()[..], input, "the pointer encoding is canonical");
            }
        }
        1 => {
            let Some((size, blob)) = input.split_first_chunk::<2>() else { return };
            let (genuine, mut pointer) = seal(&vec![0x61; usize::from(u16::from_be_bytes(*size))]);
            if read_every_way(&pointer, blob, 1000).is_some() {
                assert_eq!(blob, &genuine[..], "only the genuine blob reads");
            }
            let _ = pointer.set_location("x");
        }
        _ => {
            let Some((damage, file)) = input.split_first_chunk::<3>() else { return };
            let (mut blob, pointer) = seal(file);
            let at = usize::from(u16::from_be_bytes([damage[1], damage[2]])) % blob.len();
            let piece = usize::from(damage[2]) + 1;
            match damage[0] % 3 {
                0 => assert_eq!(read_every_way(&pointer, &blob, piece).as_deref(), Some(file)),
                1 => {
                    blob.truncate(at);
                    assert_eq!(read_every_way(&pointer, &blob, piece), None, "a cut blob is refused");
                }
                _ => {
                    blob[at] ^= 1 << (damage[1] % 8);
                    assert_eq!(read_every_way(&pointer, &blob, piece), None, "a flipped bit is refused");
                }
            }
        }
    }
}
