//! Opens a raw object's footer and works out the rows it declares, the Iceberg schema its rows
//! need and the load it belongs to, before anything is written: bad files are rejected here,
//! cheaply, with the reason (and the column, when one is to blame).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema as ArrowSchema, TimeUnit};
use iceberg::spec::Schema;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::arrow::{parquet_to_arrow_field_levels, parquet_to_arrow_schema, ProjectionMask};
use parquet::file::metadata::ParquetMetaData;

use super::int96;
use super::reader::ObjectReader;
use super::rows::check_footer;
use crate::commit::outcome::ObjectFailure;
use crate::raw::columns::check_reserved_columns;
use crate::raw::error_record::FailureKind;
use crate::raw::footer::LoadFooter;
use crate::raw::limits::{check_schema, LimitError, MAX_COLUMNS};
use crate::raw::object::RawObject;
use crate::schema::{iceberg_schema_for, FieldIds, LOADED_AT_COLUMN, LOAD_ID_COLUMN};

/// A raw object whose footer was read and whose schema maps to Iceberg.
#[derive(Debug, Clone)]
pub struct ProbedObject {
    pub object: RawObject,
    pub reader_metadata: ArrowReaderMetadata,
    /// The file's schema plus icepipe's columns, ids from 1 (ids are not the table's).
    pub schema: Schema,
    /// The rows the footer declares (checked against its column chunks): the rows that land.
    pub rows: u64,
    pub load: LoadFooter,
}

impl ProbedObject {
    pub fn reader(&self) -> ObjectReader {
        ObjectReader::new(
            self.object.store.clone(),
            self.object.key.clone(),
            self.object.size,
        )
    }
}

pub async fn probe(object: RawObject) -> Result<ProbedObject, ObjectFailure> {
    if object.size == 0 {
        return Err(ObjectFailure::new(
            &object,
            FailureKind::Permanent,
            "not a Parquet file: the object is empty",
        ));
    }
    let mut reader = ObjectReader::new(object.store.clone(), object.key.clone(), object.size);
    let footer = reader
        .load_footer()
        .await
        .map_err(|e| ObjectFailure::from_error(&object, "not a readable Parquet file", &e))?;
    let permanent = |reason: String| ObjectFailure::new(&object, FailureKind::Permanent, reason);
    let rows = check_footer(&footer)
        .map_err(|e| permanent(format!("rows in the file do not add up: {e}")))?;
    check_limits(&footer).map_err(|e| permanent(e.to_string()))?;
    let reader_metadata = int96::reader_options(&footer)
        .and_then(|options| ArrowReaderMetadata::try_new(footer.clone(), options))
        .map_err(|e| permanent(unreadable_schema(&footer, &e)))?;
    let load = LoadFooter::read(footer.file_metadata().key_value_metadata())
        .map_err(|e| permanent(e.to_string()))?;
    check_reserved_columns(reader_metadata.schema()).map_err(|e| permanent(e.to_string()))?;
    let arrow = with_icepipe_columns(reader_metadata.schema());
    let schema = iceberg_schema_for(&arrow, &mut FieldIds::starting_after(0)).map_err(|e| {
        ObjectFailure::new(
            &object,
            FailureKind::Permanent,
            format!("schema cannot be stored in Iceberg: {e}"),
        )
    })?;
    Ok(ProbedObject {
        object,
        reader_metadata,
        schema,
        rows,
        load,
    })
}

/// The column and nesting limits the ingest applies too, checked on the Parquet schema itself:
/// the Arrow schema a writer embeds cannot even be read back when nested ~60 levels deep. A
/// layout with no Arrow reading passes here and is refused below, naming its column.
fn check_limits(footer: &ParquetMetaData) -> Result<(), LimitError> {
    match parquet_to_arrow_schema(footer.file_metadata().schema_descr(), None) {
        Ok(schema) => check_schema(&schema, "the raw file", MAX_COLUMNS),
        Err(_) => Ok(()),
    }
}

/// Why the Parquet schema has no Arrow reading, naming the first top-level column that has none.
fn unreadable_schema(footer: &ParquetMetaData, error: &parquet::errors::ParquetError) -> String {
    let descr = footer.file_metadata().schema_descr();
    let roots = descr.root_schema().get_fields();
    let culprit = (0..roots.len()).find(|&i| {
        parquet_to_arrow_field_levels(descr, ProjectionMask::roots(descr, [i]), None).is_err()
    });
    match culprit {
        Some(i) => format!(
            "column {}: its Parquet layout cannot be read: {error}",
            roots[i].name()
        ),
        None => format!("the Parquet schema cannot be read: {error}"),
    }
}

/// The file's Arrow schema with `_loaded_at` / `_load_id` appended when it lacks them.
fn with_icepipe_columns(file: &ArrowSchema) -> ArrowSchema {
    let mut fields: Vec<Arc<Field>> = file.fields().iter().cloned().collect();
    if file.field_with_name(LOADED_AT_COLUMN).is_err() {
        fields.push(Arc::new(Field::new(
            LOADED_AT_COLUMN,
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            true,
        )));
    }
    if file.field_with_name(LOAD_ID_COLUMN).is_err() {
        fields.push(Arc::new(Field::new(LOAD_ID_COLUMN, DataType::Utf8, true)));
    }
    ArrowSchema::new(fields)
}
