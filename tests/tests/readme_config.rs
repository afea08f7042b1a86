//! The README's configuration table is the operator's reference: it must
//! name every environment variable the code reads (`config::ENV_VARS`), with
//! the same default, so the two cannot drift apart silently.

use portal_core::config::ENV_VARS;

#[test]
fn readme_lists_every_env_var_with_its_default() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md at the repo root");
    let mut missing = Vec::new();
    for (name, default, _) in ENV_VARS {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")));
        match row {
            None => missing.push(format!("{name}: no row")),
            Some(row) if !default.is_empty() && !row.contains(&format!("`{default}`")) => {
                missing.push(format!("{name}: default `{default}` not in `{row}`"))
            }
            Some(_) => {}
        }
    }
    assert!(
        missing.is_empty(),
        "README configuration table is stale: {missing:#?}"
    );
}
