//! [`std::io`] adapters: an [`AttachmentWriter`] that encrypts what is
//! written to it, and an [`AttachmentReader`] that decrypts a blob as it is
//! read, and seeks when the blob can.

use core::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::decrypt::Opener;
use super::layout::Layout;
use super::{ATTACHMENT_CHUNK_LEN, ATTACHMENT_HEADER_LEN, AttachmentEncryptor, AttachmentError, AttachmentPointer};

/// The error of a reader or writer that reports more bytes than it was
/// given room for.
pub(super) fn bad_count() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the underlying reader or writer reported more bytes than it had room for",
    )
}

/// Encrypts everything written to it into `W`, chunk by chunk: memory
/// stays at about three chunks whatever the file's size (each `write`
/// takes at most one chunk). [`AttachmentWriter::finish`] writes the last
/// chunks and returns the pointer; a writer dropped before that leaves a
/// cut blob that no reader accepts.
///
/// ```
/// use std::io::Write;
/// use dmseal::attachment::{AttachmentReader, AttachmentWriter};
///
/// # fn main() -> std::io::Result<()> {
/// let mut writer = AttachmentWriter::new(Vec::new());
/// writer.write_all(b"a photo's bytes")?;
/// let (blob, mut pointer) = writer.finish()?;
/// pointer.set_content_type("image/jpeg")?;
///
/// let mut photo = Vec::new();
/// std::io::Read::read_to_end(&mut AttachmentReader::new(&blob[..], &pointer), &mut photo)?;
/// assert_eq!(photo, b"a photo's bytes");
/// # Ok(())
/// # }
/// ```
pub struct AttachmentWriter<W: Write> {
    inner: W,
    encryptor: AttachmentEncryptor,
    /// Ciphertext not yet written to `inner`, from `written` on.
    out: Vec<u8>,
    written: usize,
}

impl<W: Write> AttachmentWriter<W> {
    /// Encrypts into `inner` under a fresh key from the operating system.
    pub fn new(inner: W) -> Self {
        Self::from_encryptor(inner, AttachmentEncryptor::new())
    }

    /// [`AttachmentWriter::new`] with the key drawn from `rng`, which must
    /// never give the same key twice (a generator seeded with a fixed
    /// value would: two files under one key lose their confidentiality).
    pub fn new_with_rng<R: CryptoRng + ?Sized>(inner: W, rng: &mut R) -> Self {
        Self::from_encryptor(inner, AttachmentEncryptor::new_with_rng(rng))
    }

    fn from_encryptor(inner: W, encryptor: AttachmentEncryptor) -> Self {
        Self { inner, encryptor, out: Vec::with_capacity(2 * ATTACHMENT_CHUNK_LEN + 64), written: 0 }
    }

    /// Writes the rest of the blob (the last chunk and the padding), flushes
    /// `inner`, and returns it with the pointer. On an error the blob is
    /// incomplete and `inner` is dropped.
    pub fn finish(mut self) -> io::Result<(W, AttachmentPointer)> {
        self.drain()?;
        loop {
            let pointer = self.encryptor.finish(&mut self.out)?;
            self.drain()?;
            if let Some(pointer) = pointer {
                self.inner.flush()?;
                return Ok((self.inner, pointer));
            }
        }
    }

    /// The writer underneath.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The writer underneath. Writing to it directly breaks the blob.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Writes the pending ciphertext to `inner`. What an error interrupts
    /// stays pending for the next call.
    fn drain(&mut self) -> io::Result<()> {
        while let Some(pending) = self.out.get(self.written..).filter(|p| !p.is_empty()) {
            match self.inner.write(pending) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) if n > pending.len() => return Err(bad_count()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.written = 0;
        Ok(())
    }
}

impl<W: Write> Write for AttachmentWriter<W> {
    /// Takes up to one chunk of `buf` (after writing what an earlier error
    /// left pending) and writes the chunks it completes.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.drain()?;
        let taken = buf.get(..ATTACHMENT_CHUNK_LEN).unwrap_or(buf);
        self.encryptor.update(taken, &mut self.out)?;
        // `taken` is taken: an error writing its chunks is reported by the
        // next call (or `flush`, or `finish`), which writes them first.
        let _ = self.drain();
        Ok(taken.len())
    }

    /// Writes the pending chunks and flushes `inner`. The chunk being
    /// filled stays in memory until more comes or the writer finishes.
    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.inner.flush()
    }
}

impl<W: Write> fmt::Debug for AttachmentWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentWriter").field("encryptor", &self.encryptor).finish_non_exhaustive()
    }
}

/// Where the underlying reader is, in the blob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Inner {
    /// At the blob's start, before the header.
    Start,
    /// At the start of chunk `n` (past the last: at the end).
    Chunk(u64),
    /// Unknown, after a failed read: every read fails (with the
    /// attachment error, if that was the cause) until a seek.
    Lost(Option<AttachmentError>),
    /// Not where any read needs it, after a seek to the end from
    /// [`Inner::Lost`]: a seek into the file places it.
    Elsewhere,
}

