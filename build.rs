// Migrations are embedded at compile time; without this, adding a .sql file would
// not rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
