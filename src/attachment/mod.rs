//! Attachments: files (photos, voice notes, videos, documents) encrypted
//! apart from the messages that point to them (docs/PROTOCOL.md §14).
//!
//! A message carries only an [`AttachmentPointer`] (as
//! [`crate::Content::Attachment`]); the file goes to the application's
//! blob storage as an encrypted **blob**: a fresh random key per file,
//! the file cut into chunks of [`ATTACHMENT_CHUNK_LEN`] bytes, each sealed
//! with ChaCha20-Poly1305 under a nonce holding its index and whether it
//! is the last. So a chunk that is changed, moved, repeated, dropped or
//! taken from another file, and a blob cut at any point, is refused; the
//! pointer's SHA-256 digest of the whole blob names the one blob its
//! sender made. The file is padded to a size bucket (Padmé) before
//! encryption, so the storage server learns the bucket, not the size.
//!
//! Memory stays at one or two chunks whatever the file's size:
//!
//! - [`encrypt`] and [`decrypt`] for a file already in memory;
//! - [`AttachmentWriter`] and [`AttachmentReader`] over [`std::io`],
//!   the reader seeking when its source can (reading a range of a video
//!   decrypts only the chunks it touches);
//! - with the `tokio` feature, the same over tokio's `AsyncWrite` and
//!   `AsyncRead`;
//! - [`AttachmentEncryptor`] and [`AttachmentDecryptor`], without I/O,
//!   under all of these, for any other runtime or for fetching chunks by
//!   HTTP range requests ([`AttachmentPointer::chunk_span`],
//!   [`AttachmentDecryptor::open_chunk`]).
//!
//! ```
//! use dmseal::attachment;
//! use dmseal::content::Content;
//!
//! # fn main() -> Result<(), attachment::AttachmentError> {
//! // Alice encrypts a photo, uploads the blob, and sends the pointer.
//! let photo = vec![0x42; 100_000];
//! let (blob, mut pointer) = attachment::encrypt(&photo)?;
//! pointer.set_content_type("image/jpeg")?;
//! pointer.set_location("https://blobs.example/7f3a")?; // where she uploaded it
//! let content = Content::Attachment(pointer); // sent like any content
//!
//! // Bob reads the pointer from the message, fetches the blob, decrypts.
//! let Content::Attachment(pointer) = content else { unreachable!() };
//! assert_eq!(blob.len() as u64, pointer.blob_len()); // a size bucket
//! assert_eq!(attachment::decrypt(&pointer, &blob)?.as_slice(), &photo[..]);
//! # Ok(())
//! # }
//! ```

mod decrypt;
mod encrypt;
mod error;
mod io;
mod layout;
mod pointer;
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

use zeroize::Zeroizing;

pub use self::decrypt::AttachmentDecryptor;
pub use self::encrypt::AttachmentEncryptor;
pub use self::error::AttachmentError;
pub use self::io::{AttachmentReader, AttachmentWriter};
pub use self::pointer::AttachmentPointer;
#[cfg(feature = "tokio")]
pub use self::tokio::{AsyncAttachmentReader, AsyncAttachmentWriter};

/// The blob format's version, its first byte.
pub const ATTACHMENT_VERSION: u8 = 1;
/// The blob's header: the version byte and a 32-byte key commitment.
pub const ATTACHMENT_HEADER_LEN: usize = 33;
/// Plaintext bytes per chunk: 64 KiB. Each chunk adds a 16-byte tag; a
/// seek decrypts one chunk.
pub const ATTACHMENT_CHUNK_LEN: usize = 64 * 1024;
/// The largest attachment: 1 TiB (2^40 bytes), 2^24 chunks.
pub const MAX_ATTACHMENT_LEN: u64 = 1 << 40;
/// The smallest padded size: a file of up to 1 KiB is padded to 1 KiB.
pub const MIN_ATTACHMENT_PADDED_LEN: u64 = 1024;
/// The longest content type in a pointer: 128 bytes of UTF-8.
pub const MAX_ATTACHMENT_CONTENT_TYPE_LEN: usize = 128;
/// The longest file name in a pointer: 255 bytes of UTF-8.
pub const MAX_ATTACHMENT_FILE_NAME_LEN: usize = 255;
/// The longest location in a pointer: 2,048 bytes of UTF-8.
pub const MAX_ATTACHMENT_LOCATION_LEN: usize = 2048;

/// Encrypts a file held in memory under a fresh key: the blob to upload
/// and its pointer (with no content type, file name or location yet).
/// [`AttachmentError::TooLarge`] past [`MAX_ATTACHMENT_LEN`].
pub fn encrypt(file: &[u8]) -> Result<(Vec<u8>, AttachmentPointer), AttachmentError> {
    let layout = u64::try_from(file.len()).ok().and_then(layout::Layout::new);
    let layout = layout.ok_or(AttachmentError::TooLarge { max: MAX_ATTACHMENT_LEN })?;
    let mut blob = Vec::with_capacity(usize::try_from(layout.blob_len()).unwrap_or(0));
    let mut encryptor = AttachmentEncryptor::new();
    encryptor.update(file, &mut blob)?;
    // One call per chunk of padding, then the pointer.
    for _ in 0..=layout.chunks {
        if let Some(pointer) = encryptor.finish(&mut blob)? {
            return Ok((blob, pointer));
        }
    }
    Err(AttachmentError::Finished)
}

/// Decrypts a whole blob held in memory: every chunk authenticated, no
/// byte missing or extra, and the pointer's digest checked.
pub fn decrypt(pointer: &AttachmentPointer, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
    let mut decryptor = AttachmentDecryptor::new(pointer);
    // Room for the padded size, so the buffer never moves (a move would
    // leave a copy of the plaintext behind, unwiped).
    let room = usize::try_from(pointer.layout.padded).unwrap_or(usize::MAX).min(blob.len());
    let mut file = Zeroizing::new(Vec::with_capacity(room));
    decryptor.update(blob, &mut file)?;
    decryptor.finish()?;
    Ok(file)
}
