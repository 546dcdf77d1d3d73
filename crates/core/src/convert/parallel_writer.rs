//! An Iceberg Parquet file writer that encodes the columns of each row group in parallel
//! natively ([`super::column_encoding`]) and one after another on wasm32. It stands where the
//! `iceberg` crate's `ParquetWriter` stood (same traits, so the rolling and fanout writers stay)
//! and writes the same bytes as it would: the same `parquet` file writer, schema conversion,
//! Arrow schema in the footer and row-group limits; only the per-column work is spread out.
//! Columns that are near-unique in the file's first batch are written without a dictionary
//! ([`super::dictionary`]). Metrics come from [`super::file_metrics`].

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef as ArrowSchemaRef;
use iceberg::io::{FileWrite, OutputFile};
use iceberg::spec::{DataFileBuilder, SchemaRef};
use iceberg::writer::file_writer::{FileWriter, FileWriterBuilder};
use iceberg::writer::CurrentFileStatus;
use iceberg::{Error, ErrorKind, Result};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowRowGroupWriterFactory, ArrowWriter};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use super::block_buffer::BlockBuffer;
use super::column_encoding::RowGroupColumns;
use super::dictionary::near_unique_columns;
use super::file_metrics::{data_file_builder, NanCounts};

#[cfg(test)]
mod tests;

/// Builds a [`ParallelParquetWriter`] per data file.
#[derive(Clone, Debug)]
pub struct ParallelParquetWriterBuilder {
    properties: WriterProperties,
    schema: SchemaRef,
    arrow_schema: ArrowSchemaRef,
}

impl ParallelParquetWriterBuilder {
    /// `arrow_schema` is `schema` converted (with field ids), as the batches come.
    pub fn new(
        properties: WriterProperties,
        schema: SchemaRef,
        arrow_schema: ArrowSchemaRef,
    ) -> Self {
        Self {
            properties,
            schema,
            arrow_schema,
        }
    }
}

impl FileWriterBuilder for ParallelParquetWriterBuilder {
    type R = ParallelParquetWriter;

    async fn build(&self, output_file: OutputFile) -> Result<Self::R> {
        Ok(ParallelParquetWriter {
            builder: self.clone(),
            output_file,
            open: None,
            rows: 0,
            nan_counts: NanCounts::default(),
        })
    }
}

/// Writes one Parquet data file; the file is created with its first non-empty batch.
pub struct ParallelParquetWriter {
    builder: ParallelParquetWriterBuilder,
    output_file: OutputFile,
    open: Option<OpenFile>,
    rows: usize,
    nan_counts: NanCounts,
}

/// The file being written: encoded bytes collect in `file`'s buffer and move to `out` after
/// each row group.
struct OpenFile {
    out: Box<dyn FileWrite>,
    file: SerializedFileWriter<BlockBuffer>,
    columns: ArrowRowGroupWriterFactory,
    row_group: Option<RowGroup>,
    max_rows: Option<usize>,
    max_bytes: Option<usize>,
}

/// The row group being encoded.
struct RowGroup {
    columns: RowGroupColumns,
    rows: usize,
}

/// The `iceberg` crate's writer's words, so errors read the same as before.
const WRITE_FAILED: &str = "Failed to write using parquet writer.";

fn parquet_error(context: &str) -> impl FnOnce(parquet::errors::ParquetError) -> Error + '_ {
    move |e| Error::new(ErrorKind::Unexpected, context.to_string()).with_source(e)
}

impl OpenFile {
    async fn create(
        builder: &ParallelParquetWriterBuilder,
        output_file: &OutputFile,
        first: &RecordBatch,
    ) -> Result<Self> {
        let properties = plain_where_near_unique(&builder.properties, first);
        let max_rows = properties.max_row_group_row_count();
        let max_bytes = properties.max_row_group_bytes();
        // `ArrowWriter` does the schema conversion and stores the Arrow schema in the footer
        // exactly as the iceberg crate's writer does; we keep its lower-level parts.
        let (file, columns) = ArrowWriter::try_new(
            BlockBuffer::default(),
            builder.arrow_schema.clone(),
            Some(properties),
        )
        .and_then(ArrowWriter::into_serialized_writer)
        .map_err(parquet_error("Failed to build parquet writer."))?;
        Ok(Self {
            out: output_file.writer().await?,
            file,
            columns,
            row_group: None,
            max_rows,
            max_bytes,
        })
    }

