//! A slice of a raw object, as icepipe's continuation messages name it (see
//! `crate::convert::slicing` for how objects too large for one invocation are planned).

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// One slice of a raw object: its place in the plan and the row groups it converts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSlice {
    pub index: u32,
    pub count: u32,
    /// Row groups `[start, end)` of the raw file.
    pub row_groups: [usize; 2],
}

impl ObjectSlice {
    pub fn row_groups(&self) -> Range<usize> {
        self.row_groups[0]..self.row_groups[1]
    }
}
