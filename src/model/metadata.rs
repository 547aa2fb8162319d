//! Metadata writes (SPEC 7.5, 7.6): the keys as they are stored, and the shallow merge
//! of what is sent into what is stored.

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::{ContactId, JsonObject, TicketId};

/// The largest metadata a write may leave behind, as compact UTF-8 JSON.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

/// Keys and values to write into a metadata object, in order of first appearance, each
/// key once (a later value for a key replaces the earlier one in its place).
#[derive(Debug, Default)]
pub struct MetadataPatch {
    entries: Vec<(String, Box<RawValue>)>,
    /// Where each key sits in `entries`: a body may send many thousands of keys.
    positions: HashMap<String, usize>,
}

impl MetadataPatch {
    /// Adds `key` with `value` (normalised): appended when new, replacing the value in
    /// place when the key came before.
    pub fn insert(&mut self, key: String, value: &RawValue) {
        self.put(key, normalized(value));
    }

    /// `insert` of a value that is compact already.
    fn put(&mut self, key: String, value: Box<RawValue>) {
        match self.positions.get(&key) {
            Some(&at) => self.entries[at].1 = value,
            None => {
                self.positions.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The keys and their final values, in order of first appearance.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), &**v))
    }
}

/// Which ticket a ticket-metadata write (SPEC 7.6) is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketTarget {
    Ticket(TicketId),
    Contact(ContactId),
    /// The contact whose phone has exactly these digits (the most recent of several).
    PhoneDigits(String),
}

/// Why a merge was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum MergeError {
    /// The merged object would be `bytes` long, over [`MAX_METADATA_BYTES`].
    TooLarge { bytes: usize },
}

impl JsonObject {
    /// This object with `patch` merged in at the top level: keys sent replace the stored
    /// ones in place, new keys follow in order, every other key stays as it is.
    pub fn merged(&self, patch: &MetadataPatch) -> Result<Self, MergeError> {
        // Both sides are compact already: stored objects are kept minified, and a
        // patch minifies what it is given.
        let mut merged = MetadataPatch::default();
        for (key, value) in self.members().0 {
            merged.put(key, value);
        }
        for (key, value) in &patch.entries {
            merged.put(key.clone(), value.clone());
        }
        let mut text = String::from("{");
        for (i, (key, value)) in merged.entries().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&serde_json::to_string(key).unwrap_or_else(|_| unreachable!()));
            text.push(':');
            text.push_str(value.get());
        }
        text.push('}');
        if text.len() > MAX_METADATA_BYTES {
            return Err(MergeError::TooLarge { bytes: text.len() });
        }
        // Each value nests no deeper than in the two objects it came from, and both
        // held to the limit, so this cannot fail on depth.
        Self::parse(&text).map_err(|e| unreachable!("a merge of two objects: {e}"))
    }
}

/// `value` as compact UTF-8 JSON, the form the size limit measures (SPEC 7.5): no
/// whitespace between tokens; strings and keys with only the escapes JSON requires
/// (`\\u00e9` becomes `é`); numbers exactly as written; in every nested object a key
/// sent more than once kept once, in its first place, with its last value (as the top
/// level's keys are merged).
fn normalized(value: &RawValue) -> Box<RawValue> {
    let mut out = String::with_capacity(value.get().len());
    match write_normalized(value, &mut out) {
        Ok(()) => RawValue::from_string(out)
            .unwrap_or_else(|e| unreachable!("normalised JSON is JSON: {e}")),
        // Only a string that is not text (a lone surrogate, refused earlier) fails to
        // decode; keep such a value as it came rather than lose it.
        Err(_) => value.to_owned(),
    }
}

fn write_normalized(value: &RawValue, out: &mut String) -> serde_json::Result<()> {
    let text = value.get();
    match text.as_bytes().first() {
        Some(b'{') => {
            let members = serde_json::from_str::<super::Members>(text)?.0;
            let mut merged = MetadataPatch::default();
            for (key, value) in members {
                merged.put(key, value);
            }
            out.push('{');
            for (i, (key, value)) in merged.entries().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key)?);
                out.push(':');
                write_normalized(value, out)?;
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            out.push('[');
            for (i, item) in items.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_normalized(item, out)?;
            }
            out.push(']');
        }
        Some(b'"') => {
            let decoded: String = serde_json::from_str(text)?;
            out.push_str(&serde_json::to_string(&decoded)?);
        }
        // Numbers, true, false, null: their text, which has no whitespace inside.
        _ => out.push_str(text),
    }
    Ok(())
}

