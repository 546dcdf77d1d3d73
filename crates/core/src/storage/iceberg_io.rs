//! Lets the `iceberg` crate's writers (Parquet data files, manifests, manifest lists) write through
//! icepipe's [`ObjectStore`]s: a `Storage` + `StorageFactory` that resolve `s3://bucket/key`
//! locations with a [`StoreResolver`].

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use iceberg::io::{
    FileIO, FileIOBuilder, FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage,
    StorageConfig, StorageFactory,
};
use iceberg::{Error, ErrorKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ObjectStore, ObjectUrl, ObjectWriter, StorageError, StoreResolver};

/// A `FileIO` whose every read and write goes through `resolver`.
pub fn file_io(resolver: Arc<dyn StoreResolver>) -> FileIO {
    FileIOBuilder::new(Arc::new(IcepipeStorageFactory(IcepipeStorage { resolver }))).build()
}

/// The `iceberg::io::Storage` over icepipe's stores.
#[derive(Debug, Clone)]
pub struct IcepipeStorage {
    resolver: Arc<dyn StoreResolver>,
}

impl IcepipeStorage {
    fn locate(&self, path: &str) -> iceberg::Result<(Arc<dyn ObjectStore>, String)> {
        let url = ObjectUrl::parse(path).ok_or_else(|| {
            Error::new(
                ErrorKind::DataInvalid,
                format!("{path} is not an s3:// location icepipe can write"),
            )
        })?;
        let store = self
            .resolver
            .store_for_bucket(&url.bucket)
            .map_err(to_iceberg)?;
        Ok((store, url.key))
    }
}

/// Keeps the storage error as the source so callers can tell storage failures (transient) from
/// data problems when an `iceberg` writer reports them.
pub fn to_iceberg(err: StorageError) -> Error {
    Error::new(ErrorKind::Unexpected, err.to_string()).with_source(err)
}

/// The first [`StorageError`] in an error's source chain, if any.
pub fn find_storage_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a StorageError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<StorageError>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

// The `iceberg` traits are `typetag`-serializable so a FileIO can cross process boundaries; ours
// holds live connections and never does, so (de)serializing it is an error.
macro_rules! not_serializable {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom(
                    "icepipe storage cannot be serialized",
                ))
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
                Err(serde::de::Error::custom(
                    "icepipe storage cannot be deserialized",
                ))
            }
        }
    };
}
not_serializable!(IcepipeStorage);
not_serializable!(IcepipeStorageFactory);

#[async_trait]
#[typetag::serde(name = "icepipe")]
impl Storage for IcepipeStorage {
    async fn exists(&self, path: &str) -> iceberg::Result<bool> {
        let (store, key) = self.locate(path)?;
        match store.head(&key).await {
            Ok(_) => Ok(true),
            Err(StorageError::NotFound { .. }) => Ok(false),
            Err(e) => Err(to_iceberg(e)),
        }
    }

    async fn metadata(&self, path: &str) -> iceberg::Result<FileMetadata> {
        let (store, key) = self.locate(path)?;
        let meta = store.head(&key).await.map_err(to_iceberg)?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> iceberg::Result<Bytes> {
        let (store, key) = self.locate(path)?;
        store.get(&key).await.map_err(to_iceberg)
    }

    async fn reader(&self, path: &str) -> iceberg::Result<Box<dyn FileRead>> {
        let (store, key) = self.locate(path)?;
        Ok(Box::new(RangeReader { store, key }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> iceberg::Result<()> {
        let (store, key) = self.locate(path)?;
        store.put(&key, bs).await.map_err(to_iceberg)
    }

    async fn writer(&self, path: &str) -> iceberg::Result<Box<dyn FileWrite>> {
        let (store, key) = self.locate(path)?;
        let inner = store.writer(&key).await.map_err(to_iceberg)?;
        Ok(Box::new(StreamingWriter { inner }))
    }

    async fn delete(&self, path: &str) -> iceberg::Result<()> {
        let (store, key) = self.locate(path)?;
        store.delete(&key).await.map_err(to_iceberg)
    }

    async fn delete_prefix(&self, path: &str) -> iceberg::Result<()> {
        let (store, prefix) = self.locate(path)?;
        for object in store.list(&prefix).await.map_err(to_iceberg)? {
            store.delete(&object.key).await.map_err(to_iceberg)?;
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> iceberg::Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> iceberg::Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> iceberg::Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

#[derive(Debug, Clone)]
pub struct IcepipeStorageFactory(IcepipeStorage);

#[typetag::serde(name = "icepipe-factory")]
impl StorageFactory for IcepipeStorageFactory {
    fn build(&self, _config: &StorageConfig) -> iceberg::Result<Arc<dyn Storage>> {
        Ok(Arc::new(self.0.clone()))
    }
}

struct RangeReader {
    store: Arc<dyn ObjectStore>,
    key: String,
}

#[async_trait]
impl FileRead for RangeReader {
    async fn read(&self, range: Range<u64>) -> iceberg::Result<Bytes> {
        self.store
            .get_range(&self.key, range)
            .await
            .map_err(to_iceberg)
    }
}

struct StreamingWriter {
    inner: Box<dyn ObjectWriter>,
}

#[async_trait]
impl FileWrite for StreamingWriter {
    async fn write(&mut self, bs: Bytes) -> iceberg::Result<()> {
        if let Err(e) = self.inner.write(bs).await {
            // Best effort: an abandoned multipart upload would otherwise linger.
            let _ = self.inner.abort().await;
            return Err(to_iceberg(e));
        }
        Ok(())
    }

    async fn close(&mut self) -> iceberg::Result<()> {
        self.inner.finish().await.map(|_| ()).map_err(to_iceberg)
    }
}
