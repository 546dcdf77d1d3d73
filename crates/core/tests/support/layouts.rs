//! Raw Parquet files in the layouts other writers produce, built with the parquet crate's
//! low-level writer so the Parquet schema is exactly the one those writers emit (no Arrow schema
//! in the footer, as parquet-mr, Avro, Thrift, Hive and Spark files have none). Used by the Rust
//! tests and, through `cargo run --example parquet_layouts`, by the end-to-end reader checks.
//!
//! Every layout has the same six rows, `id` 1..=6, split over two row groups (1-3 and 4-6), with
//! the repeated data spread so that each file holds null and empty collections where its layout
//! can express them.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::metadata::{ParquetMetaDataReader, ParquetMetaDataWriter};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// A leaf column's values (non-null ones only) with its definition and repetition levels.
#[derive(Debug, Clone)]
pub struct Leaf {
    values: Values,
    def: Option<Vec<i16>>,
    rep: Option<Vec<i16>>,
}

#[derive(Debug, Clone)]
enum Values {
    I32(Vec<i32>),
    I64(Vec<i64>),
    Str(Vec<&'static str>),
}

impl Leaf {
    fn required_i64(values: Vec<i64>) -> Self {
        Self {
            values: Values::I64(values),
            def: None,
            rep: None,
        }
    }
}

/// The levels of a column nested in one repeated field, row by row: `None` is a null
/// collection, `Some(vec![])` an empty one, `Some(vec![None])` one null element.
struct OneLevel {
    /// Definition level of a null collection (when the collection is optional).
    null_def: i16,
    /// Definition level of an empty collection.
    empty_def: i16,
    /// Definition level of a null element (when the element is optional).
    null_element_def: i16,
    /// Definition level of a present element (the column's maximum).
    value_def: i16,
}

impl OneLevel {
    /// Definition levels of: a null collection, an empty one, a null element, a present one.
    const fn new(null_def: i16, empty_def: i16, null_element_def: i16, value_def: i16) -> Self {
        Self {
            null_def,
            empty_def,
            null_element_def,
            value_def,
        }
    }

    fn shred<T: Clone>(&self, rows: &[Option<Vec<Option<T>>>]) -> (Vec<T>, Vec<i16>, Vec<i16>) {
        let (mut values, mut def, mut rep) = (Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            match row {
                None => {
                    def.push(self.null_def);
                    rep.push(0);
                }
                Some(items) if items.is_empty() => {
                    def.push(self.empty_def);
                    rep.push(0);
                }
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        rep.push(if i == 0 { 0 } else { 1 });
                        match item {
                            Some(v) => {
                                def.push(self.value_def);
                                values.push(v.clone());
                            }
                            None => def.push(self.null_element_def),
                        }
                    }
                }
            }
        }
        (values, def, rep)
    }

    fn i32(&self, rows: &[Option<Vec<Option<i32>>>]) -> Leaf {
        let (values, def, rep) = self.shred(rows);
        Leaf {
            values: Values::I32(values),
            def: Some(def),
            rep: Some(rep),
        }
    }

    fn str(&self, rows: &[Option<Vec<Option<&'static str>>>]) -> Leaf {
        let (values, def, rep) = self.shred(rows);
        Leaf {
            values: Values::Str(values),
            def: Some(def),
            rep: Some(rep),
        }
    }
}

/// One raw file layout: what writes it, its Parquet schema, and its row groups of leaf columns.
pub struct Layout {
    pub name: &'static str,
    pub written_by: &'static str,
    pub schema: &'static str,
    row_groups: Vec<Vec<Leaf>>,
}

impl Layout {
    /// The Parquet file: one page per column chunk, uncompressed, footer without an Arrow schema.
    pub fn parquet(&self) -> Bytes {
        let schema = Arc::new(parse_message_type(self.schema).expect("layout schema parses"));
        let props = Arc::new(
            WriterProperties::builder()
                .set_created_by(format!("{} (icepipe test fixture)", self.written_by))
                .build(),
        );
        let mut out = Vec::new();
        let mut writer = SerializedFileWriter::new(&mut out, schema, props).expect("writer");
        for leaves in &self.row_groups {
            let mut group = writer.next_row_group().expect("row group");
            for leaf in leaves {
                let mut column = group.next_column().expect("column").expect("a leaf left");
                let (def, rep) = (leaf.def.as_deref(), leaf.rep.as_deref());
                match &leaf.values {
                    Values::I32(v) => column.typed::<Int32Type>().write_batch(v, def, rep),
                    Values::I64(v) => column.typed::<Int64Type>().write_batch(v, def, rep),
                    Values::Str(v) => {
                        let v: Vec<ByteArray> = v.iter().map(|s| ByteArray::from(*s)).collect();
                        column.typed::<ByteArrayType>().write_batch(&v, def, rep)
                    }
                }
                .expect("write leaf");
                column.close().expect("close column");
            }
            assert!(
                group.next_column().expect("column").is_none(),
                "{}: leaves left unwritten",
                self.name
            );
            group.close().expect("close row group");
        }
        writer.close().expect("close file");
        Bytes::from(out)
    }

