//! Local files as an [`ObjectStore`], so `icepipe convert ./file.parquet` takes the same path as
//! an object in a bucket. Read-only: icepipe never writes next to the user's files.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use bytes::Bytes;
use icepipe_core::storage::{ObjectMeta, ObjectStore, ObjectWriter, StorageError, StorageResult};

/// Keys are paths relative to `root` (or absolute when `root` is empty).
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn io_error(&self, key: &str, err: std::io::Error) -> StorageError {
        let location = self.describe(key);
        match err.kind() {
            std::io::ErrorKind::NotFound => StorageError::NotFound { location },
            std::io::ErrorKind::PermissionDenied => StorageError::Denied {
                location,
                reason: err.to_string(),
            },
            _ => StorageError::other(location, err),
        }
    }

    fn read_only(&self, key: &str) -> StorageError {
        StorageError::Denied {
            location: self.describe(key),
            reason: "local input files are read-only to icepipe".into(),
        }
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn describe(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    async fn head(&self, key: &str) -> StorageResult<ObjectMeta> {
        let meta = std::fs::metadata(self.path(key)).map_err(|e| self.io_error(key, e))?;
        if !meta.is_file() {
            return Err(StorageError::other(
                self.describe(key),
                "not a regular file",
            ));
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        Ok(ObjectMeta {
            key: key.to_string(),
            size: meta.len(),
            // A content hash, like S3's ETag: the same bytes are the same object wherever and
            // whenever they were written, so converting a copy again duplicates nothing.
            etag: content_hash(&self.path(key)).map_err(|e| self.io_error(key, e))?,
            last_modified_ms: modified.as_millis() as i64,
        })
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> StorageResult<Bytes> {
        let mut file = std::fs::File::open(self.path(key)).map_err(|e| self.io_error(key, e))?;
        file.seek(SeekFrom::Start(range.start))
            .map_err(|e| self.io_error(key, e))?;
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        file.read_exact(&mut buf)
            .map_err(|e| self.io_error(key, e))?;
        Ok(Bytes::from(buf))
    }

    async fn get(&self, key: &str) -> StorageResult<Bytes> {
        std::fs::read(self.path(key))
            .map(Bytes::from)
            .map_err(|e| self.io_error(key, e))
    }

    async fn put(&self, key: &str, _body: Bytes) -> StorageResult<()> {
        Err(self.read_only(key))
    }

    async fn put_if_absent(&self, key: &str, _body: Bytes) -> StorageResult<()> {
        Err(self.read_only(key))
    }

    async fn writer(&self, key: &str) -> StorageResult<Box<dyn ObjectWriter>> {
        Err(self.read_only(key))
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        Err(self.read_only(key))
    }

    async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>> {
        let mut keys = Vec::new();
        collect_files(&self.root, &self.path(prefix), &mut keys)
            .map_err(|e| self.io_error(prefix, e))?;
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.head(&key).await?);
        }
        Ok(out)
    }
}

/// SHA-256 of the file, read in 1 MiB blocks (memory stays flat for any size).
fn content_hash(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex::encode(hash.finalize()))
}

fn collect_files(root: &PathBuf, dir: &PathBuf, keys: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(root, &path, keys)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            keys.push(relative.to_string_lossy().into_owned());
        }
    }
    Ok(())
}
