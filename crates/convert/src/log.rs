//! The convert Worker's own log lines (the generic ones are in `icepipe_edge::log`).

use icepipe_core::batch::{BatchReport, Note};
use icepipe_edge::log::to_line;
use serde::Serialize;

/// The per-batch line: what the batch did, with the wasm memory high-water mark.
#[derive(Serialize)]
struct BatchLine<'a> {
    event: &'static str,
    #[serde(flatten)]
    report: &'a BatchReport,
    wasm_memory_bytes: u64,
}

/// `{"event":"batch","messages",...,"timings_ms":{...},"commit_attempts","acked","retried","errors":[...],"wasm_memory_bytes"}`
pub fn batch_line(report: &BatchReport, wasm_memory_bytes: u64) -> String {
    to_line(&BatchLine {
        event: "batch",
        report,
        wasm_memory_bytes,
    })
}

/// A note about one message (malformed, deleted, skipped, rejected, gone, replaced).
pub fn note_line(note: &Note) -> String {
    to_line(note)
}

#[cfg(test)]
mod tests {
    use icepipe_core::batch::{BatchError, BatchTable};
    use icepipe_core::commit::outcome::TableOutcome;
    use icepipe_core::raw::error_record::FailureKind;

    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn the_batch_line_has_every_field() {
        let report = BatchReport {
            messages: 3,
            tables: vec![BatchTable {
                outcome: TableOutcome {
                    table: "analytics.shop.orders".into(),
                    snapshot_id: Some(7),
                    objects: vec!["r2://raw/a".into(), "r2://raw/b".into()],
                    data_files: 2,
                    rows: 10,
                    bytes: 2048,
                    ..Default::default()
                },
                catalog_ops: Default::default(),
                error: None,
            }],
            files: 2,
            rows: 10,
            bytes: 2048,
            commit_attempts: 1,
            acked: 2,
            retried: 1,
            errors: vec![BatchError {
                table: None,
                key: Some("sources/x".into()),
                etag: Some("e".into()),
                kind: FailureKind::Permanent,
                reason: "bad".into(),
                record: Some("_errors/2026-11-24/ab.json".into()),
            }],
            ..Default::default()
        };
        let line: Value = serde_json::from_str(&batch_line(&report, 42 * 65_536)).unwrap();
        assert_eq!(line["event"], "batch");
        for field in [
            "messages",
            "tables",
            "files",
            "rows",
            "bytes",
            "timings_ms",
            "commit_attempts",
            "acked",
            "retried",
            "errors",
            "wasm_memory_bytes",
        ] {
            assert!(line.get(field).is_some(), "missing {field}: {line}");
        }
        assert_eq!(line["tables"][0]["snapshot_id"], 7);
        assert_eq!(line["errors"][0]["kind"], "permanent");
        assert_eq!(line["wasm_memory_bytes"], 42 * 65_536);
        for step in [
            "connect", "head", "load", "probe", "write", "commit", "records", "total",
        ] {
            assert!(line["timings_ms"].get(step).is_some(), "timings_ms.{step}");
        }
        assert!(!batch_line(&report, 0).contains('\n'), "one line");
    }

    #[test]
    fn notes_are_one_object_per_line() {
        let note = Note::Deleted {
            key: "sources/k".into(),
            action: "DeleteObject".into(),
        };
        let line: Value = serde_json::from_str(&note_line(&note)).unwrap();
        assert_eq!(
            line,
            json!({"event": "deleted", "key": "sources/k", "action": "DeleteObject"})
        );
    }
}