    pub fn rows(&self) -> u64 {
        6
    }
}

fn ids(first: i64) -> Leaf {
    Leaf::required_i64(vec![first, first + 1, first + 2])
}

/// Splits six rows of a column into the two row groups.
fn halves<T: Clone>(rows: [T; 6]) -> [Vec<T>; 2] {
    [rows[..3].to_vec(), rows[3..].to_vec()]
}

/// Builds the two row groups from per-row-group leaf builders.
fn two_groups(build: impl Fn(usize) -> Vec<Leaf>) -> Vec<Vec<Leaf>> {
    (0..2)
        .map(|g| {
            let mut leaves = vec![ids(1 + 3 * g as i64)];
            leaves.extend(build(g));
            leaves
        })
        .collect()
}

/// A repeated group with no LIST annotation at the top level (parquet-mr's protobuf and Thrift
/// writers, older Avro ones): each record holds zero or more `tags`.
fn repeated_group() -> Layout {
    let names = halves([
        Some(vec![Some("a"), Some("b")]),
        Some(vec![]),
        Some(vec![Some("c")]),
        Some(vec![]),
        Some(vec![Some("d"), Some("e"), Some("f")]),
        Some(vec![Some("g")]),
    ]);
    let weights = halves([
        Some(vec![Some(1), None]),
        Some(vec![]),
        Some(vec![Some(3)]),
        Some(vec![]),
        Some(vec![Some(4), Some(5), Some(6)]),
        Some(vec![None]),
    ]);
    // name is required: present = 1; weight is optional: null in a present tag = 1, present = 2.
    let name = OneLevel::new(0, 0, 0, 1);
    let weight = OneLevel::new(0, 0, 1, 2);
    Layout {
        name: "repeated_group",
        written_by: "parquet-mr protobuf/thrift writer",
        schema: "message record {
            required int64 id;
            repeated group tags {
              required binary name (UTF8);
              optional int32 weight;
            }
          }",
        row_groups: two_groups(|g| vec![name.str(&names[g]), weight.i32(&weights[g])]),
    }
}

/// Repeated primitives with no annotation, at the top level and inside a struct (protobuf).
fn repeated_primitive() -> Layout {
    let scores = halves([
        Some(vec![Some(10), Some(11)]),
        Some(vec![]),
        Some(vec![Some(30)]),
        Some(vec![Some(40), Some(41), Some(42)]),
        Some(vec![]),
        Some(vec![Some(60)]),
    ]);
    let labels = halves([
        Some(vec![Some("one")]),
        None,
        Some(vec![None]),
        Some(vec![Some("four")]),
        Some(vec![Some("five")]),
        None,
    ]);
    let aliases = halves([
        Some(vec![Some("uno"), Some("eins")]),
        None,
        Some(vec![]),
        Some(vec![Some("vier")]),
        Some(vec![]),
        None,
    ]);
    let score = OneLevel::new(0, 0, 0, 1);
    // `info` is optional (1); `label` optional inside it (2); `aliases` repeated inside it (2).
    // The label leaf has no repetition: modelled as a one-element "collection" of the struct.
    let label = OneLevel::new(0, 1, 1, 2);
    let alias = OneLevel::new(0, 1, 1, 2);
    Layout {
        name: "repeated_primitive",
        written_by: "parquet-mr protobuf writer",
        schema: "message record {
            required int64 id;
            repeated int32 scores;
            optional group info {
              optional binary label (UTF8);
              repeated binary aliases (UTF8);
            }
          }",
        row_groups: two_groups(|g| {
            let mut label_leaf = label.str(&labels[g]);
            label_leaf.rep = None; // not repeated: one level per row
            vec![score.i32(&scores[g]), label_leaf, alias.str(&aliases[g])]
        }),
    }
}

