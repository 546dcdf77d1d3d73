//! Which schema updates a commit needs, given the schema the data files were written with and the
//! table's schema at commit time (which a concurrent writer may have changed).

use std::collections::HashMap;

use iceberg::spec::{PrimitiveType, Schema, SchemaRef, TableMetadata, Type};
use iceberg::{TableRequirement, TableUpdate};

/// What to send with the snapshot.
#[derive(Debug, Clone)]
pub struct SchemaPlan {
    /// The schema id the snapshot records.
    pub schema_id: i32,
    pub requirements: Vec<TableRequirement>,
    pub updates: Vec<TableUpdate>,
}

/// `None` when the table's schema moved in a way the written files do not fit: start over.
pub fn plan(base: &TableMetadata, written: &SchemaRef) -> Option<SchemaPlan> {
    let current = base.current_schema();
    // The table already holds everything the files have (unchanged, or widened concurrently).
    if fits(written, current) {
        return Some(SchemaPlan {
            schema_id: current.schema_id(),
            requirements: vec![],
            updates: vec![],
        });
    }
    // Our evolution of the current schema: add it. New ids must be above every id ever assigned.
    let new_ids_fresh = fields_by_id(written)
        .keys()
        .filter(|id| !fields_by_id(current).contains_key(id))
        .all(|id| *id > base.last_column_id());
    if fits(current, written) && new_ids_fresh {
        let schema_id = base
            .schemas_iter()
            .map(|s| s.schema_id())
            .max()
            .unwrap_or(0)
            + 1;
        let schema = written
            .as_ref()
            .clone()
            .into_builder()
            .with_schema_id(schema_id)
            .build()
            .ok()?;
        return Some(SchemaPlan {
            schema_id,
            requirements: vec![
                TableRequirement::CurrentSchemaIdMatch {
                    current_schema_id: current.schema_id(),
                },
                TableRequirement::LastAssignedFieldIdMatch {
                    last_assigned_field_id: base.last_column_id(),
                },
            ],
            updates: vec![
                TableUpdate::AddSchema { schema },
                TableUpdate::SetCurrentSchema { schema_id: -1 },
            ],
        });
    }
    None
}

/// Whether every field of `narrow` is in `wide` with the same id, name and a type `wide` reads
/// it as (identical or an Iceberg promotion).
pub fn fits(narrow: &Schema, wide: &Schema) -> bool {
    let wide_fields = fields_by_id(wide);
    fields_by_id(narrow).into_iter().all(|(id, (name, ty))| {
        wide_fields
            .get(&id)
            .is_some_and(|(wide_name, wide_ty)| *wide_name == name && reads_as(&ty, wide_ty))
    })
}

fn reads_as(written: &Type, read: &Type) -> bool {
    use PrimitiveType::*;
    match (written, read) {
        (Type::Primitive(w), Type::Primitive(r)) => match (w, r) {
            _ if w == r => true,
            (Int, Long) | (Float, Double) => true,
            (
                Decimal {
                    precision: wp,
                    scale: ws,
                },
                Decimal {
                    precision: rp,
                    scale: rs,
                },
            ) => ws == rs && wp <= rp,
            _ => false,
        },
        // Nested fields are compared through their own ids.
        (Type::Struct(_), Type::Struct(_))
        | (Type::List(_), Type::List(_))
        | (Type::Map(_), Type::Map(_)) => true,
        _ => false,
    }
}

/// Every field at any depth: id -> (full name, type).
fn fields_by_id(schema: &Schema) -> HashMap<i32, (String, Type)> {
    schema
        .field_id_to_fields()
        .iter()
        .map(|(id, field)| {
            let name = schema
                .name_by_field_id(*id)
                .unwrap_or(&field.name)
                .to_string();
            (*id, (name, field.field_type.as_ref().clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use iceberg::spec::NestedField;

    use super::*;

    fn schema(id: i32, fields: Vec<NestedField>) -> Schema {
        Schema::builder()
            .with_schema_id(id)
            .with_fields(fields.into_iter().map(Into::into))
            .build()
            .unwrap()
    }

    #[test]
    fn fits_by_id_name_and_promotion() {
        let narrow = schema(
            0,
            vec![NestedField::optional(
                1,
                "a",
                Type::Primitive(PrimitiveType::Int),
            )],
        );
        let wide = schema(
            1,
            vec![
                NestedField::optional(1, "a", Type::Primitive(PrimitiveType::Long)),
                NestedField::optional(2, "b", Type::Primitive(PrimitiveType::String)),
            ],
        );
        assert!(fits(&narrow, &wide));
        assert!(!fits(&wide, &narrow));
        let renamed = schema(
            0,
            vec![NestedField::optional(
                1,
                "z",
                Type::Primitive(PrimitiveType::Int),
            )],
        );
        assert!(!fits(&renamed, &wide));
    }
}
