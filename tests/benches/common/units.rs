//! The reference list of Bắc Giang's units (1 province, 10 districts, 192 communes), read
//! from the team's folder beside the checkout (`../shared/data/bacgiang_units.json`) when
//! it is there: benchmarks measure the real tree, and the list is never copied into the repo.

/// The Bắc Giang list as JSON, or `None` on a machine without the team's folder.
pub fn bacgiang_units() -> Option<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/bacgiang_units.json");
    std::fs::read_to_string(path).ok()
}
