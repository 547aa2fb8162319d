//! Reading a write's body field by field (SPEC 7): every problem noted, each starting
//! with its field's name; `null` counts as absent; unknown keys are ignored.

use serde_json::value::RawValue;

use super::params::Problems;
use crate::model::{Members, MetadataPatch, Phone, abbreviate, snake_case};

/// A body's fields, taken one by one by the route's reader.
pub(super) struct BodyFields {
    members: Vec<(String, Box<RawValue>)>,
    problems: Problems,
}

/// Reads one field's value: the problem, without the name, when it is wrong.
pub(super) type Read<T> = fn(&RawValue) -> Result<T, String>;

impl BodyFields {
    pub(super) fn new(members: Members) -> Self {
        Self {
            members: members.0,
            problems: Problems::default(),
        }
    }

    /// The field's value (the last, if the key was sent twice), `null` as absent.
    fn raw(&mut self, name: &str) -> Option<Box<RawValue>> {
        let at = self.members.iter().rposition(|(key, _)| key == name)?;
        Some(self.members.swap_remove(at).1).filter(|v| v.get() != "null")
    }

    /// A field that must be given; `None` after noting its problem.
    pub(super) fn required<T>(&mut self, name: &str, read: Read<T>) -> Option<T> {
        match self.raw(name) {
            None => {
                self.note(format!("{name} should not be empty"));
                None
            }
            Some(value) => self.read(name, &value, read),
        }
    }

    /// A field that may be left out: `Some(None)` then, `None` when it is wrong.
    pub(super) fn optional<T>(&mut self, name: &str, read: Read<T>) -> Option<Option<T>> {
        match self.raw(name) {
            None => Some(None),
            Some(value) => self.read(name, &value, read).map(Some),
        }
    }

    fn read<T>(&mut self, name: &str, value: &RawValue, read: Read<T>) -> Option<T> {
        match read(value) {
            Ok(v) => Some(v),
            Err(rule) => {
                self.note(format!("{name} {rule}"));
                None
            }
        }
    }

    /// Notes a problem in the reader's own words.
    pub(super) fn note(&mut self, problem: String) {
        self.problems.0.push(problem);
    }

    /// The request `build` makes, when no problem was noted; every problem otherwise.
    pub(super) fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Vec<String>> {
        if self.problems.0.is_empty()
            && let Some(request) = build()
        {
            return Ok(request);
        }
        Err(self.problems.0)
    }
}

pub(super) fn string(value: &RawValue) -> Result<String, String> {
    serde_json::from_str(value.get()).map_err(|_| "must be a string".to_owned())
}

/// A string of 1 to `MAX` characters.
pub(super) fn text<const MAX: usize>(value: &RawValue) -> Result<String, String> {
    let text = string(value)?;
    match text.chars().count() {
        0 => Err("should not be empty".into()),
        n if n > MAX => Err(format!("must be at most {MAX} characters (it has {n})")),
        _ => Ok(text),
    }
}

pub(super) fn boolean(value: &RawValue) -> Result<bool, String> {
    match value.get() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be a boolean".into()),
    }
}

/// A UUID in its canonical form.
pub(super) fn uuid<T>(value: &RawValue, parse: fn(&str) -> Option<T>) -> Result<T, String> {
    serde_json::from_str::<String>(value.get())
        .ok()
        .and_then(|s| parse(&s))
        .ok_or_else(|| "must be a UUID".into())
}

/// A phone given as a string with at least one digit.
pub(super) fn phone(value: &RawValue) -> Result<Phone, String> {
    let text = serde_json::from_str::<String>(value.get())
        .map_err(|_| "must be a string of digits".to_owned())?;
    Phone::parse(&text).ok_or_else(|| "must contain at least one digit".into())
}

