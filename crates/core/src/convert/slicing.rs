//! Raw objects too large for one Worker invocation are converted in slices of row groups, each in
//! its own invocation; the object commits once, when every slice has been handed over.
//!
//! The plan is a pure function of the footer and the budget, so every delivery of an object plans
//! the same slices and a slice converted twice writes the same files.

use std::ops::Range;

use parquet::file::metadata::ParquetMetaData;

pub use crate::raw::slice::ObjectSlice;

/// Bytes of each row group as stored (compressed): what a conversion reads and decodes.
pub fn row_group_bytes(metadata: &ParquetMetaData) -> Vec<u64> {
    metadata
        .row_groups()
        .iter()
        .map(|rg| rg.compressed_size().max(0) as u64)
        .collect()
}

/// Splits row groups into consecutive slices of at most `max_bytes` each (a row group larger
/// than that is a slice of its own). One slice means the object fits one invocation.
pub fn plan_slices(row_group_bytes: &[u64], max_bytes: u64) -> Vec<ObjectSlice> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, size) in row_group_bytes.iter().enumerate() {
        if i > start && bytes + size > max_bytes {
            ranges.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    ranges.push(start..row_group_bytes.len());
    let count = ranges.len() as u32;
    ranges
        .into_iter()
        .enumerate()
        .map(|(index, r)| ObjectSlice {
            index: index as u32,
            count,
            row_groups: [r.start, r.end],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each slice's row groups as (start, end).
    fn ranges(slices: &[ObjectSlice]) -> Vec<(usize, usize)> {
        slices
            .iter()
            .map(|s| (s.row_groups().start, s.row_groups().end))
            .collect()
    }

    #[test]
    fn a_small_object_is_one_slice() {
        let plan = plan_slices(&[10, 20, 30], 100);
        assert_eq!(ranges(&plan), [(0, 3)]);
        assert_eq!((plan[0].index, plan[0].count), (0, 1));
    }

    #[test]
    fn row_groups_are_packed_up_to_the_budget() {
        let plan = plan_slices(&[40, 40, 40, 40, 40], 100);
        assert_eq!(ranges(&plan), [(0, 2), (2, 4), (4, 5)]);
        assert!(plan.iter().all(|s| s.count == 3));
        assert_eq!(plan[2].index, 2);
    }

    #[test]
    fn an_oversized_row_group_is_a_slice_of_its_own() {
        let plan = plan_slices(&[10, 500, 10, 10], 100);
        assert_eq!(ranges(&plan), [(0, 1), (1, 2), (2, 4)]);
    }

    #[test]
    fn a_file_without_row_groups_is_one_empty_slice() {
        assert_eq!(ranges(&plan_slices(&[], 100)), [(0, 0)]);
    }

    #[test]
    fn the_plan_round_trips_in_a_message() {
        let slice = plan_slices(&[40, 40, 40], 50).remove(1);
        let json = serde_json::to_string(&slice).unwrap();
        assert_eq!(json, r#"{"index":1,"count":3,"rowGroups":[1,2]}"#);
        assert_eq!(serde_json::from_str::<ObjectSlice>(&json).unwrap(), slice);
    }
}