/// Two-level lists: the repeated field is the element (parquet-avro's default
/// `write-old-list-structure`, Thrift's `_tuple` groups, Hive's `array`).
fn two_level_list() -> Layout {
    let tags = halves([
        Some(vec![Some("red"), Some("blue")]),
        None,
        Some(vec![]),
        Some(vec![Some("green")]),
        None,
        Some(vec![Some("cyan"), Some("magenta"), Some("yellow")]),
    ]);
    let xs = halves([
        Some(vec![Some(1), Some(2)]),
        Some(vec![]),
        Some(vec![Some(3)]),
        Some(vec![Some(4)]),
        Some(vec![Some(5), Some(6)]),
        Some(vec![]),
    ]);
    let ys = halves([
        Some(vec![None, Some(20)]),
        Some(vec![]),
        Some(vec![Some(30)]),
        Some(vec![None]),
        Some(vec![Some(50), Some(60)]),
        Some(vec![]),
    ]);
    let pairs = halves([
        Some(vec![Some("k1")]),
        Some(vec![Some("k2"), Some("k3")]),
        None,
        Some(vec![]),
        Some(vec![Some("k5")]),
        None,
    ]);
    // tags: optional list (null 0, empty 1), required element (present 2).
    let tag = OneLevel::new(0, 1, 1, 2);
    // points: required list (empty 0) of required groups { required x, optional y }.
    let x = OneLevel::new(0, 0, 0, 1);
    let y = OneLevel::new(0, 0, 1, 2);
    // pairs: optional list (null 0, empty 1) of one-field `pairs_tuple` groups.
    let pair = OneLevel::new(0, 1, 1, 2);
    Layout {
        name: "two_level_list",
        written_by: "parquet-avro (old list structure) / Thrift",
        schema: "message record {
            required int64 id;
            optional group tags (LIST) {
              repeated binary array (UTF8);
            }
            required group points (LIST) {
              repeated group array {
                required int32 x;
                optional int32 y;
              }
            }
            optional group pairs (LIST) {
              repeated group pairs_tuple {
                required binary str (UTF8);
              }
            }
          }",
        row_groups: two_groups(|g| {
            vec![
                tag.str(&tags[g]),
                x.i32(&xs[g]),
                y.i32(&ys[g]),
                pair.str(&pairs[g]),
            ]
        }),
    }
}

/// Three-level lists under the names older writers chose: Hive/Spark's legacy format
/// (`bag`/`array`) and pyarrow's non-compliant one (`list`/`item`); plus a list of lists.
fn legacy_list_names() -> Layout {
    let bag = halves([
        Some(vec![Some(1), None]),
        None,
        Some(vec![]),
        Some(vec![Some(4)]),
        Some(vec![None]),
        Some(vec![Some(6), Some(7)]),
    ]);
    let items = halves([
        Some(vec![Some("x")]),
        Some(vec![]),
        None,
        Some(vec![Some("y"), None]),
        Some(vec![Some("z")]),
        None,
    ]);
    // optional list (null 0, empty 1), optional element (null 2, present 3).
    let three = OneLevel::new(0, 1, 2, 3);
    Layout {
        name: "legacy_list_names",
        written_by: "Hive / Spark writeLegacyFormat / pyarrow non-compliant",
        schema: "message record {
            required int64 id;
            optional group bag_list (LIST) {
              repeated group bag {
                optional int32 array;
              }
            }
            optional group item_list (LIST) {
              repeated group list {
                optional binary item (UTF8);
              }
            }
          }",
        row_groups: two_groups(|g| vec![three.i32(&bag[g]), three.str(&items[g])]),
    }
}

/// A two-level list of two-level lists (parquet-avro old structure, nested), levels by hand:
/// rows [[1,2],[3]], null, [], [[]], [[4]], [[5],[],[6,7]].
fn nested_two_level_list() -> Layout {
    // matrix optional (1), outer repeated `array` (2, r1), inner repeated int32 `array` (3, r2).
    let first = Leaf {
        values: Values::I32(vec![1, 2, 3]),
        def: Some(vec![3, 3, 3, 0, 1]),
        rep: Some(vec![0, 2, 1, 0, 0]),
    };
    let second = Leaf {
        values: Values::I32(vec![4, 5, 6, 7]),
        def: Some(vec![2, 3, 3, 2, 3, 3]),
        rep: Some(vec![0, 0, 0, 1, 1, 2]),
    };
    Layout {
        name: "nested_two_level_list",
        written_by: "parquet-avro (old list structure), nested arrays",
        schema: "message record {
            required int64 id;
            optional group matrix (LIST) {
              repeated group array (LIST) {
                repeated int32 array;
              }
            }
          }",
        row_groups: vec![vec![ids(1), first], vec![ids(4), second]],
    }
}