    /// Encodes `batch`, closing row groups at the row and byte limits the way `ArrowWriter`
    /// does (a batch that would cross a limit is split).
    async fn write(&mut self, schema: &ArrowSchemaRef, batch: &RecordBatch) -> Result<()> {
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            if self.row_group.is_none() {
                let writers = self
                    .columns
                    .create_column_writers(self.file.flushed_row_groups().len())
                    .map_err(parquet_error("Failed to build parquet column writers."))?;
                self.row_group = Some(RowGroup {
                    columns: RowGroupColumns::new(writers),
                    rows: 0,
                });
            }
            let fits = self.rows_that_fit()?;
            if fits == 0 {
                self.flush().await?;
                continue;
            }
            let take = fits.min(rest.num_rows());
            let part = rest.slice(0, take);
            rest = rest.slice(take, rest.num_rows() - take);
            let row_group = self.row_group.as_mut().expect("opened above");
            encode(row_group, schema, &part)?;
            row_group.rows += take;
            // The byte limit is checked before the next batch (once this one is encoded).
            if self.max_rows.is_some_and(|max| row_group.rows >= max) {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// Rows the open row group still takes: what is left under the row limit and, once the
    /// group has rows, under the byte limit at its average encoded row size (0: it is full).
    fn rows_that_fit(&mut self) -> Result<usize> {
        let (max_rows, max_bytes) = (self.max_rows, self.max_bytes);
        let row_group = self.row_group.as_mut().expect("opened by the caller");
        let mut fits = match max_rows {
            Some(max) => max.saturating_sub(row_group.rows),
            None => usize::MAX,
        };
        if let (Some(max), true) = (max_bytes, row_group.rows > 0) {
            let bytes = row_group
                .columns
                .settled_bytes()
                .map_err(parquet_error(WRITE_FAILED))?;
            if bytes >= max {
                return Ok(0);
            }
            let per_row = bytes / row_group.rows;
            if let Some(more) = (max - bytes).checked_div(per_row) {
                fits = fits.min(more);
            }
        }
        Ok(fits)
    }

    /// Closes the open row group and moves the encoded bytes to the output.
    async fn flush(&mut self) -> Result<()> {
        let Some(row_group) = self.row_group.take() else {
            return Ok(());
        };
        let chunks = row_group
            .columns
            .close()
            .map_err(parquet_error(WRITE_FAILED))?;
        let mut appender = self
            .file
            .next_row_group()
            .map_err(parquet_error(WRITE_FAILED))?;
        for chunk in chunks {
            chunk
                .append_to_row_group(&mut appender)
                .map_err(parquet_error(WRITE_FAILED))?;
        }
        appender.close().map_err(parquet_error(WRITE_FAILED))?;
        self.drain().await
    }

    async fn drain(&mut self) -> Result<()> {
        self.file
            .flush()
            .map_err(|e| Error::new(ErrorKind::Unexpected, WRITE_FAILED).with_source(e))?;
        for block in self.file.inner_mut().take() {
            self.out.write(block).await?;
        }
        Ok(())
    }

    /// Bytes written plus the open row group's estimate as of its last encoded batch (one
    /// batch behind at most: good enough for rolling files at a target size).
    fn current_size(&self) -> usize {
        self.file.bytes_written()
            + self
                .row_group
                .as_ref()
                .map_or(0, |group| group.columns.last_known_bytes())
    }
}

fn encode(row_group: &mut RowGroup, schema: &ArrowSchemaRef, batch: &RecordBatch) -> Result<()> {
    let mut leaves = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        leaves.extend(compute_leaves(field, column).map_err(parquet_error(WRITE_FAILED))?);
    }
    row_group
        .columns
        .submit(leaves)
        .map_err(parquet_error(WRITE_FAILED))
}

/// `properties` with dictionary encoding off for the columns near-unique in `first`.
fn plain_where_near_unique(properties: &WriterProperties, first: &RecordBatch) -> WriterProperties {
    let plain: Vec<_> = near_unique_columns(first)
        .into_iter()
        .filter(|column| properties.dictionary_enabled(column))
        .collect();
    if plain.is_empty() {
        return properties.clone();
    }
    plain
        .into_iter()
        .fold(properties.clone().into_builder(), |builder, column| {
            builder.set_column_dictionary_enabled(column, false)
        })
        .build()
}

impl FileWriter for ParallelParquetWriter {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows();
        self.nan_counts.add(&self.builder.schema, batch);
        let open = match &mut self.open {
            Some(open) => open,
            empty => empty.insert(OpenFile::create(&self.builder, &self.output_file, batch).await?),
        };
        open.write(&self.builder.arrow_schema, batch).await
    }

    async fn close(mut self) -> Result<Vec<DataFileBuilder>> {
        let Some(mut open) = self.open.take() else {
            return Ok(vec![]);
        };
        open.flush().await?;
        let metadata = open
            .file
            .finish()
            .map_err(parquet_error("Failed to finish parquet writer."))?;
        let written = open.file.bytes_written();
        open.drain().await?;
        open.out.close().await?;
        Ok(vec![data_file_builder(
            &self.builder.schema,
            &Arc::new(metadata),
            written,
            self.output_file.location().to_string(),
            self.nan_counts.into_map(),
        )?])
    }
}

impl CurrentFileStatus for ParallelParquetWriter {
    fn current_file_path(&self) -> String {
        self.output_file.location().to_string()
    }

    fn current_row_num(&self) -> usize {
        self.rows
    }

    fn current_written_size(&self) -> usize {
        self.open.as_ref().map_or(0, OpenFile::current_size)
    }
}
