//! Writes one raw object's rows as Iceberg data files: conform each batch to the table schema,
//! split by partition, and hand it to our Parquet file writer ([`super::parallel_writer`]: field
//! ids, the table's compression (zstd 1 by default), columns encoded in parallel natively, full
//! metrics). Files are named from the object's (key, eTag)
//! digest and a part counter. Every row group must decode to the rows its footer declares, and
//! the data files must hold them all ([`super::rows`]), or the object fails.

use std::sync::Arc;

use arrow_schema::SchemaRef as ArrowSchemaRef;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::io::FileIO;
use iceberg::spec::{DataFile, DataFileFormat, PartitionSpecRef, SchemaRef, TableMetadata};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::partitioning::unpartitioned_writer::UnpartitionedWriter;
use iceberg::writer::partitioning::PartitioningWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::compression::compression_for;
use super::parallel_writer::ParallelParquetWriterBuilder;
use super::partition_split::PartitionSplitter;
use super::probe::ProbedObject;
use super::rows::{check_written, columns_disagreeing, RowGroupTally, RowsError};
use crate::commit::outcome::ObjectFailure;
use crate::raw::error_record::FailureKind;
use crate::raw::limits;
use crate::raw::object::RawObject;
use crate::schema::{conform_batch, ColumnAliases, ConstantColumns, SubMicros};

/// Output row groups close at this many rows or [`ROW_GROUP_BYTES`] (the writer's estimate of
/// encoded bytes), whichever comes first. The writer buffers one row group per open file and
/// copies it on flush; peak memory measured at about 6x this estimate plus ~60 MB (100 MB file:
/// 8 MiB -> 110 MB RSS, 16 MiB -> 154 MB, 32 MiB -> 205 MB), so it is kept small for the
/// Workers' 128 MB, at the cost of ~20% larger files than 32 MiB row groups on mixed data.
pub const ROW_GROUP_ROWS: usize = 1024 * 1024;
pub const ROW_GROUP_BYTES: usize = 8 * 1024 * 1024;
/// Default data file size before rolling to the next part (Iceberg's default target).
pub const TARGET_FILE_SIZE: usize = 512 * 1024 * 1024;

type DataWriterBuilder = DataFileWriterBuilder<
    ParallelParquetWriterBuilder,
    DefaultLocationGenerator,
    DefaultFileNameGenerator,
>;

/// Writes data files for one table schema and partition spec.
#[derive(Debug, Clone)]
pub struct TableWriter {
    file_io: FileIO,
    schema: SchemaRef,
    arrow_schema: ArrowSchemaRef,
    spec: PartitionSpecRef,
    locations: DefaultLocationGenerator,
    properties: WriterProperties,
    target_file_size: usize,
    /// Raw columns still called by a field's earlier name land in that field.
    aliases: ColumnAliases,
    sub_micros: SubMicros,
}

