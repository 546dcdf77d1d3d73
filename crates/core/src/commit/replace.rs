//! The `replace` write disposition: which objects of a call may commit, and which replace load the
//! table's state comes from.
//!
//! The table's replace load is carried forward by the ledger (which outlives snapshot history)
//! and named in every snapshot summary icepipe commits ([`REPLACE_LOAD_PROPERTY`]): the overwrite
//! that applies a load sets it, later appends carry it forward. A load id sorts by time, so an
//! older load than the table's is superseded and never committed; the newest replace load among
//! the objects of one call wins over the others.

use std::collections::HashSet;

use iceberg::spec::TableMetadata;

use super::ledger::TableHoldings;
use crate::raw::object::RawObjectId;
use crate::raw::summary::REPLACE_LOAD_PROPERTY;

/// Snapshots still in the metadata whose summary names `load` (the ledger adds those expired).
pub fn summary_snapshots_of_load(metadata: &TableMetadata, load: &str) -> HashSet<i64> {
    metadata
        .snapshots()
        .filter(|s| {
            s.summary()
                .additional_properties
                .get(REPLACE_LOAD_PROPERTY)
                .is_some_and(|l| l == load)
        })
        .map(|s| s.snapshot_id())
        .collect()
}

/// One object offered for a commit: `replace_load` is `Some(load id)` for a replace object.
#[derive(Debug, Clone, Copy)]
pub struct Offered<'a> {
    pub id: &'a RawObjectId,
    pub replace_load: Option<&'a str>,
}

/// An object left out because a newer replace load wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superseded {
    pub index: usize,
    pub load: String,
    pub by_load: String,
}

/// What becomes of the offered objects on top of one table state (indices into the offer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Triage {
    /// Appends and the objects of the winning replace load, not yet in the table.
    pub fresh: Vec<usize>,
    /// Objects the table already holds.
    pub present: Vec<usize>,
    pub superseded: Vec<Superseded>,
    /// The replace load the commit applies (an overwrite), when `fresh` has objects of one.
    pub replace_load: Option<String>,
}

/// Sorts `offered` on top of a table state: `held` says which of them it holds, `table_load` is
/// the replace load its rows come from.
pub fn triage(held: &TableHoldings, table_load: Option<&str>, offered: &[Offered<'_>]) -> Triage {
    let newest_offered = offered
        .iter()
        .filter(|o| !held.contains(o.id))
        .filter_map(|o| o.replace_load)
        .max();
    // An offered load older than the table's loses to it; otherwise the newest offered one wins.
    let winner = match (newest_offered, table_load) {
        (Some(offered), Some(table)) if offered < table => table,
        (Some(offered), _) => offered,
        (None, _) => "",
    };
    let mut triage = Triage::default();
    for (index, object) in offered.iter().enumerate() {
        if held.contains(object.id) {
            triage.present.push(index);
            continue;
        }
        match object.replace_load {
            None => triage.fresh.push(index),
            Some(load) if load == winner => {
                triage.fresh.push(index);
                triage.replace_load = Some(load.to_string());
            }
            Some(load) => triage.superseded.push(Superseded {
                index,
                load: load.to_string(),
                by_load: winner.to_string(),
            }),
        }
    }
    triage
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(key: &str) -> RawObjectId {
        RawObjectId {
            key: key.into(),
            etag: "e".into(),
        }
    }

    #[test]
    fn the_newest_offered_load_wins_and_appends_go_along() {
        let ids = [id("a1"), id("b1"), id("x"), id("b2")];
        let offered = [
            Offered {
                id: &ids[0],
                replace_load: Some("20261124T080000000Z-aaaaaaaa"),
            },
            Offered {
                id: &ids[1],
                replace_load: Some("20261124T090000000Z-bbbbbbbb"),
            },
            Offered {
                id: &ids[2],
                replace_load: None,
            },
            Offered {
                id: &ids[3],
                replace_load: Some("20261124T090000000Z-bbbbbbbb"),
            },
        ];
        let t = triage(&TableHoldings::default(), None, &offered);
        assert_eq!(t.fresh, [1, 2, 3]);
        assert_eq!(
            t.superseded,
            [Superseded {
                index: 0,
                load: "20261124T080000000Z-aaaaaaaa".into(),
                by_load: "20261124T090000000Z-bbbbbbbb".into(),
            }]
        );
        assert_eq!(
            t.replace_load.as_deref(),
            Some("20261124T090000000Z-bbbbbbbb")
        );
    }

    #[test]
    fn appends_alone_apply_no_replace_load() {
        let x = id("x");
        let t = triage(
            &TableHoldings::default(),
            None,
            &[Offered {
                id: &x,
                replace_load: None,
            }],
        );
        assert_eq!((t.fresh, t.replace_load), (vec![0], None));
    }
}
