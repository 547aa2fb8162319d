//! Query strings read by hand, so that every bad parameter is reported at once, each in
//! the hosted API's words (`days must not be greater than 365`).

use std::borrow::Cow;

use crate::journal::JournalQuery;
use crate::model::{
    ContactListQuery, ContactSearch, CustomField, DeliveryQuery, DeliveryStatus, EntityType,
    PipelineId, StageId, Timestamp, Topic, WebhookId, phone_digits,
};

/// The decoded parameters of one query string, in order.
pub struct Params<'q> {
    pairs: Vec<(Cow<'q, str>, Cow<'q, str>)>,
}

impl<'q> Params<'q> {
    pub fn parse(query: &'q str) -> Self {
        Self {
            pairs: form_urlencoded::parse(query.as_bytes()).collect(),
        }
    }

    /// The value of `name`: `Ok(None)` when absent, an error when given more than once.
    fn get(&self, name: &str) -> Result<Option<&str>, String> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == name);
        match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some((_, v)), None) => Ok(Some(v.as_ref())),
            (Some(_), Some(_)) => Err(format!("{name} must be given only once")),
        }
    }
}

/// Collects problems while typed values are read: of query parameters here, of body
/// fields in the write handlers.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<String>);

impl Problems {
    /// The value, or `None` with its problem noted.
    pub(super) fn check<T>(&mut self, result: Result<T, String>) -> Option<T> {
        result.map_err(|p| self.0.push(p)).ok()
    }

    fn read<T>(
        &mut self,
        params: &Params<'_>,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match params.get(name) {
            Ok(None) => None,
            Ok(Some(value)) => match parse(value) {
                Ok(v) => Some(v),
                Err(rule) => {
                    self.0.push(format!("{name} {rule}"));
                    None
                }
            },
            Err(message) => {
                self.0.push(message);
                None
            }
        }
    }
}

/// An integer in `min..=max`, written as plain decimal digits.
fn integer(value: &str, min: i64, max: i64) -> Result<i64, String> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be an integer number".to_owned());
    }
    // Too many digits for i64 is out of range one way or the other.
    let n = value.parse::<i64>().unwrap_or(if value.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    });
    if n < min {
        return Err(format!("must not be less than {min}"));
    }
    if n > max {
        return Err(format!("must not be greater than {max}"));
    }
    Ok(n)
}

/// An RFC 3339 instant. A `+` sent unencoded arrives as a space: it is read as `+`.
fn timestamp(value: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(&value.replace(' ', "+"))
        .map_err(|_| "must be a valid ISO 8601 date string with a time zone (RFC 3339)".to_owned())
}

fn uuid<T>(parse: fn(&str) -> Option<T>) -> impl FnOnce(&str) -> Result<T, String> {
    move |value| parse(value).ok_or_else(|| "must be a UUID".to_owned())
}

fn not_empty(value: &str) -> Result<String, String> {
    if value.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(value.to_owned())
    }
}

/// `GET /api/public/contacts` (SPEC 7.1); `now` anchors `days`.
pub fn contact_list(params: &Params<'_>, now: Timestamp) -> Result<ContactListQuery, Vec<String>> {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let mut p = Problems::default();
    // Given at all, even more than once (that is its own problem, reported by `read`).
    let given = |name: &str| params.pairs.iter().any(|(k, _)| k == name);
    let days = p.read(params, "days", |v| integer(v, 1, 365));
    let created_after = p.read(params, "created_after", timestamp);
    let updated_after = p.read(params, "updated_after", timestamp);
    if !given("days") && !given("created_after") && !given("updated_after") {
        p.0.push(
            "days, created_after or updated_after: at least one of them must be provided"
                .to_owned(),
        );
    }
    let limit = p.read(params, "limit", |v| integer(v, 1, 1000));
    let offset = p.read(params, "offset", |v| integer(v, 0, i64::MAX));
    let stage_id = p.read(params, "stage_id", uuid(StageId::parse));
    let pipeline_id = p.read(params, "pipeline_id", uuid(PipelineId::parse));
    let key = p.read(params, "custom_field_key", not_empty);
    let value = p.read(params, "custom_field_value", not_empty);
    if given("custom_field_key") != given("custom_field_value") {
        p.0.push("custom_field_key and custom_field_value must be provided together".to_owned());
    }
    let entity = p.read(params, "entity_type", |v| match v {
        "customer" => Ok(EntityType::Customer),
        "ticket" => Ok(EntityType::Ticket),
        _ => Err("must be one of the following values: customer, ticket".to_owned()),
    });
    if !p.0.is_empty() {
        return Err(p.0);
    }
    Ok(ContactListQuery {
        last_message_since: days.map(|d| now.shifted(-d * DAY_MS)),
        created_after,
        updated_after,
        stage_id,
        pipeline_id,
        custom_field: key.zip(value).map(|(key, value)| CustomField {
            key,
            value,
            entity: entity.unwrap_or(EntityType::Customer),
        }),
        limit: limit.map_or(100, |l| l as u32),
        offset: offset.map_or(0, |o| o as u64),
    })
}

