//! Buffered tables to Parquet objects in the raw bucket, at
//! `sources/<source>/<table>/year=YYYY/month=MM/day=DD/<load_id>-<part>.parquet`, zstd, with the
//! load's identity in the key-value metadata (the converter reads `icepipe.write_disposition`).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::config::WriteDisposition;
use super::json_arrow::table::TableBuffer;
use crate::convert::disposition::{LOAD_ID_KEY, WRITE_DISPOSITION_KEY};
use crate::storage::ObjectStore;

/// Where and how one load's files are written.
#[derive(Debug)]
pub struct PartWriter {
    store: Arc<dyn ObjectStore>,
    source: String,
    resource: String,
    load_id: String,
    date_path: String,
    disposition: WriteDisposition,
    /// Next part number per table.
    parts: BTreeMap<String, u32>,
    /// Keys written so far, in order.
    pub files: Vec<String>,
    /// Rows written per table.
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
    ) -> Self {
        Self {
            store,
            source: source.to_string(),
            resource: resource.to_string(),
            load_id: load_id.to_string(),
            date_path: loaded_at.format("year=%Y/month=%m/day=%d").to_string(),
            disposition,
            parts: BTreeMap::new(),
            files: Vec::new(),
            rows: BTreeMap::new(),
        }
    }

    /// Writes the table's buffered rows as the next part of that table; nothing if it is empty.
    pub async fn flush(&mut self, table: &mut TableBuffer) -> Result<(), String> {
        if table.row_count() == 0 {
            return Ok(());
        }
        let batch = table
            .take_batch()
            .map_err(|e| format!("table {}: {e}", table.name))?;
        let part = self.parts.entry(table.name.clone()).or_insert(0);
        *part += 1;
        let key = format!(
            "sources/{}/{}/{}/{}-{:04}.parquet",
            self.source, table.name, self.date_path, self.load_id, part
        );
        let body = self
            .encode(&batch)
            .map_err(|e| format!("{key}: cannot encode Parquet: {e}"))?;
        self.store
            .put(&key, body)
            .await
            .map_err(|e| e.to_string())?;
        *self.rows.entry(table.name.clone()).or_insert(0) += batch.num_rows() as u64;
        self.files.push(key);
        Ok(())
    }

    fn encode(&self, batch: &RecordBatch) -> Result<Bytes, parquet::errors::ParquetError> {
        let metadata = [
            // The converter reads these two (same constants, so they cannot drift apart).
            (LOAD_ID_KEY, self.load_id.as_str()),
            (WRITE_DISPOSITION_KEY, self.disposition.as_str()),
            ("icepipe.source", self.source.as_str()),
            ("icepipe.resource", self.resource.as_str()),
        ]
        .map(|(k, v)| KeyValue::new(k.to_string(), v.to_string()));
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_key_value_metadata(Some(metadata.to_vec()))
            .build();
        let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties))?;
        writer.write(batch)?;
        Ok(Bytes::from(writer.into_inner()?))
    }
}