/// Decrypts a blob as it is read from `R`: each chunk is authenticated
/// before any of it is returned. When the blob is read from its start to
/// its end, the end (`Ok(0)`) is reported only after the last chunk, no
/// trailing byte and the pointer's digest were checked
/// ([`AttachmentReader::digest_checked`]). Errors are [`io::Error`]s
/// holding an [`AttachmentError`] ([`AttachmentError::from_io`]); after
/// one, reads fail until a seek. `R` must block: a `WouldBlock` or
/// `TimedOut` error is such an error (for non-blocking sources use
/// [`super::AttachmentDecryptor`] or the tokio adapter).
///
/// When `R` can seek, so can the reader: it then reads only the chunks
/// holding the bytes asked for (seeking in a video), each authenticated
/// in its place. A reader that skipped a chunk of the file cannot check
/// the digest and does not; its `Ok(0)` at the file's end then means only
/// that every byte it returned was authentic, not that the blob is whole.
/// Seeking may also happen before any read; the blob need not start at
/// offset 0 of `R`, but must start where `R` was when the reader was made.
/// Memory stays at about two chunks.
pub struct AttachmentReader<R: Read> {
    inner: R,
    opener: Opener,
    where_inner: Inner,
    /// Where the blob starts in `inner`, once a seek needed it.
    base: Option<u64>,
    header_ok: bool,
    /// The file's bytes of chunk `chunk`.
    plain: Zeroizing<Vec<u8>>,
    chunk: Option<u64>,
    /// The position in the file.
    pos: u64,
    /// The blob's SHA-256 over the header and the chunks read in order;
    /// `None` once a chunk was skipped.
    hasher: Option<Sha256>,
    /// The next chunk the hasher needs.
    hashed: u64,
    /// Whether every chunk was read in order, no byte followed and the
    /// digest matched.
    digest_ok: bool,
    /// The chunk being read.
    sealed: Vec<u8>,
}

impl<R: Read> AttachmentReader<R> {
    /// Decrypts the blob `pointer` names, read from `inner` (positioned at
    /// the blob's start).
    pub fn new(inner: R, pointer: &AttachmentPointer) -> Self {
        Self {
            inner,
            opener: Opener::new(pointer),
            where_inner: Inner::Start,
            base: None,
            header_ok: false,
            plain: Zeroizing::new(Vec::with_capacity(ATTACHMENT_CHUNK_LEN)),
            chunk: None,
            pos: 0,
            hasher: Some(Sha256::new()),
            hashed: 0,
            digest_ok: false,
            sealed: Vec::new(),
        }
    }

    /// Whether the whole blob was read in order, nothing followed it, and
    /// it matched the pointer's digest. Stays true once set.
    pub fn digest_checked(&self) -> bool {
        self.digest_ok
    }

    /// The position in the file (not the blob): the next byte a read
    /// returns.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The reader underneath.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The reader underneath. Reading from it or moving it directly
    /// breaks the reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The reader underneath.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Runs `step`; if it fails, `inner`'s place is lost and no chunk is
    /// held.
    fn guarded(&mut self, step: impl FnOnce(&mut Self) -> io::Result<()>) -> io::Result<()> {
        if let Inner::Lost(cause) = &self.where_inner {
            return Err(match cause {
                Some(e) => e.clone().into(),
                None => io::Error::other("attachment reader lost its place after an error; seek to go on"),
            });
        }
        let result = step(self);
        if let Err(e) = &result {
            self.where_inner = Inner::Lost(AttachmentError::from_io(e).cloned());
            self.chunk = None;
            self.plain.zeroize();
        }
        result
    }