/// `GET /api/public/contacts/search` (SPEC 7.2): `None` when neither a phone (with a
/// digit) nor an email (not blank) is given.
pub fn contact_search(params: &Params<'_>) -> Option<ContactSearch> {
    // Blank values count as absent, so a repeated parameter counts by its last value
    // that is not blank (`email=ana&email=` searches for "ana").
    let values = |name: &'static str| {
        params
            .pairs
            .iter()
            .rev()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.trim())
    };
    let phone_digits = values("phone").map(phone_digits).find(|d| !d.is_empty());
    let email = values("email")
        .find(|e| !e.is_empty())
        .map(str::to_lowercase);
    (phone_digits.is_some() || email.is_some()).then_some(ContactSearch {
        phone_digits,
        email,
    })
}

/// `GET /api/webhooks/calls` (SPEC 10.4).
pub fn delivery_query(params: &Params<'_>) -> Result<DeliveryQuery, Vec<String>> {
    let mut p = Problems::default();
    let webhook_id = p.read(params, "webhook_id", uuid(WebhookId::parse));
    let status = p.read(params, "status", |v| {
        v.parse::<DeliveryStatus>().map_err(|e| one_of(&e.expected))
    });
    let topic = p.read(params, "topic", |v| {
        v.parse::<Topic>().map_err(|e| one_of(&e.expected))
    });
    let limit = p.read(params, "limit", |v| integer(v, 1, 500));
    let offset = p.read(params, "offset", |v| integer(v, 0, i64::MAX));
    if !p.0.is_empty() {
        return Err(p.0);
    }
    Ok(DeliveryQuery {
        webhook_id,
        status,
        topic,
        limit: limit.map_or(100, |l| l as u32),
        offset: offset.map_or(0, |o| o as u64),
    })
}

/// `GET /api/sandbox/requests` (SPEC 12.1).
pub fn journal_query(params: &Params<'_>) -> Result<JournalQuery, Vec<String>> {
    let mut p = Problems::default();
    let route = p.read(params, "route", |v| {
        if super::RECORDED_ROUTES.contains(&v) {
            Ok(v.to_owned())
        } else {
            Err(one_of(super::RECORDED_ROUTES))
        }
    });
    let method = p.read(params, "method", |v| {
        let method = v.to_ascii_uppercase();
        if ["GET", "HEAD", "POST", "PUT", "DELETE"].contains(&method.as_str()) {
            Ok(method)
        } else {
            Err(one_of(&["GET", "HEAD", "POST", "PUT", "DELETE"]))
        }
    });
    let status = p.read(params, "status", |v| integer(v, 100, 599));
    let since = p.read(params, "since", timestamp);
    let limit = p.read(params, "limit", |v| integer(v, 1, 1000));
    if !p.0.is_empty() {
        return Err(p.0);
    }
    Ok(JournalQuery {
        route,
        method,
        status: status.map(|s| s as u16),
        since,
        limit: limit.map_or(100, |l| l as usize),
    })
}

