//! How ledger files are stored: an Avro container (deflate-compressed) holding one record, the
//! file's kind and its JSON body. Avro because the table's `metadata/` folder is where they live
//! and catalog-managed stores accept only Iceberg's file types there (the local catalog refuses
//! anything but `*.avro` and `*.metadata.json`); JSON inside because it is small and readable.

use apache_avro::types::Value;
use apache_avro::{Codec, DeflateSettings, Reader, Schema, Writer};

const SCHEMA: &str = r#"{"type": "record", "name": "icepipe_ledger_file", "fields": [
    {"name": "kind", "type": "string"},
    {"name": "body", "type": "bytes"}
]}"#;

/// What a ledger file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Index,
    Segment,
    /// A merge table's deleted keys (crate::merge::tombstones).
    Tombstones,
    /// A merge table's replaced merge-key groups (crate::merge::groups).
    GroupTombstones,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Index => "index",
            Kind::Segment => "segment",
            Kind::Tombstones => "tombstones",
            Kind::GroupTombstones => "group-tombstones",
        }
    }
}

fn schema() -> Schema {
    Schema::parse_str(SCHEMA).expect("the ledger file schema is valid")
}

pub fn wrap(kind: Kind, body: Vec<u8>) -> Vec<u8> {
    let schema = schema();
    // Deflate: every Avro reader has it (zstd needs extra libraries in some, e.g. fastavro).
    let codec = Codec::Deflate(DeflateSettings::default());
    let mut writer = Writer::with_codec(&schema, Vec::new(), codec);
    let record = Value::Record(vec![
        ("kind".into(), Value::String(kind.name().into())),
        ("body".into(), Value::Bytes(body)),
    ]);
    writer
        .append(record)
        .expect("the record matches the schema");
    writer.into_inner().expect("writing to memory cannot fail")
}

/// The body of a ledger file of `kind`; `Err` says why the bytes are not one.
pub fn unwrap(kind: Kind, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut reader = Reader::new(bytes).map_err(|e| e.to_string())?;
    let value = reader.next().ok_or("the file holds no record")?;
    {
        let Value::Record(fields) = value.map_err(|e| e.to_string())? else {
            return Err("not a record".into());
        };
        let mut found_kind = None;
        let mut body = None;
        for (name, value) in fields {
            match (name.as_str(), value) {
                ("kind", Value::String(k)) => found_kind = Some(k),
                ("body", Value::Bytes(b)) => body = Some(b),
                _ => {}
            }
        }
        if found_kind.as_deref() != Some(kind.name()) {
            return Err(format!(
                "expected a ledger {} file, found {:?}",
                kind.name(),
                found_kind
            ));
        }
        body.ok_or_else(|| "the record has no body".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_kinds_are_checked() {
        let bytes = wrap(Kind::Index, b"{\"a\":1}".to_vec());
        assert_eq!(unwrap(Kind::Index, &bytes).unwrap(), b"{\"a\":1}");
        assert!(unwrap(Kind::Segment, &bytes).is_err());
        assert!(unwrap(Kind::Index, b"not avro").is_err());
    }
}
