//! Any text given as a fixture file: parsing and validation return problems, never panic.
#![no_main]

use contactd::fixtures::{self, FixtureSource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let source = FixtureSource {
            name: "fuzz.json".to_owned(),
            text: text.to_owned(),
        };
        for problem in fixtures::validate(&[source]) {
            // Every problem names the file and a JSON path.
            assert!(problem.path.starts_with('$'), "{problem}");
        }
    }
});
