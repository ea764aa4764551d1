//! Encrypting an attachment as a stream of chunks, without I/O
//! (docs/PROTOCOL.md §14.3).

use core::fmt;

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::layout::{ChunkKeys, Layout};
use super::{ATTACHMENT_CHUNK_LEN, AttachmentError, AttachmentPointer, MAX_ATTACHMENT_LEN};
use crate::primitives::rng::os_rng;

/// Encrypts one file under a fresh random key, a piece at a time, with
/// memory bounded by one chunk ([`super::ATTACHMENT_CHUNK_LEN`]).
///
/// Give it the file with [`AttachmentEncryptor::update`], then call
/// [`AttachmentEncryptor::finish`] until it returns the pointer; each call
/// appends ciphertext to an output buffer that the application writes
/// wherever the blob goes. [`super::AttachmentWriter`] does this for an
/// [`std::io::Write`].
///
/// ```
/// use dmseal::attachment::{AttachmentDecryptor, AttachmentEncryptor};
///
/// # fn main() -> Result<(), dmseal::attachment::AttachmentError> {
/// let mut encryptor = AttachmentEncryptor::new();
/// let mut blob = Vec::new();
/// encryptor.update(b"a voice note, ", &mut blob)?;
/// encryptor.update(b"in two pieces", &mut blob)?;
/// let pointer = loop {
///     if let Some(pointer) = encryptor.finish(&mut blob)? {
///         break pointer;
///     }
/// };
/// assert_eq!(blob.len() as u64, pointer.blob_len());
///
/// let mut decryptor = AttachmentDecryptor::new(&pointer);
/// let mut file = Vec::new();
/// decryptor.update(&blob, &mut file)?;
/// decryptor.finish()?; // the digest: every byte of the blob checked
/// assert_eq!(file, b"a voice note, in two pieces");
/// # Ok(())
/// # }
/// ```
pub struct AttachmentEncryptor {
    key: Zeroizing<[u8; 32]>,
    keys: ChunkKeys,
    /// The plaintext of chunk `index`, not sealed yet: it is sealed once
    /// more plaintext shows that it is not the last.
    buffer: Zeroizing<Vec<u8>>,
    index: u64,
    /// Plaintext bytes taken.
    pub(super) size: u64,
    header_sent: bool,
    /// The blob's SHA-256 so far.
    hasher: Sha256,
    /// Set by the first [`AttachmentEncryptor::finish`]: the layout. The
    /// encryptor is done once every chunk of it is sealed.
    finishing: Option<Layout>,
}

impl AttachmentEncryptor {
    /// A new attachment with a key from the operating system's generator.
    pub fn new() -> Self {
        Self::new_with_rng(&mut os_rng())
    }