/// A metadata key as SPEC 7.5 stores it, in snake_case: a word starts at an upper-case
/// letter after a lower-case letter or a digit, and at the last upper-case letter of a
/// run that a lower-case letter follows (`HTTPServer` → `http_server`); a digit never
/// starts a word; runs of spaces, `-`, `.` and `_` are one `_`, and none lead or trail;
/// letters are lower-cased by Unicode's rules. Other characters are kept.
pub fn snake_case(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::with_capacity(key.len());
    let mut separated = false;
    for (i, &c) in chars.iter().enumerate() {
        if is_separator(c) {
            separated = true;
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let starts_word = c.is_uppercase()
            && match prev {
                Some(p) if p.is_lowercase() || p.is_numeric() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(char::is_lowercase),
                _ => false,
            };
        if (separated || starts_word) && !out.is_empty() {
            out.push('_');
        }
        separated = false;
        out.extend(c.to_lowercase());
    }
    out
}

fn is_separator(c: char) -> bool {
    matches!(c, '-' | '.' | '_') || c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_snake_case_as_spec_shows() {
        for (sent, stored) in [
            ("companyName", "company_name"),
            ("Lead Score", "lead_score"),
            ("HTTPServer", "http_server"),
            ("employee-count", "employee_count"),
            ("custom_field_1", "custom_field_1"),
            ("address2", "address2"),
            ("company_name", "company_name"),
        ] {
            assert_eq!(snake_case(sent), stored, "{sent}");
        }
    }

    #[test]
    fn snake_case_edge_cases() {
        for (sent, stored) in [
            // Acronyms: a run of capitals is one word up to the capital before a
            // lower-case letter.
            ("userID", "user_id"),
            ("parseJSONBody", "parse_json_body"),
            ("ID", "id"),
            ("getHTTP2Response", "get_http2_response"),
            // Digits join the word before them; a capital after one starts a word.
            ("address2Line", "address2_line"),
            ("2fa", "2fa"),
            ("line 2", "line_2"),
            ("v1.2.3", "v1_2_3"),
            // Separators: runs collapse, ends go.
            ("  --lead__score..  ", "lead_score"),
            ("_private", "private"),
            ("a - b", "a_b"),
            ("tab\there", "tab_here"),
            // Unicode letters are letters.
            ("Ñandú Rojo", "ñandú_rojo"),
            ("númeroDeCliente", "número_de_cliente"),
            ("ÉCOLE", "école"),
            ("ΣΟΦΙΑ", "σοφια"),
            ("日本語キー", "日本語キー"),
            // Other characters stay.
            ("price($)", "price($)"),
            ("a@b", "a@b"),
            // Empty once converted.
            ("", ""),
            ("--", ""),
            (" . _ ", ""),
        ] {
            assert_eq!(snake_case(sent), stored, "{sent:?}");
        }
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn a_patch_keeps_first_positions_and_last_values() {
        let mut patch = MetadataPatch::default();
        patch.insert("a".into(), &raw("1"));
        patch.insert("b".into(), &raw(r#"{ "x" : [ 1 , "a b" ] }"#));
        patch.insert("a".into(), &raw("null"));
        let entries: Vec<_> = patch.entries().map(|(k, v)| (k, v.get())).collect();
        assert_eq!(entries, [("a", "null"), ("b", r#"{"x":[1,"a b"]}"#)]);
    }

    #[test]
    fn merge_replaces_in_place_appends_new_keys_and_keeps_the_rest_verbatim() {
        let stored =
            JsonObject::parse(r#"{"keep":1e400,"swap":"old","nested":{"deep":[1,2]}}"#).unwrap();
        let mut patch = MetadataPatch::default();
        patch.insert("swap".into(), &raw(r#""new""#));
        patch.insert("added".into(), &raw("null"));
        patch.insert("quote\"d".into(), &raw(r#""é""#));
        let merged = stored.merged(&patch).unwrap();
        assert_eq!(
            merged.as_str(),
            r#"{"keep":1e400,"swap":"new","nested":{"deep":[1,2]},"added":null,"quote\"d":"é"}"#
        );
        assert_eq!(
            stored.merged(&MetadataPatch::default()).unwrap(),
            stored,
            "an empty patch changes nothing"
        );
    }

    #[test]
    fn merge_refuses_a_result_over_the_bound() {
        let stored = JsonObject::empty();
        let mut patch = MetadataPatch::default();
        // {"k":"…"}: 8 bytes around the string.
        let fits = format!(r#""{}""#, "x".repeat(MAX_METADATA_BYTES - 8));
        patch.insert("k".into(), &raw(&fits));
        assert_eq!(
            stored.merged(&patch).unwrap().as_str().len(),
            MAX_METADATA_BYTES
        );
        let over = format!(r#""{}""#, "é".repeat(MAX_METADATA_BYTES / 2));
        patch.insert("k".into(), &raw(&over));
        assert_eq!(
            stored.merged(&patch),
            Err(MergeError::TooLarge {
                bytes: MAX_METADATA_BYTES + 8
            })
        );
    }

    #[test]
    fn values_are_stored_normalised_numbers_exact_and_nested_keys_once() {
        let raw = |t: &str| RawValue::from_string(t.to_owned()).unwrap();
        let mut patch = MetadataPatch::default();
        patch.insert(
            "v".into(),
            &raw(r#"{ "b": 1, "s": "caf\u00e9 \"q\" \n \ud83d\ude00", "b": [ 2 , 1.50 ], "n": { "x": 1, "x": 1e400 } }"#),
        );
        let (_, stored) = patch.entries().next().unwrap();
        assert_eq!(
            stored.get(),
            r#"{"b":[2,1.50],"s":"café \"q\" \n 😀","n":{"x":1e400}}"#
        );
    }
}
