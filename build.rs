//! Rebuilds the crate when a file is added to or removed from `templates/`: `include_dir!`
//! (`src/templates.rs`) notices changes to the files it embedded, not new ones.

fn main() {
    println!("cargo:rerun-if-changed=templates");
}
