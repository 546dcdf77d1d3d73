//! Embeds the sources config in the Worker: `config/sources.toml` at the repository root, or the
//! file named by `ICEPIPE_SOURCES` at build time. It is validated by this crate's tests (and by
//! the Worker at start), with errors naming the offending key.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=ICEPIPE_SOURCES");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let source = match std::env::var("ICEPIPE_SOURCES") {
        Ok(path) if !path.is_empty() => PathBuf::from(path),
        _ => manifest.join("../../config/sources.toml"),
    };
    println!("cargo:rerun-if-changed={}", source.display());
    let text = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("cannot read the sources config {}: {e}", source.display()));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("sources.toml");
    std::fs::write(&out, text).expect("write OUT_DIR/sources.toml");
}
