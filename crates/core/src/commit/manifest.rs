//! Where a table's new metadata files go and how a data manifest is opened for writing: shared by
//! the snapshot (the manifest of new files), the overwrite (manifests rewritten with DELETED
//! entries) and maintenance (merged manifests).

use iceberg::io::FileIO;
use iceberg::spec::{
    FormatVersion, ManifestContentType, ManifestWriter, ManifestWriterBuilder, PartitionSpecRef,
    SchemaRef, TableMetadata,
};
use uuid::Uuid;

/// Where new metadata files of a table go.
pub(crate) fn metadata_dir(metadata: &TableMetadata) -> String {
    format!("{}/metadata", metadata.location().trim_end_matches('/'))
}

/// icepipe writes format v1 and v2 tables only.
pub(super) fn check_format(metadata: &TableMetadata) -> iceberg::Result<()> {
    match metadata.format_version() {
        FormatVersion::V1 | FormatVersion::V2 => Ok(()),
        other => Err(iceberg::Error::new(
            iceberg::ErrorKind::FeatureUnsupported,
            format!("icepipe writes Iceberg format v1 and v2 tables; this table is {other}"),
        )),
    }
}

/// A manifest writer of `content` (data or delete files) for `snapshot_id` at
/// `<metadata dir>/<uuid>-<suffix>.avro`, in the table's format version; delete manifests exist
/// from format v2.
pub(crate) fn manifest_writer(
    file_io: &FileIO,
    base: &TableMetadata,
    snapshot_id: i64,
    schema: SchemaRef,
    spec: PartitionSpecRef,
    suffix: &str,
    content: ManifestContentType,
) -> iceberg::Result<ManifestWriter> {
    let path = format!("{}/{}-{suffix}.avro", metadata_dir(base), Uuid::new_v4());
    let builder = ManifestWriterBuilder::new(
        file_io.new_output(&path)?,
        Some(snapshot_id),
        schema,
        spec.as_ref().clone(),
    );
    Ok(match (base.format_version(), content) {
        (FormatVersion::V1, ManifestContentType::Data) => builder.build_v1(),
        (FormatVersion::V1, ManifestContentType::Deletes) => {
            return Err(iceberg::Error::new(
                iceberg::ErrorKind::FeatureUnsupported,
                "delete files need Iceberg format v2; this table is v1",
            ))
        }
        (_, ManifestContentType::Data) => builder.build_v2_data(),
        (_, ManifestContentType::Deletes) => builder.build_v2_deletes(),
    })
}
