//! Arrow types (as read from a raw Parquet file) to Iceberg types. Wider than the `iceberg`
//! crate's own converter: unsigned ints, ms/ns timestamps, time32, Date64, Float16, dictionaries,
//! views and the `arrow.uuid` extension all map to the Iceberg type that holds them losslessly.

use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use iceberg::spec::{
    ListType, MapType, NestedField, NestedFieldRef, PrimitiveType, Schema, StructType, Type,
};

use super::SchemaError;

/// Extension name pyarrow and arrow-rs use for UUID columns stored as fixed_size_binary(16).
const ARROW_UUID_EXTENSION: &str = "arrow.uuid";
const ARROW_EXTENSION_NAME_KEY: &str = "ARROW:extension:name";

/// Hands out field ids in order; fresh schemas start at 1.
#[derive(Debug)]
pub struct FieldIds {
    next: i32,
}

impl FieldIds {
    pub fn starting_after(last_id: i32) -> Self {
        Self { next: last_id + 1 }
    }

    pub fn next_id(&mut self) -> i32 {
        let id = self.next;
        self.next += 1;
        id
    }

    pub fn last_assigned(&self) -> i32 {
        self.next - 1
    }
}

/// The Iceberg schema that holds a file's Arrow schema, with ids assigned from `ids`.
pub fn iceberg_schema_for(arrow: &ArrowSchema, ids: &mut FieldIds) -> Result<Schema, SchemaError> {
    let fields = struct_fields(arrow.fields().iter().map(|f| f.as_ref()), "", ids)?;
    Schema::builder()
        .with_fields(fields)
        .build()
        .map_err(|e| SchemaError::new("", format!("invalid schema: {e}")))
}

fn struct_fields<'a>(
    fields: impl Iterator<Item = &'a Field>,
    parent_path: &str,
    ids: &mut FieldIds,
) -> Result<Vec<NestedFieldRef>, SchemaError> {
    // Ids of a struct's own fields come first, then their children's: Iceberg's usual order.
    let fields: Vec<&Field> = fields.collect();
    let own_ids: Vec<i32> = fields.iter().map(|_| ids.next_id()).collect();
    fields
        .into_iter()
        .zip(own_ids)
        .map(|(field, id)| {
            let path = join_path(parent_path, field.name());
            let ty = iceberg_type_for(field, &path, ids)?;
            Ok(NestedField::new(id, field.name(), ty, !field.is_nullable()).into())
        })
        .collect()
}

/// The Iceberg type for one Arrow field; nested ids are taken from `ids`.
pub fn iceberg_type_for(
    field: &Field,
    path: &str,
    ids: &mut FieldIds,
) -> Result<Type, SchemaError> {
    let unsupported =
        |what: &str| SchemaError::new(path, format!("Arrow type {what} has no Iceberg equivalent"));
    let primitive = |p: PrimitiveType| Ok(Type::Primitive(p));
    match field.data_type() {
        DataType::Boolean => primitive(PrimitiveType::Boolean),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => {
            primitive(PrimitiveType::Int)
        }
        DataType::Int64 | DataType::UInt32 => primitive(PrimitiveType::Long),
        // Every u64 fits in decimal(20, 0); a long would overflow above i64::MAX.
        DataType::UInt64 => primitive(PrimitiveType::Decimal {
            precision: 20,
            scale: 0,
        }),
        DataType::Float16 | DataType::Float32 => primitive(PrimitiveType::Float),
        DataType::Float64 => primitive(PrimitiveType::Double),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => decimal(*p, *s, path),
        DataType::Date32 | DataType::Date64 => primitive(PrimitiveType::Date),
        DataType::Time32(_) | DataType::Time64(_) => primitive(PrimitiveType::Time),
        DataType::Timestamp(_, None) => primitive(PrimitiveType::Timestamp),
        DataType::Timestamp(_, Some(_)) => primitive(PrimitiveType::Timestamptz),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            primitive(PrimitiveType::String)
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            primitive(PrimitiveType::Binary)
        }
        DataType::FixedSizeBinary(16) if is_uuid(field) => primitive(PrimitiveType::Uuid),
        DataType::FixedSizeBinary(width) => primitive(PrimitiveType::Fixed(*width as u64)),
        // A column that is null in every row of the file: string holds it and widens nothing.
        DataType::Null => primitive(PrimitiveType::String),
        DataType::Dictionary(_, value) => iceberg_type_for(
            &field.clone().with_data_type(value.as_ref().clone()),
            path,
            ids,
        ),
        DataType::RunEndEncoded(_, values) => iceberg_type_for(
            &field.clone().with_data_type(values.data_type().clone()),
            path,
            ids,
        ),
        DataType::List(element)
        | DataType::LargeList(element)
        | DataType::ListView(element)
        | DataType::LargeListView(element)
        | DataType::FixedSizeList(element, _) => {
            let id = ids.next_id();
            let ty = iceberg_type_for(element, &join_path(path, "element"), ids)?;
            Ok(Type::List(ListType::new(
                NestedField::list_element(id, ty, !element.is_nullable()).into(),
            )))
        }
        DataType::Struct(fields) => Ok(Type::Struct(StructType::new(struct_fields(
            fields.iter().map(|f| f.as_ref()),
            path,
            ids,
        )?))),
        DataType::Map(entries, _) => {
            let DataType::Struct(kv) = entries.data_type() else {
                return Err(unsupported("map without key/value struct"));
            };
            let [key, value] = kv.iter().collect::<Vec<_>>()[..] else {
                return Err(unsupported("map whose entries are not (key, value)"));
            };
            let (key_id, value_id) = (ids.next_id(), ids.next_id());
            let key_ty = iceberg_type_for(key, &join_path(path, "key"), ids)?;
            let value_ty = iceberg_type_for(value, &join_path(path, "value"), ids)?;
            Ok(Type::Map(MapType::new(
                NestedField::map_key_element(key_id, key_ty).into(),
                NestedField::map_value_element(value_id, value_ty, !value.is_nullable()).into(),
            )))
        }
        other => Err(unsupported(&other.to_string())),
    }
}

