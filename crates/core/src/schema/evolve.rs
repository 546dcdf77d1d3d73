//! Safe automatic schema evolution: what a table's schema must become to hold a new file.
//!
//! Allowed: new columns (added as optional, fresh ids), int -> long, float -> double, decimal
//! precision widening at the same scale, required -> optional. Anything else would lose or
//! reinterpret data, so the file is rejected and the table left alone.

use iceberg::spec::{
    ListType, MapType, NestedField, NestedFieldRef, PrimitiveType, Schema, StructType, Type,
};

use super::mapping::{join_path, FieldIds};
use super::SchemaError;

/// The result of fitting a file into a table schema.
#[derive(Debug, Clone)]
pub struct Evolution {
    /// The schema to add to the table (next schema id), when anything changed.
    pub schema: Option<Schema>,
    /// One human-readable line per change, for logs and commit summaries.
    pub changes: Vec<String>,
}

/// Fits `file` (ids irrelevant) into `table`. `last_column_id` is the table's highest id ever
/// assigned, so that new columns never reuse an id a dropped column once had.
pub fn evolve(
    table: &Schema,
    file: &Schema,
    last_column_id: i32,
) -> Result<Evolution, SchemaError> {
    let mut ids = FieldIds::starting_after(last_column_id.max(table.highest_field_id()));
    let mut changes = Vec::new();
    let merged = merge_struct(
        table.as_struct(),
        file.as_struct(),
        "",
        &mut ids,
        &mut changes,
    )?;
    if changes.is_empty() {
        return Ok(Evolution {
            schema: None,
            changes,
        });
    }
    let schema = Schema::builder()
        .with_schema_id(table.schema_id() + 1)
        .with_identifier_field_ids(table.identifier_field_ids())
        .with_fields(merged.fields().iter().cloned())
        .build()
        .map_err(|e| SchemaError::new("", format!("evolved schema is invalid: {e}")))?;
    Ok(Evolution {
        schema: Some(schema),
        changes,
    })
}

fn merge_struct(
    table: &StructType,
    file: &StructType,
    path: &str,
    ids: &mut FieldIds,
    changes: &mut Vec<String>,
) -> Result<StructType, SchemaError> {
    let mut fields: Vec<NestedFieldRef> = Vec::with_capacity(table.fields().len());
    for table_field in table.fields() {
        let field_path = join_path(path, &table_field.name);
        let merged = match file.field_by_name(&table_field.name) {
            Some(file_field) => merge_field(table_field, file_field, &field_path, ids, changes)?,
            None if table_field.required => {
                changes.push(format!(
                    "{field_path}: required -> optional (absent from the file)"
                ));
                optional(table_field)
            }
            None => table_field.clone(),
        };
        fields.push(merged);
    }
    for file_field in file.fields() {
        if table.field_by_name(&file_field.name).is_none() {
            let field_path = join_path(path, &file_field.name);
            changes.push(format!(
                "{field_path}: new column {}",
                file_field.field_type
            ));
            let added = with_fresh_ids(file_field, ids);
            fields.push(optional(&added.into()));
        }
    }
    Ok(StructType::new(fields))
}

fn merge_field(
    table: &NestedFieldRef,
    file: &NestedFieldRef,
    path: &str,
    ids: &mut FieldIds,
    changes: &mut Vec<String>,
) -> Result<NestedFieldRef, SchemaError> {
    let field_type = merge_type(&table.field_type, &file.field_type, path, ids, changes)?;
    let required = table.required && file.required;
    if table.required && !required {
        changes.push(format!("{path}: required -> optional"));
    }
    let mut merged = table.as_ref().clone();
    merged.field_type = Box::new(field_type);
    merged.required = required;
    Ok(merged.into())
}

