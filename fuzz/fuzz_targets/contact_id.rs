//! Any path segment as an `aiContactId`: accepted only in canonical form, and then it
//! renders back as the same UUID in lower case.
#![no_main]

use contactd::model::ContactId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(id) = ContactId::parse(text) {
            assert_eq!(id.to_string(), text.to_ascii_lowercase());
        }
    }
});