fn one_of(values: &[&str]) -> String {
    format!("must be one of the following values: {}", values.join(", "))
}

/// `page` of the messages route: a whole number from 1.
pub fn page(params: &Params<'_>) -> Option<u32> {
    let value = params.get("page").ok()??;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u32>().ok().filter(|p| *p >= 1)
}

/// The path segment `name` read by `parse` (a UUID), or 400 `Validation failed (uuid is
/// expected)` as SPEC 1 answers a bad id.
pub(super) fn path_id<T>(
    req: &actix_web::HttpRequest,
    name: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, super::error::ApiError> {
    req.match_info()
        .get(name)
        .and_then(parse)
        .ok_or(super::error::ApiError::InvalidPathId)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(query: &str) -> Result<ContactListQuery, Vec<String>> {
        contact_list(
            &Params::parse(query),
            Timestamp::parse_rfc3339("2024-06-10T00:00:00Z").unwrap(),
        )
    }

    #[test]
    fn every_bad_parameter_is_named_once() {
        let problems =
            list("days=0&limit=1001&offset=-1&stage_id=x&entity_type=lead&custom_field_key=k")
                .unwrap_err();
        assert_eq!(
            problems,
            [
                "days must not be less than 1",
                "limit must not be greater than 1000",
                "offset must not be less than 0",
                "stage_id must be a UUID",
                "custom_field_key and custom_field_value must be provided together",
                "entity_type must be one of the following values: customer, ticket",
            ]
        );
        assert_eq!(
            list("").unwrap_err(),
            ["days, created_after or updated_after: at least one of them must be provided"]
        );
        assert_eq!(
            list("days=").unwrap_err()[0],
            "days must be an integer number"
        );
        assert_eq!(
            list("days=7.5").unwrap_err()[0],
            "days must be an integer number"
        );
        assert_eq!(
            list("days=99999999999999999999").unwrap_err()[0],
            "days must not be greater than 365"
        );
        assert_eq!(
            list("days=7&days=7").unwrap_err(),
            ["days must be given only once"],
            "a repeated parameter was given: no 'at least one of' as well"
        );
    }

    #[test]
    fn a_plus_that_arrived_as_a_space_is_read_as_a_plus() {
        let q = list("created_after=2024-06-01T10:00:00+02:00").unwrap();
        assert_eq!(
            q.created_after.unwrap().to_string(),
            "2024-06-01T08:00:00.000Z"
        );
        let q = list("created_after=2024-06-01T10:00:00%2B02:00&days=7&limit=5&offset=10").unwrap();
        assert_eq!(
            q.created_after.unwrap().to_string(),
            "2024-06-01T08:00:00.000Z"
        );
        assert_eq!(
            q.last_message_since.unwrap().to_string(),
            "2024-06-03T00:00:00.000Z"
        );
        assert_eq!((q.limit, q.offset), (5, 10));
    }

    #[test]
    fn search_ignores_blank_values_and_phones_without_digits() {
        let s = |q: &str| contact_search(&Params::parse(q));
        assert_eq!(s("phone=&email=%20"), None);
        assert_eq!(s("phone=abc"), None);
        let found = s("phone=%2B56%209%201234-5678&email=Ana@Example.COM").unwrap();
        assert_eq!(found.phone_digits.as_deref(), Some("56912345678"));
        assert_eq!(found.email.as_deref(), Some("ana@example.com"));
        let repeated = s("email=ana&email=&phone=569&phone=%20").unwrap();
        assert_eq!(repeated.email.as_deref(), Some("ana"));
        assert_eq!(repeated.phone_digits.as_deref(), Some("569"));
        assert_eq!(s("email=&email=bo").unwrap().email.as_deref(), Some("bo"));
    }

    #[test]
    fn page_is_a_whole_number_from_one() {
        let p = |q: &str| page(&Params::parse(q));
        assert_eq!(p("page=1"), Some(1));
        assert_eq!(p("page=51"), Some(51));
        for bad in [
            "",
            "page=",
            "page=0",
            "page=-1",
            "page=1.5",
            "page=x",
            "page=99999999999",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
