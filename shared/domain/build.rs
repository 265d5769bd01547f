//! Embeds every committed schema (`events/schemas/<name>/v<N>.json`) so consumers can
//! validate each event against the exact version it was written with.

use std::fmt::Write;
use std::path::Path;

fn main() {
    // Read when the script runs, not when it was compiled: cargo reuses one compiled build
    // script for every checkout of the workspace that shares the build directory.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let schemas = Path::new(&manifest_dir).join("../../events/schemas");
    println!("cargo:rerun-if-changed={}", schemas.display());
    let mut entries = Vec::new();
    if let Ok(types) = std::fs::read_dir(&schemas) {
        for type_dir in types.flatten().filter(|e| e.path().is_dir()) {
            println!("cargo:rerun-if-changed={}", type_dir.path().display());
            let name = type_dir.file_name().to_string_lossy().into_owned();
            for file in std::fs::read_dir(type_dir.path()).into_iter().flatten().flatten() {
                let file_name = file.file_name().to_string_lossy().into_owned();
                let Some(version) = file_name.strip_prefix('v').and_then(|v| v.strip_suffix(".json")) else {
                    continue;
                };
                let Ok(version) = version.parse::<u32>() else {
                    continue;
                };
                println!("cargo:rerun-if-changed={}", file.path().display());
                entries.push((name.clone(), version, format!("/../../events/schemas/{name}/{file_name}")));
            }
        }
    }
    entries.sort();
    let mut code = String::from(
        "/// (name, version, schema) of every committed schema.\npub static COMMITTED: &[(&str, u32, &str)] = &[\n",
    );
    // Relative to the crate, not absolute: cargo shares one build directory between
    // checkouts of the same workspace (a copy's build would point this one at the copy).
    for (name, version, path) in entries {
        writeln!(code, "    ({name:?}, {version}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {path:?}))),")
            .expect("write");
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("committed_schemas.rs");
    std::fs::write(out, code).expect("write committed_schemas.rs");
}