/// A phone given as a string, or as a JSON number of digits (a whole, non-negative
/// number written without exponent or sign).
pub(super) fn phone_or_number(value: &RawValue) -> Result<Phone, String> {
    let text = value.get();
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Phone::parse(text).ok_or_else(|| "must contain at least one digit".into());
    }
    if !text.starts_with('"') {
        return Err("must be a string or a number of digits".into());
    }
    phone(value)
}

/// An e-mail address: one `@` between a local part and a domain of dotted labels, no
/// spaces, at most 254 characters.
pub(super) fn email(value: &RawValue) -> Result<String, String> {
    let text = string(value)?;
    let valid = text.len() <= 254
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        && text.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && domain.split('.').all(|label| {
                    !label.is_empty() && !label.starts_with('-') && !label.ends_with('-')
                })
        });
    if valid {
        Ok(text)
    } else {
        Err(format!(
            "must be an email address, not {}",
            abbreviate(&format!("{text:?}"))
        ))
    }
}

/// A JSON object's members.
pub(super) fn object(value: &RawValue) -> Result<Members, String> {
    value
        .get()
        .starts_with('{')
        .then(|| serde_json::from_str::<Members>(value.get()).ok())
        .flatten()
        .ok_or_else(|| "must be an object".into())
}

/// An object merged as 7.5 merges: keys in snake_case (none empty once so).
pub(super) fn snake_case_object(value: &RawValue) -> Result<MetadataPatch, String> {
    let mut patch = MetadataPatch::default();
    for (key, value) in object(value)?.0 {
        let stored = snake_case(&key);
        if stored.is_empty() {
            return Err(format!(
                "key {} is empty once written in snake_case",
                abbreviate(&format!("{key:?}"))
            ));
        }
        patch.insert(stored, &value);
    }
    Ok(patch)
}

/// An object merged with its keys as sent.
pub(super) fn object_as_sent(value: &RawValue) -> Result<MetadataPatch, String> {
    let mut patch = MetadataPatch::default();
    for (key, value) in object(value)?.0 {
        patch.insert(key, &value);
    }
    Ok(patch)
}

/// An object of strings, keys as sent (7.6).
pub(super) fn string_object(value: &RawValue) -> Result<MetadataPatch, String> {
    let mut patch = MetadataPatch::default();
    let mut wrong = Vec::new();
    for (key, value) in object(value)
        .map_err(|_| "must be an object of strings".to_owned())?
        .0
    {
        if value.get().starts_with('"') {
            patch.insert(key, &value);
        } else {
            wrong.push(abbreviate(&format!("{key:?}")));
        }
    }
    if wrong.is_empty() {
        Ok(patch)
    } else {
        Err(format!(
            "values must be strings; not so for {}",
            wrong.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn phones_need_a_digit_and_numbers_are_taken_only_where_allowed() {
        assert_eq!(phone(&raw(r#""+56 9 1234""#)).unwrap().stored(), "+5691234");
        assert!(phone(&raw(r#""n/a""#)).unwrap_err().contains("digit"));
        assert!(phone(&raw("56912")).is_err());
        assert_eq!(phone_or_number(&raw("56912")).unwrap().digits(), "56912");
        assert!(phone_or_number(&raw("-5")).is_err());
        assert!(phone_or_number(&raw("5e3")).is_err());
        assert!(phone_or_number(&raw("true")).is_err());
    }

    #[test]
    fn emails_are_addresses() {
        for good in ["a@b.co", "first.last+tag@mail.example.org"] {
            assert!(email(&raw(&format!("{good:?}"))).is_ok(), "{good}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@b@c.co", "a b@c.co", "a@.co", "a@b..co",
        ] {
            assert!(email(&raw(&format!("{bad:?}"))).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_bounds_count_characters() {
        assert_eq!(text::<3>(&raw(r#""añb""#)).unwrap(), "añb");
        assert_eq!(
            text::<3>(&raw(r#""abcd""#)).unwrap_err(),
            "must be at most 3 characters (it has 4)"
        );
        assert_eq!(text::<3>(&raw(r#""""#)).unwrap_err(), "should not be empty");
    }
}
