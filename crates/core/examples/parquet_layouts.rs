//! Writes the raw Parquet fixtures of the end-to-end layout checks into a directory:
//! `<layout>.parquet` for each legacy layout other writers produce (see
//! `tests/support/layouts.rs`), and `overstated_rows.parquet`, a file whose footer claims more
//! rows than its pages hold.
//!
//!     cargo run -p icepipe-core --example parquet_layouts -- <out-dir>

#[path = "../tests/support/layouts.rs"]
mod layouts;

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: parquet_layouts <out-dir>"),
    );
    std::fs::create_dir_all(&dir).expect("create the output directory");
    for layout in layouts::legacy_layouts() {
        let path = dir.join(format!("{}.parquet", layout.name));
        std::fs::write(&path, layout.parquet()).expect("write a fixture");
        println!("{}\t{}", path.display(), layout.written_by);
    }
    let damaged = layouts::overstate_rows(&layouts::flat().parquet(), 1, 2);
    let path = dir.join("overstated_rows.parquet");
    std::fs::write(&path, damaged).expect("write a fixture");
    println!(
        "{}\tfooter claims 2 more rows in row group 1 than its pages hold",
        path.display()
    );
}
