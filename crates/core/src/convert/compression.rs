//! The Parquet compression of data files, from the table's Iceberg properties
//! `write.parquet.compression-codec` and `write.parquet.compression-level`, so operators tune it
//! the way every Iceberg writer is tuned. Default: zstd level 1, the level pyarrow (PyIceberg)
//! and most writers use; level 3 cost ~22% of the convert CPU for a few percent smaller files.

use std::collections::HashMap;

use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};

pub const CODEC_PROPERTY: &str = "write.parquet.compression-codec";
pub const LEVEL_PROPERTY: &str = "write.parquet.compression-level";
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;

/// The compression the table's properties ask for; an error names the property and the value.
pub fn compression_for(properties: &HashMap<String, String>) -> Result<Compression, String> {
    let codec = properties
        .get(CODEC_PROPERTY)
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "zstd".into());
    let level = match properties.get(LEVEL_PROPERTY).map(|l| l.trim()) {
        None | Some("") => None,
        Some(text) => Some(text.parse::<i32>().map_err(|_| {
            format!("table property {LEVEL_PROPERTY} must be a whole number, not {text:?}")
        })?),
    };
    let bad_level = |e: parquet::errors::ParquetError| {
        format!("table property {LEVEL_PROPERTY} = {level:?} is not valid for {codec}: {e}")
    };
    Ok(match codec.as_str() {
        "zstd" => Compression::ZSTD(
            ZstdLevel::try_new(level.unwrap_or(DEFAULT_ZSTD_LEVEL)).map_err(bad_level)?,
        ),
        "gzip" => Compression::GZIP(match level {
            None => GzipLevel::default(),
            Some(l) => GzipLevel::try_new(u32::try_from(l).unwrap_or(u32::MAX)).map_err(bad_level)?,
        }),
        "brotli" => Compression::BROTLI(match level {
            None => BrotliLevel::default(),
            Some(l) => {
                BrotliLevel::try_new(u32::try_from(l).unwrap_or(u32::MAX)).map_err(bad_level)?
            }
        }),
        "snappy" => Compression::SNAPPY,
        "lz4" => Compression::LZ4_RAW,
        "uncompressed" | "none" => Compression::UNCOMPRESSED,
        other => {
            return Err(format!(
                "table property {CODEC_PROPERTY} = {other:?} is not supported: use zstd, gzip, brotli, snappy, lz4 or uncompressed"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn zstd_level_one_unless_the_table_says_otherwise() {
        assert_eq!(
            compression_for(&props(&[])).unwrap(),
            Compression::ZSTD(ZstdLevel::try_new(1).unwrap())
        );
        assert_eq!(
            compression_for(&props(&[(LEVEL_PROPERTY, "9")])).unwrap(),
            Compression::ZSTD(ZstdLevel::try_new(9).unwrap())
        );
        assert_eq!(
            compression_for(&props(&[(CODEC_PROPERTY, "Snappy")])).unwrap(),
            Compression::SNAPPY
        );
        assert_eq!(
            compression_for(&props(&[(CODEC_PROPERTY, "gzip"), (LEVEL_PROPERTY, "6")])).unwrap(),
            Compression::GZIP(GzipLevel::try_new(6).unwrap())
        );
    }

    #[test]
    fn bad_properties_are_named() {
        let e = compression_for(&props(&[(CODEC_PROPERTY, "lzo")])).unwrap_err();
        assert!(e.contains(CODEC_PROPERTY) && e.contains("lzo"), "{e}");
        let e = compression_for(&props(&[(LEVEL_PROPERTY, "high")])).unwrap_err();
        assert!(e.contains(LEVEL_PROPERTY) && e.contains("high"), "{e}");
        let e = compression_for(&props(&[(LEVEL_PROPERTY, "99")])).unwrap_err();
        assert!(e.contains("not valid for zstd"), "{e}");
    }
}
