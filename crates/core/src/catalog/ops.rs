//! How many catalog operations a client made, by kind: R2 Data Catalog bills per operation and
//! rate-limits writes, so batch lines and `GET /tables` say what each table cost.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Live counters of one client (shared by its clones).
#[derive(Debug, Default)]
pub struct CatalogOps {
    loads: AtomicU64,
    commits: AtomicU64,
    creates: AtomicU64,
    namespace_reads: AtomicU64,
    namespace_writes: AtomicU64,
    lists: AtomicU64,
}

/// The kinds of operation counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogOp {
    LoadTable,
    /// `updateTable` (a commit request, whatever its answer).
    Commit,
    CreateTable,
    NamespaceRead,
    NamespaceWrite,
    List,
}

/// A reading of the counters; the difference of two readings is what happened in between.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    pub loads: u64,
    pub commits: u64,
    pub creates: u64,
    pub namespace_reads: u64,
    pub namespace_writes: u64,
    pub lists: u64,
}

impl CatalogOps {
    pub fn count(&self, op: CatalogOp) {
        let counter = match op {
            CatalogOp::LoadTable => &self.loads,
            CatalogOp::Commit => &self.commits,
            CatalogOp::CreateTable => &self.creates,
            CatalogOp::NamespaceRead => &self.namespace_reads,
            CatalogOp::NamespaceWrite => &self.namespace_writes,
            CatalogOp::List => &self.lists,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(&self) -> OpCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        OpCounts {
            loads: get(&self.loads),
            commits: get(&self.commits),
            creates: get(&self.creates),
            namespace_reads: get(&self.namespace_reads),
            namespace_writes: get(&self.namespace_writes),
            lists: get(&self.lists),
        }
    }
}

impl OpCounts {
    /// What was counted since `earlier`.
    pub fn since(&self, earlier: &OpCounts) -> OpCounts {
        OpCounts {
            loads: self.loads - earlier.loads,
            commits: self.commits - earlier.commits,
            creates: self.creates - earlier.creates,
            namespace_reads: self.namespace_reads - earlier.namespace_reads,
            namespace_writes: self.namespace_writes - earlier.namespace_writes,
            lists: self.lists - earlier.lists,
        }
    }

    /// Writes, which the catalog rate-limits.
    pub fn writes(&self) -> u64 {
        self.commits + self.creates + self.namespace_writes
    }

    pub fn add(&mut self, other: &OpCounts) {
        self.loads += other.loads;
        self.commits += other.commits;
        self.creates += other.creates;
        self.namespace_reads += other.namespace_reads;
        self.namespace_writes += other.namespace_writes;
        self.lists += other.lists;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_subtract_to_what_happened_between() {
        let ops = CatalogOps::default();
        ops.count(CatalogOp::LoadTable);
        let before = ops.read();
        ops.count(CatalogOp::LoadTable);
        ops.count(CatalogOp::Commit);
        ops.count(CatalogOp::NamespaceWrite);
        let delta = ops.read().since(&before);
        assert_eq!((delta.loads, delta.commits, delta.writes()), (1, 1, 2));
    }
}
