//! `icepipe generate`: deterministic raw Parquet for demos, memory checks and benchmarks. Twelve
//! columns of the kinds real event data has: ints, doubles, a decimal, strings, timestamps with
//! and without zone, and a nested struct. Same arguments, same bytes.

use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use arrow_array::builder::{Decimal128Builder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, StructArray, TimestampMicrosecondArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use clap::Args;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::CliError;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Rows to write.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Rows per row group (pyarrow's default is 1Mi; writers in the wild vary).
    #[arg(long, default_value_t = 128 * 1024)]
    row_group_rows: usize,
    /// Seed of the pseudo-random values.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
}

const BATCH: u64 = 16 * 1024;
const CATEGORIES: [&str; 8] = [
    "books", "games", "garden", "music", "office", "sports", "tools", "toys",
];
const CITIES: [&str; 6] = ["Lisbon", "Nairobi", "Osaka", "Quito", "Tromsø", "Perth"];
const WORDS: [&str; 16] = [
    "alpha", "bravo", "cedar", "delta", "ember", "fjord", "grove", "harbor", "ivory", "jade",
    "kelp", "lumen", "maple", "nectar", "onyx", "prism",
];
/// 2026-01-01T00:00:00Z in microseconds.
const EPOCH_2026_US: i64 = 1_767_225_600_000_000;

pub fn run(args: &GenerateArgs) -> Result<ExitCode, CliError> {
    let schema = Arc::new(schema());
    let file = File::create(&args.out).map_err(|source| CliError::File {
        path: args.out.display().to_string(),
        source,
    })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(args.row_group_rows.max(1)))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    let mut rng = SplitMix64(args.seed);
    let mut start = 0;
    while start < args.rows {
        let end = (start + BATCH).min(args.rows);
        let batch = batch(&schema, start..end, &mut rng)?;
        writer.write(&batch)?;
        start = end;
    }
    writer.close()?;
    Ok(ExitCode::SUCCESS)
}

fn location_fields() -> Fields {
    Fields::from(vec![
        Field::new("lat", DataType::Float64, true),
        Field::new("lon", DataType::Float64, true),
        Field::new("city", DataType::Utf8, true),
    ])
}

fn schema() -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("user_id", DataType::Int32, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("price", DataType::Decimal128(12, 2), true),
        Field::new("quantity", DataType::Int32, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("description", DataType::Utf8, true),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new("score", DataType::Float32, true),
        Field::new("active", DataType::Boolean, true),
        Field::new("location", DataType::Struct(location_fields()), true),
    ])
}

fn batch(
    schema: &Arc<Schema>,
    ids: std::ops::Range<u64>,
    rng: &mut SplitMix64,
) -> Result<RecordBatch, CliError> {
    let n = (ids.end - ids.start) as usize;
    let mut r = || rng.next();
    let draws: Vec<[u64; 4]> = (0..n).map(|_| [r(), r(), r(), r()]).collect();
    let nullable = |d: &[u64; 4], k: u32| !(d[3] >> k).is_multiple_of(50); // about 2% nulls per column
    let mut price = Decimal128Builder::with_capacity(n);
    let mut description = StringBuilder::with_capacity(n, n * 40);
    for d in &draws {
        price.append_option(nullable(d, 3).then_some((d[0] % 10_000_000) as i128));
        if nullable(d, 6) {
            let words: Vec<&str> = (0..5)
                .map(|i| WORDS[((d[1] >> (i * 4)) % 16) as usize])
                .collect();
            description.append_value(format!("{} #{}", words.join(" "), d[2] % 100_000));
        } else {
            description.append_null();
        }
    }
    let location = StructArray::try_new(
        location_fields(),
        vec![
            Arc::new(Float64Array::from_iter(
                draws
                    .iter()
                    .map(|d| Some((d[0] % 180_000) as f64 / 1000.0 - 90.0)),
            )),
            Arc::new(Float64Array::from_iter(
                draws
                    .iter()
                    .map(|d| Some((d[1] % 360_000) as f64 / 1000.0 - 180.0)),
            )),
            Arc::new(StringArray::from_iter(
                draws.iter().map(|d| Some(CITIES[(d[2] % 6) as usize])),
            )),
        ],
        Some(draws.iter().map(|d| nullable(d, 11)).collect()),
    )?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(ids.map(|i| i as i64))),
        Arc::new(Int32Array::from_iter(
            draws
                .iter()
                .map(|d| nullable(d, 1).then_some((d[0] % 1_000_000) as i32)),
        )),
        Arc::new(Float64Array::from_iter(draws.iter().map(|d| {
            nullable(d, 2).then_some((d[1] % 1_000_000) as f64 / 100.0)
        }))),
        Arc::new(price.finish().with_precision_and_scale(12, 2)?),
        Arc::new(Int32Array::from_iter(
            draws
                .iter()
                .map(|d| nullable(d, 4).then_some((d[2] % 20) as i32 + 1)),
        )),
        Arc::new(StringArray::from_iter(draws.iter().map(|d| {
            nullable(d, 5).then_some(CATEGORIES[(d[0] % 8) as usize])
        }))),
        Arc::new(description.finish()),
        Arc::new(
            TimestampMicrosecondArray::from_iter(draws.iter().map(|d| {
                nullable(d, 7).then_some(EPOCH_2026_US + (d[1] % 31_536_000_000_000) as i64)
            }))
            .with_timezone("UTC"),
        ),
        Arc::new(TimestampMillisecondArray::from_iter(draws.iter().map(
            |d| nullable(d, 8).then_some(EPOCH_2026_US / 1000 + (d[2] % 31_536_000_000) as i64),
        ))),
        Arc::new(Float32Array::from_iter(
            draws
                .iter()
                .map(|d| nullable(d, 9).then_some((d[0] % 1000) as f32 / 10.0)),
        )),
        Arc::new(BooleanArray::from_iter(
            draws
                .iter()
                .map(|d| nullable(d, 10).then_some(d[1].is_multiple_of(2))),
        )),
        Arc::new(location),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// A tiny deterministic generator (SplitMix64): no dependency, same sequence everywhere.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