fn merge_type(
    table: &Type,
    file: &Type,
    path: &str,
    ids: &mut FieldIds,
    changes: &mut Vec<String>,
) -> Result<Type, SchemaError> {
    use PrimitiveType::*;
    let lossy = || {
        SchemaError::new(
            path,
            format!(
                "the table has type {table} but the file has {file}; Iceberg cannot change one into the other without losing data"
            ),
        )
    };
    match (table, file) {
        (Type::Primitive(t), Type::Primitive(f)) => {
            let widened = match (t, f) {
                _ if t == f => None,
                // The file's narrower values are cast up when written.
                (Long, Int) | (Double, Float) => None,
                (
                    Decimal {
                        precision: tp,
                        scale: ts,
                    },
                    Decimal {
                        precision: fp,
                        scale: fs,
                    },
                ) if ts == fs => (fp > tp).then_some(Decimal {
                    precision: *fp,
                    scale: *fs,
                }),
                (Int, Long) => Some(Long),
                (Float, Double) => Some(Double),
                _ => return Err(lossy()),
            };
            Ok(match widened {
                Some(wider) => {
                    changes.push(format!("{path}: {t} -> {wider}"));
                    Type::Primitive(wider)
                }
                None => table.clone(),
            })
        }
        (Type::Struct(t), Type::Struct(f)) => {
            Ok(Type::Struct(merge_struct(t, f, path, ids, changes)?))
        }
        (Type::List(t), Type::List(f)) => {
            let element = merge_field(
                &t.element_field,
                &f.element_field,
                &join_path(path, "element"),
                ids,
                changes,
            )?;
            Ok(Type::List(ListType::new(element)))
        }
        (Type::Map(t), Type::Map(f)) => {
            let key = merge_field(
                &t.key_field,
                &f.key_field,
                &join_path(path, "key"),
                ids,
                changes,
            )?;
            let value = merge_field(
                &t.value_field,
                &f.value_field,
                &join_path(path, "value"),
                ids,
                changes,
            )?;
            Ok(Type::Map(MapType::new(key, value)))
        }
        _ => Err(lossy()),
    }
}

fn optional(field: &NestedFieldRef) -> NestedFieldRef {
    let mut field = field.as_ref().clone();
    field.required = false;
    field.into()
}

/// A copy of a (file) field with ids from `ids`: own id first, then children's.
fn with_fresh_ids(field: &NestedField, ids: &mut FieldIds) -> NestedField {
    let mut copy = field.clone();
    copy.id = ids.next_id();
    copy.field_type = Box::new(type_with_fresh_ids(&field.field_type, ids));
    copy
}