    /// [`AttachmentEncryptor::new`] with the key drawn from `rng`, which
    /// must never give the same key twice: a generator seeded with a fixed
    /// value would, and two files under one key lose their
    /// confidentiality and integrity.
    pub fn new_with_rng<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        Self::from_key(key)
    }

    /// An encryptor under a given key: for tests and vectors only, since
    /// a key must never encrypt two files.
    #[cfg(test)]
    pub(crate) fn with_key(key: [u8; 32]) -> Self {
        Self::from_key(Zeroizing::new(key))
    }

    fn from_key(key: Zeroizing<[u8; 32]>) -> Self {
        let keys = ChunkKeys::derive(&key);
        Self {
            key,
            keys,
            buffer: Zeroizing::new(Vec::with_capacity(ATTACHMENT_CHUNK_LEN)),
            index: 0,
            size: 0,
            header_sent: false,
            hasher: Sha256::new(),
            finishing: None,
        }
    }

    /// How many plaintext bytes it has taken.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Takes the next `plaintext` bytes and appends to `out` the
    /// ciphertext they complete: the header first, then each chunk once
    /// the next one starts. Refuses, taking nothing, plaintext past
    /// [`MAX_ATTACHMENT_LEN`] bytes in all, or after
    /// [`AttachmentEncryptor::finish`] has begun.
    pub fn update(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), AttachmentError> {
        if self.finishing.is_some() {
            return Err(AttachmentError::Finished);
        }
        let size = u64::try_from(plaintext.len())
            .ok()
            .and_then(|n| self.size.checked_add(n))
            .filter(|&n| n <= MAX_ATTACHMENT_LEN)
            .ok_or(AttachmentError::TooLarge { max: MAX_ATTACHMENT_LEN })?;
        self.send_header(out);
        let mut input = plaintext;
        while !input.is_empty() {
            if self.buffer.len() == ATTACHMENT_CHUNK_LEN {
                self.seal_buffer(false, out);
            }
            if self.buffer.is_empty() && input.len() > ATTACHMENT_CHUNK_LEN {
                // A whole chunk with more after it: sealed straight from
                // the input, with no copy into the buffer.
                let (chunk, rest) = input.split_at(ATTACHMENT_CHUNK_LEN);
                self.seal(chunk, false, out);
                input = rest;
                continue;
            }
            let take = input.len().min(ATTACHMENT_CHUNK_LEN - self.buffer.len());
            let (head, rest) = input.split_at(take);
            self.buffer.extend_from_slice(head);
            input = rest;
        }
        self.size = size;
        Ok(())
    }

    /// Ends the file. Each call appends the next piece of the remaining
    /// ciphertext to `out` (at most one chunk: the buffered plaintext and
    /// the zero padding up to the size bucket), and the last call returns
    /// the pointer. After that, [`AttachmentError::Finished`].
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<Option<AttachmentPointer>, AttachmentError> {
        if self.is_done() {
            return Err(AttachmentError::Finished);
        }
        self.send_header(out);
        let layout = match self.finishing {
            Some(layout) => layout,
            // `size` was checked against the limit as it grew.
            None => Layout::new(self.size).ok_or(AttachmentError::TooLarge { max: MAX_ATTACHMENT_LEN })?,
        };
        self.finishing = Some(layout);
        self.buffer.resize(layout.plain_len(self.index), 0);
        let last = layout.is_last(self.index);
        self.seal_buffer(last, out);
        if !last {
            return Ok(None);
        }
        let digest: [u8; 32] = self.hasher.clone().finalize().into();
        Ok(Some(AttachmentPointer::new(self.key.clone(), digest, layout)))
    }

    /// Whether the pointer was returned: every chunk of the layout sealed.
    fn is_done(&self) -> bool {
        self.finishing.is_some_and(|layout| self.index >= layout.chunks)
    }

    fn send_header(&mut self, out: &mut Vec<u8>) {
        if !self.header_sent {
            let header = self.keys.header();
            self.hasher.update(header);
            out.extend_from_slice(&header);
            self.header_sent = true;
        }
    }

    /// Seals the buffered plaintext as chunk `index` and empties the
    /// buffer (its allocation is kept for the next chunk).
    fn seal_buffer(&mut self, last: bool, out: &mut Vec<u8>) {
        let chunk = core::mem::take(&mut *self.buffer);
        self.seal(&chunk, last, out);
        *self.buffer = chunk;
        self.buffer.clear();
    }

    /// Seals `plaintext` as chunk `index` onto `out` and moves on.
    fn seal(&mut self, plaintext: &[u8], last: bool, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(plaintext);
        if let Some(body) = out.get_mut(start..) {
            let tag = self.keys.seal(self.index, last, body);
            out.extend_from_slice(&tag);
        }
        if let Some(sealed) = out.get(start..) {
            self.hasher.update(sealed);
        }
        self.index += 1;
    }
}

impl Default for AttachmentEncryptor {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AttachmentEncryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentEncryptor")
            .field("size", &self.size)
            .field("chunks_sealed", &self.index)
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}