impl TableWriter {
    /// `schema` is the schema the files are written with: the table's current one or its evolution.
    pub fn new(
        file_io: FileIO,
        metadata: &TableMetadata,
        schema: SchemaRef,
    ) -> iceberg::Result<Self> {
        let invalid = |e: String| iceberg::Error::new(iceberg::ErrorKind::DataInvalid, e);
        let compression = compression_for(metadata.properties()).map_err(invalid)?;
        let sub_micros = SubMicros::from_properties(metadata.properties())
            .map_err(|e| invalid(e.to_string()))?;
        let arrow_schema = Arc::new(schema_to_arrow_schema(&schema)?);
        let properties = limits::for_width(
            WriterProperties::builder()
                .set_compression(compression)
                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
                .set_statistics_enabled(EnabledStatistics::Page),
            limits::leaf_columns(&arrow_schema),
        )
        .build();
        let target_file_size = metadata
            .properties()
            .get("write.target-file-size-bytes")
            .and_then(|v| v.parse().ok())
            .unwrap_or(TARGET_FILE_SIZE);
        Ok(Self {
            arrow_schema,
            spec: metadata.default_partition_spec().clone(),
            locations: DefaultLocationGenerator::new(metadata)?,
            file_io,
            schema,
            properties,
            target_file_size,
            aliases: ColumnAliases::of(metadata),
            sub_micros,
        })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn spec(&self) -> &PartitionSpecRef {
        &self.spec
    }

    /// The Arrow schema rows must have to be written.
    pub fn arrow_schema(&self) -> &ArrowSchemaRef {
        &self.arrow_schema
    }

    fn builder_for(&self, object: &RawObject) -> DataWriterBuilder {
        // A slice's files get names of their own, the same on every delivery of that slice.
        let prefix = match object.slice_index() {
            Some(index) => format!("{}-s{index}", object.digest()),
            None => object.digest(),
        };
        self.builder_named(prefix)
    }

    fn builder_named(&self, prefix: String) -> DataWriterBuilder {
        let names = DefaultFileNameGenerator::new(prefix, None, DataFileFormat::Parquet);
        DataFileWriterBuilder::new(RollingFileWriterBuilder::new(
            ParallelParquetWriterBuilder::new(
                self.properties.clone(),
                self.schema.clone(),
                self.arrow_schema.clone(),
            ),
            self.target_file_size,
            self.file_io.clone(),
            self.locations.clone(),
            names,
        ))
    }

    /// The values of icepipe's columns for rows of `probed` that lack them.
    pub fn constants_for(probed: &ProbedObject) -> ConstantColumns {
        let object = &probed.object;
        ConstantColumns {
            loaded_at_us: object.created_ms * 1000,
            // For files that lack the column: the footer's load id, else one per object.
            load_id: probed
                .load
                .load_id
                .clone()
                .unwrap_or_else(|| format!("raw-{}", object.digest())),
        }
    }

    /// A raw batch as the table's rows: columns under earlier names land in their field,
    /// every column converted to the table's type.
    pub fn conform(
        &self,
        batch: &arrow_array::RecordBatch,
        constants: &ConstantColumns,
    ) -> Result<arrow_array::RecordBatch, crate::schema::SchemaError> {
        let batch = self.aliases.rename_batch(batch);
        conform_batch(&batch, &self.arrow_schema, constants, self.sub_micros)
    }

    /// Streams the object row group by row group into data files.
    pub async fn write(&self, probed: &ProbedObject) -> Result<Vec<DataFile>, ObjectFailure> {
        let object = &probed.object;
        let constants = Self::constants_for(probed);
        let fail_io = |context: &str, e: &(dyn std::error::Error + 'static)| {
            ObjectFailure::from_error(object, context, e)
        };
        let rows_lost = |e: RowsError| {
            ObjectFailure::new(
                object,
                FailureKind::Permanent,
                format!("rows in the file do not add up: {e}"),
            )
        };
        let slice = object.slice.as_ref().map(|s| s.row_groups());
        let mut row_groups = probed
            .reader()
            .stream(probed.reader_metadata.clone(), slice.clone())
            .map_err(|e| fail_io("cannot read the Parquet file", &e))?;
        let mut tally = RowGroupTally::new(probed.reader_metadata.metadata(), slice);
        let declared = tally.declared_rows();
        let mut sink = PartitionSink::new(self, self.builder_for(object)).map_err(|e| {
            ObjectFailure::new(
                object,
                FailureKind::Permanent,
                format!("cannot partition: {e}"),
            )
        })?;
        while let Some(batches) = row_groups
            .next_row_group()
            .await
            .map_err(|e| fail_io("cannot read the Parquet file", &e))?
        {
            for batch in batches {
                let batch = batch.map_err(|e| fail_io("cannot read the Parquet file", &e))?;
                tally.count(batch.num_rows());
                let batch = self.conform(&batch, &constants).map_err(|e| {
                    ObjectFailure::new(
                        object,
                        FailureKind::Permanent,
                        format!("rows do not fit the table schema: {e}"),
                    )
                })?;
                sink.write(batch)
                    .await
                    .map_err(|e| fail_io("cannot write data files", &e))?;
            }
            let row_group = tally.row_group();
            if let Err(short) = tally.finish_row_group() {
                let columns = columns_disagreeing(probed, row_group).await;
                return Err(rows_lost(short.with_columns(columns)));
            }
        }
        tally.finish().map_err(rows_lost)?;
        let files = sink
            .close()
            .await
            .map_err(|e| fail_io("cannot finish data files", &e))?;
        let written = files.iter().map(|f| f.record_count()).sum();
        check_written(declared, written).map_err(rows_lost)?;
        Ok(files)
    }
}

/// Fans rows out to one writer per partition (or a single writer when unpartitioned). The
/// writers are boxed: they are large and the sink moves through async state machines.
enum PartitionSink {
    Unpartitioned(Box<UnpartitionedWriter<DataWriterBuilder>>),
    Partitioned(Box<(PartitionSplitter, FanoutWriter<DataWriterBuilder>)>),
}

/// Writes rows that already have the table's exact Arrow schema (a compaction's input, read
/// back from data files) into files named `<prefix>-<n>.parquet`.
pub struct BatchSink(PartitionSink);

impl BatchSink {
    pub fn new(table: &TableWriter, prefix: &str) -> iceberg::Result<Self> {
        Ok(Self(PartitionSink::new(
            table,
            table.builder_named(prefix.to_string()),
        )?))
    }

    pub async fn write(&mut self, batch: arrow_array::RecordBatch) -> iceberg::Result<()> {
        self.0.write(batch).await
    }

    pub async fn close(self) -> iceberg::Result<Vec<DataFile>> {
        self.0.close().await
    }
}

impl PartitionSink {
    fn new(table: &TableWriter, builder: DataWriterBuilder) -> iceberg::Result<Self> {
        if table.spec.is_unpartitioned() {
            return Ok(Self::Unpartitioned(Box::new(UnpartitionedWriter::new(
                builder,
            ))));
        }
        let splitter = PartitionSplitter::try_new(table.schema.clone(), table.spec.clone())?;
        Ok(Self::Partitioned(Box::new((
            splitter,
            FanoutWriter::new(builder),
        ))))
    }

    async fn write(&mut self, batch: arrow_array::RecordBatch) -> iceberg::Result<()> {
        match self {
            Self::Unpartitioned(writer) => writer.write(batch).await,
            Self::Partitioned(parts) => {
                let (splitter, writer) = parts.as_mut();
                for (key, part) in splitter.split(&batch)? {
                    writer.write(key, part).await?;
                }
                Ok(())
            }
        }
    }

    async fn close(self) -> iceberg::Result<Vec<DataFile>> {
        match self {
            Self::Unpartitioned(writer) => (*writer).close().await,
            Self::Partitioned(parts) => parts.1.close().await,
        }
    }
}