    /// Reads exactly `len` bytes from `inner` into `sealed`;
    /// [`AttachmentError::Truncated`] at an early end.
    fn fill(&mut self, len: usize) -> io::Result<()> {
        self.sealed.resize(len, 0);
        let mut got = 0;
        while let Some(rest) = self.sealed.get_mut(got..).filter(|r| !r.is_empty()) {
            match self.inner.read(rest) {
                Ok(0) => return Err(AttachmentError::Truncated.into()),
                Ok(n) if n > rest.len() => return Err(bad_count()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads and checks the header (`inner` is at the blob's start).
    fn header(&mut self) -> io::Result<()> {
        self.fill(ATTACHMENT_HEADER_LEN)?;
        self.opener.check_header(&self.sealed)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&self.sealed);
        }
        self.header_ok = true;
        self.where_inner = Inner::Chunk(0);
        Ok(())
    }

    /// Reads and opens chunk `index`, where `inner` is.
    fn load(&mut self, index: u64) -> io::Result<()> {
        self.guarded(|reader| {
            if reader.where_inner == Inner::Start {
                reader.header()?;
            }
            if reader.where_inner != Inner::Chunk(index) {
                return Err(io::Error::other("attachment reader lost its place"));
            }
            reader.fill(reader.opener.sealed_len(index))?;
            // One buffer for every chunk: each overwrites the last, and
            // the buffer is wiped when the reader is dropped.
            reader.chunk = None;
            reader.plain.clear();
            reader.opener.open_into(index, &reader.sealed, &mut reader.plain)?;
            reader.where_inner = Inner::Chunk(index + 1);
            if reader.hashed != index {
                reader.hasher = None;
            }
            if let Some(hasher) = &mut reader.hasher {
                hasher.update(&reader.sealed);
                reader.hashed = index + 1;
            }
            if reader.opener.layout.is_last(index) {
                reader.end()?;
            }
            reader.chunk = Some(index);
            Ok(())
        })
    }

    /// After the last chunk: no trailing byte, and the digest, if every
    /// chunk was read in order.
    fn end(&mut self) -> io::Result<()> {
        if let Some(hasher) = self.hasher.take() {
            let mut byte = [0u8; 1];
            loop {
                match self.inner.read(&mut byte) {
                    Ok(0) => break,
                    Ok(_) => return Err(AttachmentError::TrailingBytes.into()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let digest: [u8; 32] = hasher.finalize().into();
            if digest != self.opener.digest {
                return Err(AttachmentError::DigestMismatch.into());
            }
            self.digest_ok = true;
        }
        Ok(())
    }
}

impl<R: Read> Read for AttachmentReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.opener.layout.size {
            // The end of the file. If every chunk of it was read in order,
            // read the chunks of pure padding too, so the blob's end and
            // digest are checked before saying so; if one was skipped,
            // nothing more can be checked.
            if matches!(self.where_inner, Inner::Lost(_)) {
                return self.guarded(|_| Ok(())).map(|()| 0);
            }
            let size = self.opener.layout.size;
            let in_place =
                self.where_inner == Inner::Chunk(self.hashed) || (self.where_inner == Inner::Start && self.hashed == 0);
            if !in_place || (size > 0 && self.hashed <= self.opener.layout.last_data_chunk()) {
                self.hasher = None;
            }
            while self.hasher.is_some() {
                self.load(self.hashed)?;
            }
            return Ok(0);
        }
        let (index, offset) = Layout::chunk_of(self.pos);
        if self.chunk != Some(index) {
            self.load(index)?;
        }
        let available = self.plain.get(offset..).unwrap_or_default();
        let n = available.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> AttachmentReader<R> {
    /// Moves `inner` to blob offset `offset`.
    fn seek_inner(&mut self, offset: u64) -> io::Result<()> {
        let base = match self.base {
            Some(base) => base,
            None => {
                // Where the reader is in the blob, hence where it starts.
                let at = match self.where_inner {
                    Inner::Start => 0,
                    Inner::Chunk(k) => self.opener.layout.chunk_offset(k),
                    _ => return Err(io::Error::other("attachment reader lost its place before its first seek")),
                };
                let base = self.inner.stream_position()?.checked_sub(at).ok_or_else(bad_count)?;
                *self.base.insert(base)
            }
        };
        match self.inner.seek(SeekFrom::Start(base + offset)) {
            Ok(_) => Ok(()),
            Err(e) => {
                self.where_inner = Inner::Lost(None);
                Err(e)
            }
        }
    }
}

impl<R: Read + Seek> Seek for AttachmentReader<R> {
    /// Moves to a position in the file (not the blob), and `inner` to the
    /// chunk the next read needs; that chunk is read by the next `read`.
    /// A seek to the current position, or to the end (to learn the size),
    /// changes nothing the digest check needs.
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let size = self.opener.layout.size;
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the attachment"))?;
        if target < size {
            let (index, _) = Layout::chunk_of(target);
            // With the chunk held, `inner` must be at the next one.
            let next = if self.chunk == Some(index) { index + 1 } else { index };
            if self.where_inner != Inner::Chunk(next) {
                if !self.header_ok {
                    self.seek_inner(0)?;
                    self.where_inner = Inner::Start;
                    self.guarded(Self::header)?;
                }
                self.seek_inner(self.opener.layout.chunk_offset(next))?;
                self.where_inner = Inner::Chunk(next);
            }
        } else if matches!(self.where_inner, Inner::Lost(_)) {
            self.where_inner = Inner::Elsewhere;
        }
        self.pos = target;
        Ok(target)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.pos)
    }
}

impl<R: Read> fmt::Debug for AttachmentReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentReader")
            .field("size", &self.opener.layout.size)
            .field("pos", &self.pos)
            .field("digest_checked", &self.digest_ok)
            .finish_non_exhaustive()
    }
}
