//! Scratch: peak Rust heap per column (zstd's C allocations are not seen natively).
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, Float64Array};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, TimeUnit};
use icepipe_core::convert::probe::probe;
use icepipe_core::convert::writer::TableWriter;
use icepipe_core::raw::object::RawObject;
use icepipe_core::storage::memory::{MemoryResolver};
use icepipe_core::storage::ObjectStore;
use iceberg::spec::{FormatVersion, SortOrder, TableMetadataBuilder, Transform, UnboundPartitionSpec};

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let n = NOW.fetch_add(l.size(), SeqCst) + l.size();
        PEAK.fetch_max(n, SeqCst);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), SeqCst);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            let n = NOW.fetch_add(new - l.size(), SeqCst) + new - l.size();
            PEAK.fetch_max(n, SeqCst);
        } else {
            NOW.fetch_sub(l.size() - new, SeqCst);
        }
        System.realloc(p, l, new)
    }
}
#[global_allocator]
static A: Counting = Counting;

fn reset() -> usize { let n = NOW.load(SeqCst); PEAK.store(n, SeqCst); n }
fn peak_since(base: usize) -> usize { PEAK.load(SeqCst) - base }

fn wide(cols: usize, rows: usize) -> RecordBatch {
    let mut fields = vec![Field::new("_loaded_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(arrow_array::TimestampMicrosecondArray::from(vec![1_700_000_000_000_000i64; rows]).with_timezone("UTC"))];
    for c in 0..cols {
        match c % 3 {
            0 => { fields.push(Field::new(format!("c{c}"), DataType::Int64, true)); arrays.push(Arc::new(Int64Array::from_iter_values((0..rows).map(|r| (r * cols + c) as i64)))); }
            1 => { fields.push(Field::new(format!("c{c}"), DataType::Float64, true)); arrays.push(Arc::new(Float64Array::from_iter_values((0..rows).map(|r| r as f64 + c as f64 / 7.0)))); }
            _ => { fields.push(Field::new(format!("c{c}"), DataType::Utf8, true)); arrays.push(Arc::new(StringArray::from_iter_values((0..rows).map(|r| format!("v{r}-{c}"))))); }
        }
    }
    RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays).unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cols: usize = args[1].parse().unwrap();
    let rows: usize = args[2].parse().unwrap();
    let codec = args.get(3).map(String::as_str).unwrap_or("snappy");
    let batch = wide(cols, rows);
    if let Some(mode) = args.get(4) {
        let base = reset();
        let mut b = parquet::file::properties::WriterProperties::builder().set_compression(parquet::basic::Compression::UNCOMPRESSED);
        match mode.as_str() {
            "nostats" => b = b.set_statistics_enabled(parquet::file::properties::EnabledStatistics::None),
            "chunk" => b = b.set_statistics_enabled(parquet::file::properties::EnabledStatistics::Chunk),
            "nodict" => b = b.set_dictionary_enabled(false),
            "nodict_chunk" => b = b.set_dictionary_enabled(false).set_statistics_enabled(parquet::file::properties::EnabledStatistics::Chunk),
            "small" => b = b.set_dictionary_enabled(false).set_statistics_enabled(parquet::file::properties::EnabledStatistics::Chunk).set_write_batch_size(64).set_column_index_truncate_length(None).set_offset_index_disabled(true),
            _ => b = b.set_statistics_enabled(parquet::file::properties::EnabledStatistics::Page),
        }
        let mut w = parquet::arrow::ArrowWriter::try_new(Vec::new(), batch.schema(), Some(b.build())).unwrap();
        let after_new = peak_since(base);
        w.write(&batch).unwrap();
        let after_write = peak_since(base);
        let out = w.into_inner().unwrap();
        println!("arrowwriter {mode}: new {:.1} KiB/col, write {:.1} KiB/col, total {:.1} KiB/col, file {} KiB", after_new as f64/cols as f64/1024.0, after_write as f64/cols as f64/1024.0, peak_since(base) as f64/cols as f64/1024.0, out.len()/1024);
        return;
    }
    let compression = match codec { "zstd" => parquet::basic::Compression::ZSTD(Default::default()), "none" => parquet::basic::Compression::UNCOMPRESSED, _ => parquet::basic::Compression::SNAPPY };
    let props = parquet::file::properties::WriterProperties::builder().set_compression(compression).build();
    let mut w = parquet::arrow::ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    let bytes = w.into_inner().unwrap();
    drop(batch);
    let resolver = Arc::new(MemoryResolver::new());
    let raw = resolver.bucket("raw");
    raw.put("sources/s/r/year=2026/month=01/day=01/x.parquet", bytes.into()).await.unwrap();
    let meta = raw.head("sources/s/r/year=2026/month=01/day=01/x.parquet").await.unwrap();
    let store: Arc<dyn ObjectStore> = raw.clone();
    let object = RawObject::from_meta(store, meta);
    let base = reset();
    let probed = probe(object).await.unwrap();
    let probe_peak = peak_since(base);
    let spec = UnboundPartitionSpec::builder().add_partition_field(probed.schema.field_by_name("_loaded_at").unwrap().id, "_loaded_at_day", Transform::Day).unwrap().build();
    let metadata = TableMetadataBuilder::new(probed.schema.clone(), spec, SortOrder::unsorted_order(), "s3://warehouse/t".into(), FormatVersion::V2, HashMap::from([("write.parquet.compression-codec".to_string(), "uncompressed".to_string())])).unwrap().build().unwrap().metadata;
    let file_io = icepipe_core::storage::iceberg_io::file_io(resolver.clone());
    let writer = TableWriter::new(file_io, &metadata, metadata.current_schema().clone()).unwrap();
    let base2 = reset();
    let files = writer.write(&probed).await.unwrap();
    let write_peak = peak_since(base2);
    println!("cols {cols} rows {rows} codec {codec}: probe peak {:.1} KiB/col, write peak {:.1} KiB/col ({:.1} MiB), files {}", probe_peak as f64 / cols as f64 / 1024.0, write_peak as f64 / cols as f64 / 1024.0, write_peak as f64 / 1048576.0, files.len());
}
