//! JSON objects held as their text: metadata and integration data.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use super::abbreviate;

/// A JSON object kept as its text, so nesting, number precision and unicode pass
/// through untouched instead of being parsed and re-serialised.
#[derive(Debug)]
pub struct JsonObject(Box<RawValue>);

impl JsonObject {
    /// Deepest nesting of objects and arrays accepted (the object itself is level 1).
    /// SQLite's JSON functions stop at 1000; nothing real comes near 64.
    pub const MAX_DEPTH: usize = 64;

    pub fn empty() -> Self {
        Self::parse("{}").unwrap_or_else(|_| unreachable!("{{}} is an object"))
    }

    /// Checks that `text` is one well-formed JSON object.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw = RawValue::from_string(text.to_owned()).map_err(|e| e.to_string())?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: Box<RawValue>) -> Result<Self, String> {
        if raw.get().starts_with('{') {
            let depth = nesting_depth(raw.get());
            if depth > Self::MAX_DEPTH {
                return Err(format!(
                    "nested {depth} levels deep; at most {} levels are allowed",
                    Self::MAX_DEPTH
                ));
            }
            if let Some(path) = lone_surrogate(raw.get()) {
                return Err(format!(
                    "has a lone UTF-16 surrogate at {path}: a \\uD800-\\uDFFF escape \
                     without its pair is not text (JSON readers refuse it)"
                ));
            }
            Ok(Self(raw))
        } else {
            Err(format!(
                "expected a JSON object, got {}",
                abbreviate(raw.get())
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The same object without whitespace between its tokens, everything else as
    /// written: the text the store keeps for it (SQLite's `json()` of well-formed JSON;
    /// a test in `store` holds the two equal). A load into a new database renders its
    /// answers from the records it parsed, and they must be the answers the stored rows
    /// render.
    pub fn compact(&self) -> Self {
        let text = self.as_str();
        let bytes = text.as_bytes();
        if !bytes.iter().any(|b| b.is_ascii_whitespace()) {
            return self.clone();
        }
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    let (end, _) = scan_string(bytes, i + 1);
                    let end = (end + 1).min(bytes.len());
                    out.push_str(&text[i..end]);
                    i = end;
                }
                b' ' | b'\t' | b'\n' | b'\r' => i += 1,
                _ => {
                    // Up to the next quote or whitespace: never inside a character.
                    let run = bytes[i..]
                        .iter()
                        .position(|b| matches!(b, b'"' | b' ' | b'\t' | b'\n' | b'\r'))
                        .map_or(bytes.len(), |n| i + n);
                    out.push_str(&text[i..run]);
                    i = run;
                }
            }
        }
        Self::parse(&out).unwrap_or_else(|e| unreachable!("whitespace removed from JSON: {e}"))
    }

    /// The object's members, in order.
    pub fn members(&self) -> Members {
        serde_json::from_str(self.as_str())
            .unwrap_or_else(|e| unreachable!("a JsonObject holds one well-formed object: {e}"))
    }
}