fn decimal(precision: u8, scale: i8, path: &str) -> Result<Type, SchemaError> {
    if scale < 0 || scale as u8 > precision || precision > 38 {
        return Err(SchemaError::new(
            path,
            format!(
                "decimal({precision}, {scale}) does not fit Iceberg's decimal (precision <= 38, 0 <= scale <= precision)"
            ),
        ));
    }
    Ok(Type::Primitive(PrimitiveType::Decimal {
        precision: precision as u32,
        scale: scale as u32,
    }))
}

fn is_uuid(field: &Field) -> bool {
    field
        .metadata()
        .get(ARROW_EXTENSION_NAME_KEY)
        .is_some_and(|name| name == ARROW_UUID_EXTENSION)
}

pub(crate) fn join_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use arrow_schema::TimeUnit;

    use super::*;

    fn field(name: &str, ty: DataType) -> Field {
        Field::new(name, ty, true)
    }

    #[test]
    fn maps_every_supported_arrow_type() {
        let uuid =
            Field::new("u", DataType::FixedSizeBinary(16), true).with_metadata(HashMap::from([(
                ARROW_EXTENSION_NAME_KEY.to_string(),
                "arrow.uuid".to_string(),
            )]));
        let arrow = ArrowSchema::new(vec![
            Field::new("id", DataType::Int64, false),
            field("u8", DataType::UInt8),
            field("u32", DataType::UInt32),
            field("u64", DataType::UInt64),
            field("ts_ms", DataType::Timestamp(TimeUnit::Millisecond, None)),
            field(
                "tstz_ns",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("Europe/Paris".into())),
            ),
            field("t32", DataType::Time32(TimeUnit::Millisecond)),
            field(
                "dict",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            ),
            uuid,
            field("fx", DataType::FixedSizeBinary(8)),
            field("nothing", DataType::Null),
            field(
                "l",
                DataType::LargeList(Arc::new(field("item", DataType::Int32))),
            ),
            field(
                "m",
                DataType::Map(
                    Arc::new(Field::new(
                        "entries",
                        DataType::Struct(
                            vec![
                                Field::new("k", DataType::Utf8, false),
                                field("v", DataType::Float64),
                            ]
                            .into(),
                        ),
                        false,
                    )),
                    false,
                ),
            ),
            field(
                "s",
                DataType::Struct(
                    vec![field(
                        "inner",
                        DataType::Struct(vec![field("x", DataType::Date64)].into()),
                    )]
                    .into(),
                ),
            ),
        ]);
        let schema = iceberg_schema_for(&arrow, &mut FieldIds::starting_after(0)).unwrap();
        let ty = |name: &str| schema.field_by_name(name).unwrap().field_type.to_string();
        assert_eq!(ty("id"), "long");
        assert!(schema.field_by_name("id").unwrap().required);
        assert_eq!(ty("u8"), "int");
        assert_eq!(ty("u32"), "long");
        assert_eq!(ty("u64"), "decimal(20, 0)");
        assert_eq!(ty("ts_ms"), "timestamp");
        assert_eq!(ty("tstz_ns"), "timestamptz");
        assert_eq!(ty("t32"), "time");
        assert_eq!(ty("dict"), "string");
        assert_eq!(ty("u"), "uuid");
        assert_eq!(ty("fx"), "fixed(8)");
        assert_eq!(ty("nothing"), "string");
        assert!(schema.field_by_name("s.inner.x").is_some());
        // Top-level fields take ids 1..=14, nested ones follow.
        assert_eq!(schema.field_by_name("s").unwrap().id, 14);
        assert_eq!(schema.highest_field_id(), 19);
    }

    #[test]
    fn rejects_what_iceberg_cannot_hold_naming_the_column() {
        let arrow = ArrowSchema::new(vec![field(
            "s",
            DataType::Struct(vec![field("d", DataType::Duration(TimeUnit::Second))].into()),
        )]);
        let err = iceberg_schema_for(&arrow, &mut FieldIds::starting_after(0)).unwrap_err();
        assert!(err.to_string().contains("s.d"), "{err}");
        let arrow = ArrowSchema::new(vec![field("d", DataType::Decimal256(60, 2))]);
        let err = iceberg_schema_for(&arrow, &mut FieldIds::starting_after(0)).unwrap_err();
        assert!(err.to_string().contains("precision <= 38"), "{err}");
    }
}
