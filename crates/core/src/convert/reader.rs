//! Streams a raw Parquet object out of an [`ObjectStore`] with ranged reads: the footer first,
//! then one row group at a time, so memory follows the row group size, never the file size.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::raw::limits;
use crate::storage::ObjectStore;

/// Footers are usually a few KiB; one read of this size fetches most in a single request.
const FOOTER_PREFETCH: usize = 64 * 1024;
/// Column chunks closer than this are fetched in one request: fewer round trips, little waste.
const COALESCE_GAP: u64 = 1024 * 1024;

/// An `AsyncFileReader` over one object of a store.
#[derive(Debug, Clone)]
pub struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    key: String,
    size: u64,
}

impl ObjectReader {
    pub fn new(store: Arc<dyn ObjectStore>, key: impl Into<String>, size: u64) -> Self {
        Self {
            store,
            key: key.into(),
            size,
        }
    }

    /// Reads and parses the footer: fails on anything that is not a readable Parquet file.
    pub async fn load_footer(&mut self) -> ParquetResult<Arc<ParquetMetaData>> {
        self.get_metadata(None).await
    }

    /// The rows the footer declares.
    pub async fn declared_rows(mut self) -> ParquetResult<u64> {
        let footer = self.load_footer().await?;
        Ok(footer.file_metadata().num_rows().max(0) as u64)
    }

    /// A stream of record batches, row group by row group, reusing a loaded footer; only the
    /// row groups in `row_groups` when given (a slice of the object). Batches hold fewer rows the
    /// wider the file ([`limits::batch_rows`]), so decoded data stays a few MiB.
    pub fn stream(
        self,
        metadata: ArrowReaderMetadata,
        row_groups: Option<Range<usize>>,
    ) -> ParquetResult<ParquetRecordBatchStream<ObjectReader>> {
        let rows = limits::batch_rows(metadata.parquet_schema().num_columns());
        let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(self, metadata)
            .with_batch_size(rows);
        match row_groups {
            Some(range) => builder.with_row_groups(range.collect()).build(),
            None => builder.build(),
        }
    }

    /// The rows one leaf column decodes to in one row group: tells which columns' pages
    /// disagree with the footer when a row group comes up short.
    pub async fn count_rows(
        self,
        metadata: ArrowReaderMetadata,
        row_group: usize,
        leaf: usize,
    ) -> ParquetResult<u64> {
        let descr = metadata.metadata().file_metadata().schema_descr_ptr();
        let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(self, metadata)
            .with_batch_size(limits::MAX_BATCH_ROWS)
            .with_row_groups(vec![row_group])
            .with_projection(ProjectionMask::leaves(&descr, [leaf]))
            .build()?;
        let mut rows = 0;
        while let Some(batch) = stream.try_next().await? {
            rows += batch.num_rows() as u64;
        }
        Ok(rows)
    }

    async fn fetch(&self, range: Range<u64>) -> ParquetResult<Bytes> {
        if range.end > self.size {
            return Err(ParquetError::EOF(format!(
                "range {range:?} is past the end of {} ({} bytes)",
                self.store.describe(&self.key),
                self.size
            )));
        }
        self.store
            .get_range(&self.key, range)
            .await
            .map_err(|e| ParquetError::External(Box::new(e)))
    }
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, ParquetResult<Bytes>> {
        async move { self.fetch(range).await }.boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, ParquetResult<Vec<Bytes>>> {
        async move {
            let mut out = Vec::with_capacity(ranges.len());
            for group in coalesce(&ranges) {
                let span = group.span.clone();
                let bytes = self.fetch(span.clone()).await?;
                for &i in &group.members {
                    let r = &ranges[i];
                    out.push((
                        i,
                        bytes.slice((r.start - span.start) as usize..(r.end - span.start) as usize),
                    ));
                }
            }
            out.sort_by_key(|(i, _)| *i);
            Ok(out.into_iter().map(|(_, b)| b).collect())
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, ParquetResult<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(FOOTER_PREFETCH))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

struct RangeGroup {
    span: Range<u64>,
    members: Vec<usize>,
}

/// Groups ranges (in file order) whose gaps are below [`COALESCE_GAP`].
fn coalesce(ranges: &[Range<u64>]) -> Vec<RangeGroup> {
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| ranges[i].start);
    let mut groups: Vec<RangeGroup> = Vec::new();
    for i in order {
        let r = &ranges[i];
        match groups.last_mut() {
            Some(g) if r.start <= g.span.end + COALESCE_GAP => {
                g.span.end = g.span.end.max(r.end);
                g.members.push(i);
            }
            _ => groups.push(RangeGroup {
                span: r.clone(),
                members: vec![i],
            }),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesces_near_ranges_and_keeps_far_ones_apart() {
        let ranges = vec![100..200, 0..50, 5_000_000..5_000_010, 210..300];
        let groups = coalesce(&ranges);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].span, 0..300);
        assert_eq!(groups[0].members, vec![1, 0, 3]);
        assert_eq!(groups[1].span, 5_000_000..5_000_010);
    }
}
