//! Encodes the leaf columns of a row group: natively across the machine's cores (each Parquet
//! column writer is independent: its values, dictionary, pages and compression), on wasm32 one
//! after another (a Worker has one thread).
//!
//! Work is handed out a column at a time from a shared queue, so a heavy column (free text) and
//! several light ones (ints) balance across threads without a cost model.

use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn};
use parquet::errors::Result;

/// Writes `leaves[i]` to `writers[i]`.
pub fn write_leaves(writers: &mut [ArrowColumnWriter], leaves: &[ArrowLeafColumn]) -> Result<()> {
    debug_assert_eq!(writers.len(), leaves.len());
    let jobs: Vec<_> = writers.iter_mut().zip(leaves).collect();
    for_each(jobs, |(writer, leaf)| writer.write(leaf))
        .into_iter()
        .collect()
}

/// Closes every writer (its last page and dictionary get encoded and compressed here), in order.
pub fn close_writers(writers: Vec<ArrowColumnWriter>) -> Result<Vec<ArrowColumnChunk>> {
    for_each(writers, ArrowColumnWriter::close)
        .into_iter()
        .collect()
}

/// `job` applied to every item, results in the items' order.
#[cfg(not(target_arch = "wasm32"))]
fn for_each<T: Send, R: Send>(items: Vec<T>, job: impl Fn(T) -> R + Sync) -> Vec<R> {
    use std::sync::Mutex;

    let threads = threads().min(items.len());
    if threads <= 1 {
        return items.into_iter().map(job).collect();
    }
    let count = items.len();
    let queue = Mutex::new(items.into_iter().enumerate());
    let results = Mutex::new((0..count).map(|_| None).collect::<Vec<Option<R>>>());
    let work = || loop {
        // The lock is held only to take the next item, never while encoding.
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
        let Some((index, item)) = next else { break };
        let result = job(item);
        results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(result);
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|result| result.expect("every queued column was encoded"))
        .collect()
}

#[cfg(target_arch = "wasm32")]
fn for_each<T, R>(items: Vec<T>, job: impl Fn(T) -> R) -> Vec<R> {
    items.into_iter().map(job).collect()
}

/// Threads to encode with: the cores this process may use (`ICEPIPE_ENCODE_THREADS` overrides,
/// e.g. 1 to measure the single-threaded path the Worker runs).
#[cfg(not(target_arch = "wasm32"))]
fn threads() -> usize {
    use std::sync::OnceLock;

    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("ICEPIPE_ENCODE_THREADS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}
