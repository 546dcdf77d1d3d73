//! Buffered tables to Parquet objects in the raw bucket, at
//! `sources/<source>/<table>/year=YYYY/month=MM/day=DD/<load_id>-<part>.parquet`
//! ([`RawKey::load_part`]), zstd, with the load's footer ([`LoadFooter`]) the converter reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::json_arrow::table::TableBuffer;
use super::state::StateError;
use crate::raw::footer::{LoadFooter, MergeKeys, WriteDisposition};
use crate::raw::key::RawKey;
use crate::raw::limits;
use crate::storage::{ObjectStore, StorageError};

/// Why a part could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error("table {table}: {reason}")]
    Build { table: String, reason: String },
    #[error("{key}: cannot encode Parquet: {source}")]
    Encode {
        key: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error(transparent)]
    Store(#[from] StorageError),
    /// The resource's schema could not be recorded before the part: nothing was written.
    #[error("the resource's schema was not recorded, so no part was written: {0}")]
    Schema(#[from] StateError),
}

impl PartError {
    /// Storage trouble may pass; a batch that cannot be built or encoded will not.
    pub fn is_transient(&self) -> bool {
        match self {
            PartError::Store(e) => e.is_transient(),
            PartError::Schema(e) => e.is_transient(),
            PartError::Build { .. } | PartError::Encode { .. } => false,
        }
    }
}

/// Where and how one load's files are written.
#[derive(Debug)]
pub struct PartWriter {
    store: Arc<dyn ObjectStore>,
    source: String,
    load_id: String,
    loaded_at: DateTime<Utc>,
    footer: LoadFooter,
    /// Next part number per table.
    parts: BTreeMap<String, u32>,
    /// Keys written so far, in order.
    pub files: Vec<String>,
    /// Rows written per table, as the footers of the files written declare them.
    pub rows: BTreeMap<String, u64>,
}

impl PartWriter {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        source: &str,
        resource: &str,
        load_id: &str,
        loaded_at: DateTime<Utc>,
        disposition: WriteDisposition,
        merge: Option<MergeKeys>,
    ) -> Self {
        let footer = match merge {
            Some(keys) => LoadFooter::of_merge_load(load_id, source, resource, keys),
            None => LoadFooter::of_load(load_id, disposition, source, resource),
        };
        Self {
            store,
            source: source.to_string(),
            load_id: load_id.to_string(),
            loaded_at,
            footer,
            parts: BTreeMap::new(),
            files: Vec::new(),
            rows: BTreeMap::new(),
        }
    }

    /// The table's buffered rows as one batch (its columns recorded from then on).
    pub fn take(table: &mut TableBuffer) -> Result<RecordBatch, PartError> {
        table.take_batch().map_err(|e| PartError::Build {
            table: table.name.clone(),
            reason: e.to_string(),
        })
    }

    /// Writes `batch` as the next part of `table`.
    pub async fn write(&mut self, table: &str, batch: RecordBatch) -> Result<(), PartError> {
        let part = self.parts.entry(table.to_string()).or_insert(0);
        *part += 1;
        let key = RawKey::load_part(&self.source, table, self.loaded_at, &self.load_id, *part)
            .to_string();
        let (body, rows) = self.encode(&batch).map_err(|source| PartError::Encode {
            key: key.clone(),
            source,
        })?;
        self.store.put(&key, body).await?;
        *self.rows.entry(table.to_string()).or_insert(0) += rows;
        self.files.push(key);
        Ok(())
    }

    /// The Parquet file and the rows its footer declares.
    fn encode(&self, batch: &RecordBatch) -> Result<(Bytes, u64), parquet::errors::ParquetError> {
        let properties = limits::for_width(
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_key_value_metadata(Some(self.footer.key_values())),
            limits::leaf_columns(&batch.schema()),
        )
        .build();
        let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties))?;
        writer.write(batch)?;
        let footer = writer.finish()?;
        let rows = footer.file_metadata().num_rows() as u64;
        // `finish` wrote the footer; `into_inner` would write it a second time.
        Ok((Bytes::from(std::mem::take(writer.inner_mut())), rows))
    }
}
