//! Streaming uploads in equal-size parts, shared by every backend with multipart uploads (S3 and
//! R2): [`PartWriter`] does the buffering and the small-object shortcut, a [`PartSink`] speaks the
//! backend's protocol.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use super::{ObjectWriter, StorageError, StorageResult};

/// S3 and R2 allow at most this many parts per upload.
pub const MAX_PARTS: u16 = 10_000;

/// One multipart upload on a backend.
#[async_trait]
pub trait PartSink: Send {
    /// The object's location, for messages.
    fn location(&self) -> String;
    /// The whole object in one request: objects smaller than one part skip the multipart dance.
    async fn put_whole(&mut self, body: Bytes) -> StorageResult<()>;
    /// Uploads part `number` (1-based, consecutive), starting the upload on the first call.
    async fn upload_part(&mut self, number: u16, body: Bytes) -> StorageResult<()>;
    /// Completes the upload from the parts uploaded so far.
    async fn complete(&mut self) -> StorageResult<()>;
    /// Drops the upload if one was started.
    async fn abort(&mut self) -> StorageResult<()>;
}

/// An [`ObjectWriter`] over a [`PartSink`]. Every part but the last has exactly `part_size` bytes
/// (R2 requires it), and at most one part is buffered: whole parts are sliced out of large chunks
/// without copying.
pub struct PartWriter<S> {
    sink: S,
    part_size: usize,
    buffer: BytesMut,
    parts: u16,
    size: u64,
    closed: bool,
}

impl<S: PartSink> PartWriter<S> {
    pub fn new(sink: S, part_size: usize) -> Self {
        Self {
            sink,
            part_size,
            buffer: BytesMut::new(),
            parts: 0,
            size: 0,
            closed: false,
        }
    }

    fn ensure_open(&self) -> StorageResult<()> {
        if self.closed {
            return Err(StorageError::other(
                self.sink.location(),
                "writer already finished or aborted",
            ));
        }
        Ok(())
    }

    async fn upload(&mut self, part: Bytes) -> StorageResult<()> {
        if self.parts >= MAX_PARTS {
            return Err(StorageError::other(
                self.sink.location(),
                format!("more than {MAX_PARTS} parts; raise the part size"),
            ));
        }
        self.parts += 1;
        self.sink.upload_part(self.parts, part).await
    }

    /// After a failure: close, drop the upload (best effort) and return the original error.
    async fn fail(&mut self, error: StorageError) -> StorageError {
        // The original error matters more than a failed cleanup; lifecycle rules catch leftovers.
        let _ = self.abort().await;
        error
    }
}

#[async_trait]
impl<S: PartSink> ObjectWriter for PartWriter<S> {
    async fn write(&mut self, mut chunk: Bytes) -> StorageResult<()> {
        self.ensure_open()?;
        self.size += chunk.len() as u64;
        let part_size = self.part_size;
        while !chunk.is_empty() {
            let part = if self.buffer.is_empty() && chunk.len() >= part_size {
                chunk.split_to(part_size)
            } else {
                if self.buffer.capacity() < part_size {
                    self.buffer.reserve(part_size - self.buffer.len());
                }
                let take = (part_size - self.buffer.len()).min(chunk.len());
                self.buffer.extend_from_slice(&chunk.split_to(take));
                if self.buffer.len() < part_size {
                    break;
                }
                self.buffer.split().freeze()
            };
            if let Err(error) = self.upload(part).await {
                return Err(self.fail(error).await);
            }
        }
        Ok(())
    }

    async fn finish(&mut self) -> StorageResult<u64> {
        self.ensure_open()?;
        let rest = std::mem::take(&mut self.buffer).freeze();
        if self.parts == 0 {
            self.closed = true;
            self.sink.put_whole(rest).await?;
            return Ok(self.size);
        }
        if !rest.is_empty() {
            if let Err(error) = self.upload(rest).await {
                return Err(self.fail(error).await);
            }
        }
        if let Err(error) = self.sink.complete().await {
            return Err(self.fail(error).await);
        }
        self.closed = true;
        Ok(self.size)
    }

    async fn abort(&mut self) -> StorageResult<()> {
        self.closed = true;
        self.buffer = BytesMut::new();
        self.sink.abort().await
    }
}
