//! Records received = rows landed. Every record an API returned (or a client pushed) is either
//! loaded or skipped as already loaded, and every row the loaded records normalize into (one root
//! row each, child rows for their arrays) is in a raw Parquet file, counted from the footers
//! written. A resource whose counts differ fails, naming the table: nothing is lost silently.

use std::collections::BTreeMap;

use super::run::ResourceReport;

/// Why a resource's rows do not add up: a record or a row went missing (or appeared) between
/// the API's pages and the raw files written. Never transient: running again repeats it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountingError {
    #[error(
        "rows do not add up: {received} records received, {rows} loaded and {skipped} skipped as already loaded"
    )]
    Received {
        received: u64,
        rows: u64,
        skipped: u64,
    },
    #[error("rows do not add up: {rows} records loaded but {normalized} rows for table {table}")]
    Root {
        rows: u64,
        normalized: u64,
        table: String,
    },
    #[error(
        "rows do not add up: table {table}: {expected} rows from the records received, {landed} in the raw files written"
    )]
    Landed {
        table: String,
        expected: u64,
        landed: u64,
    },
}

/// Checks a resource's report against the rows its records normalized into, per table.
pub fn check_landed(
    report: &ResourceReport,
    normalized: &BTreeMap<String, u64>,
) -> Result<(), AccountingError> {
    if report.received != report.rows + report.skipped {
        return Err(AccountingError::Received {
            received: report.received,
            rows: report.rows,
            skipped: report.skipped,
        });
    }
    let root = normalized.get(&report.resource).copied().unwrap_or(0);
    if root != report.rows {
        return Err(AccountingError::Root {
            rows: report.rows,
            normalized: root,
            table: report.resource.clone(),
        });
    }
    let tables = normalized.keys().chain(report.tables.keys());
    for table in tables {
        let expected = normalized.get(table).copied().unwrap_or(0);
        let landed = report.tables.get(table).copied().unwrap_or(0);
        if expected != landed {
            return Err(AccountingError::Landed {
                table: table.clone(),
                expected,
                landed,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(received: u64, rows: u64, skipped: u64, tables: &[(&str, u64)]) -> ResourceReport {
        ResourceReport {
            resource: "posts".into(),
            received,
            rows,
            skipped,
            tables: tables.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
            ..Default::default()
        }
    }

    fn rows(tables: &[(&str, u64)]) -> BTreeMap<String, u64> {
        tables.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn every_record_loaded_or_skipped_and_every_row_landed() {
        let landed = [("posts", 100), ("posts__tags", 146)];
        assert_eq!(
            check_landed(&report(101, 100, 1, &landed), &rows(&landed)),
            Ok(())
        );
        assert_eq!(check_landed(&report(0, 0, 0, &[]), &rows(&[])), Ok(()));
    }

    #[test]
    fn a_missing_record_or_row_is_named() {
        let landed = [("posts", 100), ("posts__tags", 146)];
        let err = check_landed(&report(102, 100, 1, &landed), &rows(&landed))
            .unwrap_err()
            .to_string();
        assert!(err.contains("102 records received"), "{err}");

        let err = check_landed(
            &report(101, 100, 1, &[("posts", 100), ("posts__tags", 140)]),
            &rows(&landed),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("table posts__tags: 146 rows") && err.contains("140"),
            "{err}"
        );

        let err = check_landed(&report(101, 100, 1, &[("posts", 100)]), &rows(&landed));
        assert!(err.unwrap_err().to_string().contains("posts__tags"));

        let err = check_landed(&report(5, 5, 0, &[("posts", 4)]), &rows(&[("posts", 4)]));
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("5 records loaded but 4 rows"));
    }
}