fn type_with_fresh_ids(ty: &Type, ids: &mut FieldIds) -> Type {
    match ty {
        Type::Primitive(_) => ty.clone(),
        Type::Struct(s) => {
            let own: Vec<i32> = s.fields().iter().map(|_| ids.next_id()).collect();
            let fields = s
                .fields()
                .iter()
                .zip(own)
                .map(|(f, id)| {
                    let mut copy = f.as_ref().clone();
                    copy.id = id;
                    copy.field_type = Box::new(type_with_fresh_ids(&f.field_type, ids));
                    copy.into()
                })
                .collect();
            Type::Struct(StructType::new(fields))
        }
        Type::List(l) => Type::List(ListType::new(with_fresh_ids(&l.element_field, ids).into())),
        Type::Map(m) => {
            let (key_id, value_id) = (ids.next_id(), ids.next_id());
            let mut key = m.key_field.as_ref().clone();
            key.id = key_id;
            key.field_type = Box::new(type_with_fresh_ids(&m.key_field.field_type, ids));
            let mut value = m.value_field.as_ref().clone();
            value.id = value_id;
            value.field_type = Box::new(type_with_fresh_ids(&m.value_field.field_type, ids));
            Type::Map(MapType::new(key.into(), value.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: Vec<NestedField>) -> Schema {
        Schema::builder()
            .with_fields(fields.into_iter().map(Into::into))
            .build()
            .unwrap()
    }

    fn prim(p: PrimitiveType) -> Type {
        Type::Primitive(p)
    }

    #[test]
    fn same_schema_needs_no_change() {
        let t = schema(vec![NestedField::required(
            1,
            "id",
            prim(PrimitiveType::Long),
        )]);
        let e = evolve(&t, &t, 1).unwrap();
        assert!(e.schema.is_none() && e.changes.is_empty());
    }

    #[test]
    fn adds_columns_widens_types_and_relaxes_required() {
        let table = schema(vec![
            NestedField::required(1, "id", prim(PrimitiveType::Long)),
            NestedField::optional(2, "n", prim(PrimitiveType::Int)),
            NestedField::optional(3, "f", prim(PrimitiveType::Float)),
            NestedField::optional(
                4,
                "d",
                prim(PrimitiveType::Decimal {
                    precision: 9,
                    scale: 2,
                }),
            ),
            NestedField::required(5, "gone", prim(PrimitiveType::String)),
        ]);
        let file = schema(vec![
            NestedField::optional(1, "id", prim(PrimitiveType::Int)),
            NestedField::optional(2, "n", prim(PrimitiveType::Long)),
            NestedField::optional(3, "f", prim(PrimitiveType::Double)),
            NestedField::optional(
                4,
                "d",
                prim(PrimitiveType::Decimal {
                    precision: 18,
                    scale: 2,
                }),
            ),
            NestedField::optional(
                5,
                "extra",
                Type::Struct(StructType::new(vec![NestedField::optional(
                    6,
                    "x",
                    prim(PrimitiveType::String),
                )
                .into()])),
            ),
        ]);
        let e = evolve(&table, &file, 7).unwrap();
        let s = e.schema.unwrap();
        assert_eq!(s.schema_id(), table.schema_id() + 1);
        let id = s.field_by_name("id").unwrap();
        assert_eq!(
            (id.id, id.required, id.field_type.to_string()),
            (1, false, "long".into())
        );
        assert_eq!(s.field_by_name("n").unwrap().field_type.to_string(), "long");
        assert_eq!(
            s.field_by_name("f").unwrap().field_type.to_string(),
            "double"
        );
        assert_eq!(
            s.field_by_name("d").unwrap().field_type.to_string(),
            "decimal(18, 2)"
        );
        assert!(!s.field_by_name("gone").unwrap().required);
        let extra = s.field_by_name("extra").unwrap();
        assert_eq!((extra.id, extra.required), (8, false));
        assert_eq!(s.field_by_name("extra.x").unwrap().id, 9);
        assert_eq!(e.changes.len(), 6, "{:?}", e.changes);
    }

    #[test]
    fn rejects_lossy_changes_naming_the_column() {
        let table = schema(vec![NestedField::optional(
            1,
            "s",
            Type::Struct(StructType::new(vec![NestedField::optional(
                2,
                "v",
                prim(PrimitiveType::Long),
            )
            .into()])),
        )]);
        let file = schema(vec![NestedField::optional(
            1,
            "s",
            Type::Struct(StructType::new(vec![NestedField::optional(
                2,
                "v",
                prim(PrimitiveType::String),
            )
            .into()])),
        )]);
        let err = evolve(&table, &file, 2).unwrap_err();
        assert!(err.to_string().contains("s.v"), "{err}");
        assert!(err.to_string().contains("long") && err.to_string().contains("string"));
        for (t, f) in [
            (
                PrimitiveType::Decimal {
                    precision: 9,
                    scale: 2,
                },
                PrimitiveType::Decimal {
                    precision: 9,
                    scale: 3,
                },
            ),
            (PrimitiveType::Timestamp, PrimitiveType::Timestamptz),
            (PrimitiveType::Int, PrimitiveType::Double),
        ] {
            let table = schema(vec![NestedField::optional(1, "c", prim(t))]);
            let file = schema(vec![NestedField::optional(1, "c", prim(f))]);
            assert!(evolve(&table, &file, 1).is_err());
        }
    }
}