/// A JSON object's members in their order, duplicates included, each value as its text.
#[derive(Debug)]
pub struct Members(pub Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

/// An already-parsed value, checked without parsing or copying it again.
impl TryFrom<Box<RawValue>> for JsonObject {
    type Error = String;

    fn try_from(raw: Box<RawValue>) -> Result<Self, String> {
        Self::from_raw(raw)
    }
}

impl Clone for JsonObject {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl PartialEq for JsonObject {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for JsonObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Self::from_raw(raw).map_err(serde::de::Error::custom)
    }
}

/// How deeply objects and arrays nest in the JSON `text` (brackets inside strings do
/// not count).
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Where in the well-formed JSON `text` a string or key holds a `\\uXXXX` escape of a
/// UTF-16 surrogate without its pair (`a.b[2]`; `(top)` for the value itself), if
/// anywhere. Raw text is kept as sent, so such an escape would be served back, and then
/// no strict reader (serde_json, jq) could read the answer.
pub fn lone_surrogate(text: &str) -> Option<String> {
    if !text.contains("\\u") {
        return None;
    }
    enum Frame<'t> {
        Object { key: &'t str, at_key: bool },
        Array { index: usize },
    }
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => stack.push(Frame::Object {
                key: "",
                at_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { at_key, .. }) => *at_key = true,
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b':' => {
                if let Some(Frame::Object { at_key, .. }) = stack.last_mut() {
                    *at_key = false;
                }
            }
            b'"' => {
                let (end, whole) = scan_string(bytes, i + 1);
                if let Some(Frame::Object { key, at_key: true }) = stack.last_mut() {
                    *key = &text[i + 1..end];
                }
                if !whole {
                    return Some(path_of(&stack));
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    return None;

    fn path_of(stack: &[Frame<'_>]) -> String {
        let mut path = String::new();
        for frame in stack {
            match frame {
                Frame::Object { key, .. } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Frame::Array { index } => path.push_str(&format!("[{index}]")),
            }
        }
        if path.is_empty() {
            path.push_str("(top)");
        }
        path
    }
}

/// Scans a string whose text starts at `start` (after its opening quote): the index of
/// its closing quote, and whether every surrogate escape in it has its pair.
fn scan_string(bytes: &[u8], start: usize) -> (usize, bool) {
    let hex = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u16::from_str_radix(h, 16).ok())
    };
    let mut whole = true;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return (i, whole),
            b'\\' if bytes.get(i + 1) == Some(&b'u') => {
                let unit = hex(i + 2).unwrap_or(0);
                i += 6;
                if (0xD800..0xDC00).contains(&unit) {
                    let low = (bytes.get(i) == Some(&b'\\') && bytes.get(i + 1) == Some(&b'u'))
                        .then(|| hex(i + 2))
                        .flatten();
                    if low.is_some_and(|low| (0xDC00..0xE000).contains(&low)) {
                        i += 6;
                    } else {
                        whole = false;
                    }
                } else if (0xDC00..0xE000).contains(&unit) {
                    whole = false;
                }
                continue;
            }
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    (i, whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_object_keeps_its_text_and_refuses_other_values() {
        let text = r#"{"n":12345678901234567890123,"s":"Pérez ☕","a":[1,{"b":null}]}"#;
        let obj = JsonObject::parse(text).unwrap();
        assert_eq!(serde_json::to_string(&obj).unwrap(), text);
        let deep = |levels: usize| format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels));
        assert!(JsonObject::parse(&deep(JsonObject::MAX_DEPTH)).is_ok());
        let err = JsonObject::parse(&deep(JsonObject::MAX_DEPTH + 1)).unwrap_err();
        assert!(err.contains("at most 64 levels"), "{err}");
        assert!(JsonObject::parse(r#"{"s":"[[[[{{{{\\"}"#).is_ok());
        for bad in ["[]", "1", "null", "\"x\"", "{", ""] {
            assert!(JsonObject::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn compact_removes_whitespace_between_tokens_only() {
        let text = "{ \"a b\" :\t[ 1 ,\n\"x \\\" y\" ] ,\r\n \"c\": { } }";
        let compact = JsonObject::parse(text).unwrap().compact();
        assert_eq!(compact.as_str(), r#"{"a b":[1,"x \" y"],"c":{}}"#);
        let already = r#"{"n":1.50e3,"s":"\u00e9"}"#;
        assert_eq!(
            JsonObject::parse(already).unwrap().compact().as_str(),
            already
        );
    }

    #[test]
    fn lone_surrogates_are_found_with_their_path_and_pairs_pass() {
        let found = |text: &str| lone_surrogate(text);
        assert_eq!(found(r#"{"s":"\ud800"}"#).as_deref(), Some("s"));
        assert_eq!(found(r#"{"s":"ok \udc00 no"}"#).as_deref(), Some("s"));
        assert_eq!(
            found(r#"{"a":{"b":[1,"x","\uD83D"]}}"#).as_deref(),
            Some("a.b[2]")
        );
        assert_eq!(found(r#"{"k\ud800":1}"#).as_deref(), Some(r"k\ud800"));
        assert_eq!(found(r#"{"s":"\ud800\u0041"}"#).as_deref(), Some("s"));
        assert_eq!(found(r#"{"s":"end \ud800"}"#).as_deref(), Some("s"));
        for fine in [
            r#"{"s":"\ud83d\ude00 \u00e9 \\ud800"}"#,
            r#"{"s":"plain", "t":"\"\\"}"#,
            r#"{"a":[{"b":"\uD83D\uDE00"}]}"#,
        ] {
            assert_eq!(found(fine), None, "{fine}");
        }
        let refused = JsonObject::parse(r#"{"ok":1,"s":"\ud800"}"#).unwrap_err();
        assert!(refused.contains("lone UTF-16 surrogate at s"), "{refused}");
    }
}