/// Maps as older parquet-mr versions wrote them: `MAP_KEY_VALUE` on the repeated group (named
/// `map`), and `MAP_KEY_VALUE` on the outer group itself.
fn legacy_map() -> Layout {
    let keys = halves([
        Some(vec![Some("a"), Some("b")]),
        None,
        Some(vec![]),
        Some(vec![Some("c")]),
        Some(vec![Some("d"), Some("e")]),
        None,
    ]);
    let values = halves([
        Some(vec![Some(1), None]),
        None,
        Some(vec![]),
        Some(vec![Some(3)]),
        Some(vec![Some(4), Some(5)]),
        None,
    ]);
    let keys2 = halves([
        None,
        Some(vec![Some("p")]),
        Some(vec![Some("q"), Some("r")]),
        Some(vec![]),
        None,
        Some(vec![Some("s")]),
    ]);
    let values2 = halves([
        None,
        Some(vec![Some("P")]),
        Some(vec![None, Some("R")]),
        Some(vec![]),
        None,
        Some(vec![Some("S")]),
    ]);
    // optional map (null 0, empty 1), required key (2), optional value (null 2, present 3).
    let key = OneLevel::new(0, 1, 1, 2);
    let value = OneLevel::new(0, 1, 2, 3);
    Layout {
        name: "legacy_map",
        written_by: "parquet-mr before 1.x MAP fixes (MAP_KEY_VALUE)",
        schema: "message record {
            required int64 id;
            optional group attrs (MAP) {
              repeated group map (MAP_KEY_VALUE) {
                required binary key (UTF8);
                optional int32 value;
              }
            }
            optional group labels (MAP_KEY_VALUE) {
              repeated group map {
                required binary key (UTF8);
                optional binary value (UTF8);
              }
            }
          }",
        row_groups: two_groups(|g| {
            vec![
                key.str(&keys[g]),
                value.i32(&values[g]),
                key.str(&keys2[g]),
                value.str(&values2[g]),
            ]
        }),
    }
}

/// A plain flat file (no nesting): the base of the damaged-footer fixture.
pub fn flat() -> Layout {
    let names = halves([
        Some(vec![Some("a")]),
        Some(vec![None]),
        Some(vec![Some("c")]),
        Some(vec![Some("d")]),
        Some(vec![Some("e")]),
        Some(vec![None]),
    ]);
    // An optional top-level column: null 0, present 1 (one level per row, no repetition).
    let name = OneLevel::new(0, 0, 0, 1);
    Layout {
        name: "flat",
        written_by: "parquet low-level writer",
        schema: "message record {
            required int64 id;
            optional binary name (UTF8);
          }",
        row_groups: two_groups(|g| {
            let mut leaf = name.str(&names[g]);
            leaf.rep = None;
            vec![leaf]
        }),
    }
}

/// Every legacy layout.
pub fn legacy_layouts() -> Vec<Layout> {
    vec![
        repeated_group(),
        repeated_primitive(),
        two_level_list(),
        legacy_list_names(),
        nested_two_level_list(),
        legacy_map(),
    ]
}

/// `file` with its footer rewritten so that row group `row_group` claims `extra` more rows than
/// its pages hold, consistently: the row group's row count and each column chunk's value count
/// (pages, offsets and everything else untouched). Only a decoder can tell.
pub fn overstate_rows(file: &Bytes, row_group: usize, extra: i64) -> Bytes {
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(file)
        .expect("a readable footer");
    let footer_len = u32::from_le_bytes(file[file.len() - 8..file.len() - 4].try_into().unwrap());
    let body_end = file.len() - 8 - footer_len as usize;
    let mut builder = metadata.into_builder();
    let groups = builder
        .take_row_groups()
        .into_iter()
        .enumerate()
        .map(|(i, group)| {
            if i != row_group {
                return group;
            }
            let rows = group.num_rows() + extra;
            let mut group = group.into_builder().set_num_rows(rows);
            let columns = group
                .take_columns()
                .into_iter()
                .map(|c| {
                    let values = c.num_values() + extra;
                    c.into_builder()
                        .set_num_values(values)
                        .build()
                        .expect("column chunk")
                })
                .collect();
            group
                .set_column_metadata(columns)
                .build()
                .expect("row group")
        })
        .collect();
    let metadata = builder.set_row_groups(groups).build();
    let mut footer = Vec::new();
    ParquetMetaDataWriter::new(&mut footer, &metadata)
        .finish()
        .expect("write footer");
    let mut out = file[..body_end].to_vec();
    // The writer emits the metadata, its length and the magic, as at the end of a file.
    out.extend_from_slice(&footer);
    Bytes::from(out)
}
