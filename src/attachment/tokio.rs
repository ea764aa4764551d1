//! tokio adapters (feature `tokio`): the [`super::AttachmentWriter`] and
//! [`super::AttachmentReader`] of async code, over the same encryptor and
//! decryptor.

use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use rand_core::CryptoRng;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use zeroize::Zeroizing;

use super::io::bad_count;
use super::{ATTACHMENT_CHUNK_LEN, AttachmentDecryptor, AttachmentEncryptor, AttachmentError, AttachmentPointer};

/// Encrypts everything written to it into `W`, like
/// [`super::AttachmentWriter`]: memory stays at about three chunks (each
/// `poll_write` takes at most one chunk). [`AsyncAttachmentWriter::finish`] writes the last
/// chunks and returns the pointer; `shutdown` does the same and shuts `W`
/// down, after which [`AsyncAttachmentWriter::pointer`] has the pointer.
///
/// ```
/// use dmseal::attachment::{AsyncAttachmentReader, AsyncAttachmentWriter};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let mut writer = AsyncAttachmentWriter::new(Vec::new());
/// writer.write_all(b"a voice note").await?;
/// let (blob, pointer) = writer.finish().await?;
///
/// let mut note = Vec::new();
/// AsyncAttachmentReader::new(&blob[..], &pointer).read_to_end(&mut note).await?;
/// assert_eq!(note, b"a voice note");
/// # Ok(())
/// # }
/// ```
pub struct AsyncAttachmentWriter<W> {
    inner: W,
    encryptor: AttachmentEncryptor,
    out: Vec<u8>,
    written: usize,
    pointer: Option<AttachmentPointer>,
}

impl<W: AsyncWrite + Unpin> AsyncAttachmentWriter<W> {
    /// Encrypts into `inner` under a fresh key from the operating system.
    pub fn new(inner: W) -> Self {
        Self::from_encryptor(inner, AttachmentEncryptor::new())
    }

    /// [`AsyncAttachmentWriter::new`] with the key drawn from `rng`, which
    /// must never give the same key twice.
    pub fn new_with_rng<R: CryptoRng + ?Sized>(inner: W, rng: &mut R) -> Self {
        Self::from_encryptor(inner, AttachmentEncryptor::new_with_rng(rng))
    }

    fn from_encryptor(inner: W, encryptor: AttachmentEncryptor) -> Self {
        Self { inner, encryptor, out: Vec::with_capacity(2 * ATTACHMENT_CHUNK_LEN), written: 0, pointer: None }
    }

    /// Writes the rest of the blob, flushes `inner`, and returns it with
    /// the pointer.
    pub async fn finish(mut self) -> io::Result<(W, AttachmentPointer)> {
        core::future::poll_fn(|cx| self.poll_finish(cx)).await?;
        core::future::poll_fn(|cx| Pin::new(&mut self.inner).poll_flush(cx)).await?;
        let pointer = self.pointer.take().ok_or_else(|| io::Error::other("attachment writer has no pointer"))?;
        Ok((self.inner, pointer))
    }

    /// The pointer, once the writer has finished (by `shutdown`).
    pub fn pointer(&self) -> Option<&AttachmentPointer> {
        self.pointer.as_ref()
    }

    /// The writer underneath.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The writer underneath. Writing to it directly breaks the blob.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Writes the pending ciphertext to `inner`.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(pending) = self.out.get(self.written..).filter(|p| !p.is_empty()) {
            match ready!(Pin::new(&mut self.inner).poll_write(cx, pending)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) if n > pending.len() => return Poll::Ready(Err(bad_count())),
                Ok(n) => self.written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.out.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Seals the last chunks and writes them; sets the pointer.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_drain(cx))?;
            if self.pointer.is_some() {
                return Poll::Ready(Ok(()));
            }
            self.pointer = self.encryptor.finish(&mut self.out)?;
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for AsyncAttachmentWriter<W> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        let taken = buf.get(..ATTACHMENT_CHUNK_LEN).unwrap_or(buf);
        this.encryptor.update(taken, &mut this.out)?;
        // `taken` is taken; its chunks are written now if `inner` is
        // ready, else by the next call.
        let _ = this.poll_drain(cx);
        Poll::Ready(Ok(taken.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    /// Finishes the attachment (the pointer is then in
    /// [`AsyncAttachmentWriter::pointer`]) and shuts `inner` down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_finish(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<W> fmt::Debug for AsyncAttachmentWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncAttachmentWriter").field("encryptor", &self.encryptor).finish_non_exhaustive()
    }
}

/// Decrypts a blob as it is read from `R`, like
/// [`super::AttachmentReader`] without seeking: each chunk is
/// authenticated before any of it is returned, and the end (`Ok(())`
/// with nothing read) comes only after the whole blob and its digest were
/// checked. For ranges, fetch chunks by their spans
/// ([`AttachmentPointer::chunk_span`]) and open them with
/// [`AttachmentDecryptor::open_chunk`].
pub struct AsyncAttachmentReader<R> {
    inner: R,
    decryptor: Option<AttachmentDecryptor>,
    /// Ciphertext read from `inner`.
    sealed: Box<[u8]>,
    /// Plaintext not yet returned, from `taken` on.
    plain: Zeroizing<Vec<u8>>,
    taken: usize,
    /// The error that ended the blob, returned by every later read.
    failed: Option<AttachmentError>,
}

impl<R: AsyncRead + Unpin> AsyncAttachmentReader<R> {
    /// Decrypts the blob `pointer` names, read from `inner`.
    pub fn new(inner: R, pointer: &AttachmentPointer) -> Self {
        Self {
            inner,
            decryptor: Some(AttachmentDecryptor::new(pointer)),
            sealed: vec![0u8; ATTACHMENT_CHUNK_LEN].into_boxed_slice(),
            plain: Zeroizing::new(Vec::with_capacity(2 * ATTACHMENT_CHUNK_LEN)),
            taken: 0,
            failed: None,
        }
    }

    /// The reader underneath.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The reader underneath. Reading from it directly breaks the reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The reader underneath.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for AsyncAttachmentReader<R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Chunks of pure padding give no bytes: yield now and then, so a
        // source that is always ready cannot hold the executor.
        for _ in 0..YIELD_AFTER_READS {
            if let Some(ready) = this.plain.get(this.taken..).filter(|p| !p.is_empty()) {
                let n = ready.len().min(buf.remaining());
                buf.put_slice(ready.get(..n).unwrap_or_default());
                this.taken += n;
                return Poll::Ready(Ok(()));
            }
            this.plain.clear();
            this.taken = 0;
            if let Some(failed) = &this.failed {
                return Poll::Ready(Err(failed.clone().into()));
            }
            let Some(decryptor) = this.decryptor.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let mut read = ReadBuf::new(&mut this.sealed);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            let result = if read.filled().is_empty() {
                // The end of the blob: complete, and the one the digest names?
                this.decryptor.take().map_or(Ok(()), |d| d.finish())
            } else {
                decryptor.update(read.filled(), &mut this.plain)
            };
            if let Err(e) = result {
                this.decryptor = None;
                this.failed = Some(e.clone());
                return Poll::Ready(Err(e.into()));
            }
            if this.decryptor.is_none() {
                return Poll::Ready(Ok(()));
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// How many reads from the source one `poll_read` makes without returning
/// a byte before it yields.
const YIELD_AFTER_READS: usize = 64;

impl<R> fmt::Debug for AsyncAttachmentReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncAttachmentReader").field("decryptor", &self.decryptor).finish_non_exhaustive()
    }
}
