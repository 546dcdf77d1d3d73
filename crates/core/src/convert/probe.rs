//! Opens a raw object's footer and works out the Iceberg schema its rows need and the load it
//! belongs to, before anything is written: bad files are rejected here, cheaply, with the reason.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema as ArrowSchema, TimeUnit};
use iceberg::spec::Schema;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;

use super::reader::ObjectReader;
use crate::commit::outcome::ObjectFailure;
use crate::raw::columns::check_reserved_columns;
use crate::raw::error_record::FailureKind;
use crate::raw::footer::LoadFooter;
use crate::raw::object::RawObject;
use crate::schema::{iceberg_schema_for, FieldIds, LOADED_AT_COLUMN, LOAD_ID_COLUMN};

/// A raw object whose footer was read and whose schema maps to Iceberg.
#[derive(Debug, Clone)]
pub struct ProbedObject {
    pub object: RawObject,
    pub reader_metadata: ArrowReaderMetadata,
    /// The file's schema plus icepipe's columns, ids from 1 (ids are not the table's).
    pub schema: Schema,
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
    let reader_metadata = reader
        .load_metadata()
        .await
        .map_err(|e| ObjectFailure::from_error(&object, "not a readable Parquet file", &e))?;
    let footer = reader_metadata.metadata().file_metadata();
    let rows = footer.num_rows().max(0) as u64;
    let load = LoadFooter::read(footer.key_value_metadata())
        .map_err(|e| ObjectFailure::new(&object, FailureKind::Permanent, e.to_string()))?;
    check_reserved_columns(reader_metadata.schema())
        .map_err(|e| ObjectFailure::new(&object, FailureKind::Permanent, e.to_string()))?;
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
