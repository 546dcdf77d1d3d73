//! Earlier names of a table's columns, so raw files that keep a column's old name after another
//! tool renamed it (PyIceberg's `rename_column`, Spark's `RENAME COLUMN`) fill the renamed field
//! instead of adding a second column. Names come from the table's `schema.name-mapping.default`
//! (the Iceberg property other tools keep aliases in) and from the table's earlier schemas
//! (a rename keeps the field id, so every schema in the metadata names it). Top-level columns.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema as ArrowSchema;
use iceberg::spec::{NestedField, Schema, TableMetadata};
use serde::Deserialize;

/// Iceberg's name-mapping table property.
pub const NAME_MAPPING_PROPERTY: &str = "schema.name-mapping.default";

#[derive(Debug, Deserialize)]
struct MappedField {
    #[serde(rename = "field-id")]
    field_id: Option<i32>,
    #[serde(default)]
    names: Vec<String>,
}

/// Old column name -> the current name of the same field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnAliases {
    current: HashMap<String, String>,
}

impl ColumnAliases {
    pub fn of(metadata: &TableMetadata) -> Self {
        let schema = metadata.current_schema();
        let current_names: HashMap<i32, &str> = schema
            .as_struct()
            .fields()
            .iter()
            .map(|f| (f.id, f.name.as_str()))
            .collect();
        let taken: HashSet<&str> = current_names.values().copied().collect();
        let mut old: Vec<(i32, String)> = Vec::new();
        for earlier in metadata.schemas_iter() {
            old.extend(
                earlier
                    .as_struct()
                    .fields()
                    .iter()
                    .map(|f| (f.id, f.name.clone())),
            );
        }
        if let Some(json) = metadata.properties().get(NAME_MAPPING_PROPERTY) {
            // A mapping we cannot read adds no aliases (it is another tool's property).
            let mapped: Vec<MappedField> = serde_json::from_str(json).unwrap_or_default();
            for field in mapped {
                if let Some(id) = field.field_id {
                    old.extend(field.names.into_iter().map(|n| (id, n)));
                }
            }
        }
        let mut current = HashMap::new();
        for (id, name) in old {
            if let Some(now) = current_names.get(&id) {
                if *now != name && !taken.contains(name.as_str()) {
                    current.insert(name, now.to_string());
                }
            }
        }
        Self { current }
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }

    /// The current name for `name`, when `name` is an earlier name of a column.
    pub fn current_name(&self, name: &str) -> Option<&str> {
        self.current.get(name).map(String::as_str)
    }

    /// `names` with earlier names replaced by current ones (a name whose current form is also
    /// present stays as it is: the current column wins).
    fn renamed<'a>(&'a self, names: &'a [&'a str]) -> impl Iterator<Item = &'a str> + 'a {
        let present: HashSet<&str> = names.iter().copied().collect();
        names.iter().map(move |name| match self.current_name(name) {
            Some(now) if !present.contains(now) => now,
            _ => name,
        })
    }

    /// A raw file's schema with its columns under their current names.
    pub fn rename_schema(&self, schema: &Schema) -> Schema {
        if self.is_empty() {
            return schema.clone();
        }
        let fields = schema.as_struct().fields();
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        let renamed: Vec<Arc<NestedField>> = fields
            .iter()
            .zip(self.renamed(&names))
            .map(|(f, name)| {
                let mut field = f.as_ref().clone();
                field.name = name.to_string();
                Arc::new(field)
            })
            .collect();
        Schema::builder()
            .with_schema_id(schema.schema_id())
            .with_fields(renamed)
            .build()
            .unwrap_or_else(|_| schema.clone())
    }

    /// A raw batch with its columns under their current names.
    pub fn rename_batch(&self, batch: &RecordBatch) -> RecordBatch {
        if self.is_empty() {
            return batch.clone();
        }
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let fields: Vec<arrow_schema::Field> = schema
            .fields()
            .iter()
            .zip(self.renamed(&names))
            .map(|(f, name)| f.as_ref().clone().with_name(name))
            .collect();
        let renamed = Arc::new(ArrowSchema::new_with_metadata(
            fields,
            schema.metadata().clone(),
        ));
        RecordBatch::try_new(renamed, batch.columns().to_vec()).unwrap_or_else(|_| batch.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::{PrimitiveType, Type};

    fn field(id: i32, name: &str) -> Arc<NestedField> {
        Arc::new(NestedField::optional(
            id,
            name,
            Type::Primitive(PrimitiveType::Long),
        ))
    }

    fn aliases(pairs: &[(&str, &str)]) -> ColumnAliases {
        ColumnAliases {
            current: pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn old_names_take_the_current_name_unless_it_is_there_too() {
        let raw = Schema::builder()
            .with_fields(vec![field(1, "customer"), field(2, "total")])
            .build()
            .unwrap();
        let a = aliases(&[("customer", "client")]);
        let renamed = a.rename_schema(&raw);
        let names: Vec<&str> = renamed
            .as_struct()
            .fields()
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["client", "total"]);

        let both = Schema::builder()
            .with_fields(vec![field(1, "customer"), field(2, "client")])
            .build()
            .unwrap();
        let kept = a.rename_schema(&both);
        assert!(kept.field_by_name("customer").is_some());
    }
}
