//! Reshapes a record batch read from a raw file into the table's exact Arrow schema (field ids,
//! names, types, nesting): columns matched by name at every level, narrower types cast up,
//! missing columns filled with nulls or icepipe's constants. Errors name the column.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{
    new_null_array, Array, ArrayRef, ListArray, MapArray, RecordBatch, RecordBatchOptions,
    StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow_cast::{cast_with_options, CastOptions};
use arrow_schema::{DataType, Field, FieldRef, Fields, SchemaRef};

use super::mapping::join_path;
use super::precision::{is_nanoseconds, nanos_to_micros, SubMicros};
use super::{SchemaError, LOADED_AT_COLUMN, LOAD_ID_COLUMN};

/// Values for icepipe's own columns when the file lacks them.
#[derive(Debug, Clone)]
pub struct ConstantColumns {
    /// `_loaded_at`, microseconds since the epoch (UTC).
    pub loaded_at_us: i64,
    /// `_load_id`.
    pub load_id: String,
}

/// `batch` (any schema the table can hold) as a batch of exactly `target`; nanosecond values
/// become microseconds as `sub_micros` says.
pub fn conform_batch(
    batch: &RecordBatch,
    target: &SchemaRef,
    constants: &ConstantColumns,
    sub_micros: SubMicros,
) -> Result<RecordBatch, SchemaError> {
    let rows = batch.num_rows();
    let source = batch.schema();
    let columns = target
        .fields()
        .iter()
        .map(|target_field| match source.index_of(target_field.name()) {
            Ok(i) => conform_array(
                batch.column(i),
                source.field(i),
                target_field,
                target_field.name(),
                sub_micros,
            ),
            Err(_) => Ok(missing_column(target_field, rows, constants)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new_with_options(
        target.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| SchemaError::new("", format!("cannot assemble the table's columns: {e}")))
}

fn missing_column(field: &FieldRef, rows: usize, constants: &ConstantColumns) -> ArrayRef {
    match (field.name().as_str(), field.data_type()) {
        (LOADED_AT_COLUMN, DataType::Timestamp(_, tz)) => Arc::new(
            TimestampMicrosecondArray::from_value(constants.loaded_at_us, rows)
                .with_timezone_opt(tz.clone()),
        ),
        (LOAD_ID_COLUMN, DataType::Utf8) => Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(constants.load_id.as_str(), rows),
        )),
        _ => new_null_array(field.data_type(), rows),
    }
}

fn conform_array(
    array: &ArrayRef,
    source: &Field,
    target: &Field,
    path: &str,
    sub_micros: SubMicros,
) -> Result<ArrayRef, SchemaError> {
    let fail = |reason: String| SchemaError::new(path, reason);
    let array = unwrap_encodings(array).map_err(|e| fail(e.to_string()))?;
    if !target.is_nullable() && array.null_count() > 0 {
        return Err(fail(format!(
            "{} null values in a column the table requires",
            array.null_count()
        )));
    }
    match target.data_type() {
        DataType::Struct(target_fields) => conform_struct(&array, target_fields, path, sub_micros),
        DataType::List(target_element) => {
            conform_list(&array, source, target_element, path, sub_micros)
        }
        DataType::Map(target_entries, sorted) => {
            conform_map(&array, target_entries, *sorted, path, sub_micros)
        }
        target_type => {
            if array.data_type() == target_type {
                return Ok(array);
            }
            if matches!(array.data_type(), DataType::Null) {
                return Ok(new_null_array(target_type, array.len()));
            }
            let array = if is_nanoseconds(array.data_type()) {
                nanos_to_micros(&array, sub_micros).map_err(|e| fail(e.to_string()))?
            } else {
                array
            };
            if array.data_type() == target_type {
                return Ok(array);
            }
            // `safe: false`: a value that does not fit is an error, never a silent null.
            let options = CastOptions {
                safe: false,
                ..Default::default()
            };
            cast_with_options(&array, target_type, &options).map_err(|e| {
                fail(format!(
                    "cannot write {} values as {target_type}: {e}",
                    array.data_type()
                ))
            })
        }
    }
}

/// Dictionary and run-end encodings are storage details: decode to plain values first.
fn unwrap_encodings(array: &ArrayRef) -> Result<ArrayRef, arrow_schema::ArrowError> {
    match array.data_type() {
        DataType::Dictionary(_, value) => arrow_cast::cast(array, value),
        DataType::RunEndEncoded(_, values) => arrow_cast::cast(array, values.data_type()),
        _ => Ok(array.clone()),
    }
}

fn conform_struct(
    array: &ArrayRef,
    target: &Fields,
    path: &str,
    sub_micros: SubMicros,
) -> Result<ArrayRef, SchemaError> {
    let source = array.as_struct_opt().ok_or_else(|| {
        SchemaError::new(
            path,
            format!("expected a struct, found {}", array.data_type()),
        )
    })?;
    let source_fields = source.fields();
    let children = target
        .iter()
        .map(|target_child| {
            let child_path = join_path(path, target_child.name());
            match source_fields
                .iter()
                .position(|f| f.name() == target_child.name())
            {
                Some(i) => conform_array(
                    source.column(i),
                    &source_fields[i],
                    target_child,
                    &child_path,
                    sub_micros,
                ),
                None => Ok(new_null_array(target_child.data_type(), source.len())),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rebuilt = StructArray::try_new_with_length(
        target.clone(),
        children,
        source.nulls().cloned(),
        source.len(),
    )
    .map_err(|e| SchemaError::new(path, e.to_string()))?;
    Ok(Arc::new(rebuilt))
}

fn conform_list(
    array: &ArrayRef,
    source: &Field,
    target_element: &FieldRef,
    path: &str,
    sub_micros: SubMicros,
) -> Result<ArrayRef, SchemaError> {
    let fail = |reason: String| SchemaError::new(path, reason);
    // LargeList, FixedSizeList and list views become a plain List of the source element first.
    let source_element = match source.data_type() {
        DataType::List(e)
        | DataType::LargeList(e)
        | DataType::ListView(e)
        | DataType::LargeListView(e)
        | DataType::FixedSizeList(e, _) => e.clone(),
        other => return Err(fail(format!("expected a list, found {other}"))),
    };
    let as_list = if matches!(array.data_type(), DataType::List(_)) {
        array.clone()
    } else {
        arrow_cast::cast(array, &DataType::List(source_element.clone()))
            .map_err(|e| fail(e.to_string()))?
    };
    let list = as_list.as_list::<i32>();
    let values = conform_array(
        list.values(),
        &source_element,
        target_element,
        &join_path(path, "element"),
        sub_micros,
    )?;
    let rebuilt = ListArray::try_new(
        target_element.clone(),
        list.offsets().clone(),
        values,
        list.nulls().cloned(),
    )
    .map_err(|e| fail(e.to_string()))?;
    Ok(Arc::new(rebuilt))
}

fn conform_map(
    array: &ArrayRef,
    target_entries: &FieldRef,
    sorted: bool,
    path: &str,
    sub_micros: SubMicros,
) -> Result<ArrayRef, SchemaError> {
    let fail = |reason: String| SchemaError::new(path, reason);
    let map = array
        .as_map_opt()
        .ok_or_else(|| fail(format!("expected a map, found {}", array.data_type())))?;
    let DataType::Struct(target_kv) = target_entries.data_type() else {
        return Err(fail("the table's map has no key/value entries".into()));
    };
    let entries = map.entries();
    let source_kv = entries.fields();
    let key = conform_array(
        entries.column(0),
        &source_kv[0],
        &target_kv[0],
        &join_path(path, "key"),
        sub_micros,
    )?;
    let value = conform_array(
        entries.column(1),
        &source_kv[1],
        &target_kv[1],
        &join_path(path, "value"),
        sub_micros,
    )?;
    let entries = StructArray::try_new(target_kv.clone(), vec![key, value], None)
        .map_err(|e| fail(e.to_string()))?;
    let rebuilt = MapArray::try_new(
        target_entries.clone(),
        map.offsets().clone(),
        entries,
        map.nulls().cloned(),
        sorted,
    )
    .map_err(|e| fail(e.to_string()))?;
    Ok(Arc::new(rebuilt))
}
