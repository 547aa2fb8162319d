//! Faults on demand's HTTP side (SPEC 12.2): the rules under `/api/sandbox/faults`, and
//! their use on the way to a handler.

use actix_web::dev::ServiceRequest;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::value::RawValue;

use super::answer::{self, plain_json};
use super::auth::{self, ApiKey, KeyCheck};
use super::body::{self, fields};
use super::error::ApiError;
use super::journal::{is_journaled, is_recorded};
use super::limits::RequestLimits;
use super::params::{Problems, path_id};
use super::worker::WorkerContext;
use crate::faults::{FaultRule, Faults, Injection, MAX_DELAY_MS, MAX_RULES_PER_CLIENT};
use crate::model::{FaultId, Members};

pub const COLLECTION_ROUTE: &str = "/api/sandbox/faults";
pub const ITEM_ROUTE: &str = "/api/sandbox/faults/{id}";

const METHODS: [&str; 5] = ["GET", "HEAD", "POST", "PUT", "DELETE"];

/// The rule that applies to `req`, after its delay: the first of its client's rules that
/// matches. Costs one atomic load while no client has a rule.
pub async fn apply(req: &ServiceRequest) -> Option<Injection> {
    let faults = req.app_data::<web::Data<Faults>>()?;
    if !faults.any() || !is_recorded(req.path()) {
        return None;
    }
    let owner = auth::owner_of_request(req.request())?;
    if is_journaled(req.request()) {
        req.extensions_mut().insert(KeyCheck::Valid(owner));
    }
    let route = req.match_pattern();
    let injection = faults.take(&owner.client, route.as_deref(), req.method().as_str())?;
    if !injection.delay.is_zero() {
        actix_web::rt::time::sleep(injection.delay).await;
    }
    Some(injection)
}

/// 201 with the rule and its id; 400 naming every bad field, or the limit of rules.
pub async fn create(
    req: HttpRequest,
    key: ApiKey,
    payload: web::Payload,
    worker: web::Data<WorkerContext>,
    faults: web::Data<Faults>,
    limits: web::Data<RequestLimits>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|s| key.client(s))?;
    let members = body::json_object(&req, payload, &limits).await?;
    let rule = read_rule(members).map_err(ApiError::Validation)?;
    let fault = faults.add(client, rule).ok_or_else(|| {
        ApiError::Validation(vec![format!(
            "faults: a client may have at most {MAX_RULES_PER_CLIENT} rules; delete one first"
        )])
    })?;
    Ok(plain_json(HttpResponse::Created(), &fault))
}

/// 200 with the key's client's rules, in the order they are tried.
pub async fn list(
    key: ApiKey,
    worker: web::Data<WorkerContext>,
    faults: web::Data<Faults>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|s| key.client(s))?;
    Ok(plain_json(HttpResponse::Ok(), &faults.list(&client)))
}

/// 200 `{"status":"deleted","id"}`; 400 for a bad id, 404 for an unknown one or
/// another client's.
pub async fn delete(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
    faults: web::Data<Faults>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|s| key.client(s))?;
    let id = path_id(&req, "id", FaultId::parse)?;
    if !faults.remove(&client, &id) {
        return Err(ApiError::FaultNotFound);
    }
    Ok(plain_json(
        HttpResponse::Ok(),
        &Deleted {
            status: "deleted",
            id,
        },
    ))
}

/// 200 `{"status":"ok","deleted":N}`: the key's client has no rule left.
pub async fn clear(
    key: ApiKey,
    worker: web::Data<WorkerContext>,
    faults: web::Data<Faults>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|s| key.client(s))?;
    let deleted = faults.clear(&client);
    Ok(plain_json(
        HttpResponse::Ok(),
        &answer::Cleared::of(deleted),
    ))
}

#[derive(serde::Serialize)]
struct Deleted {
    status: &'static str,
    id: FaultId,
}

fn read_rule(members: Members) -> Result<FaultRule, Vec<String>> {
    let [route, method, status, delay, probability, times] = fields(
        members,
        [
            "route",
            "method",
            "status",
            "delay_ms",
            "probability",
            "times",
        ],
        true,
    );
    let mut p = Problems::default();
    let route = p.check(route.map_or(Ok("*".to_owned()), |v| route_of(&v)));
    let method = p.check(method.map_or(Ok("*".to_owned()), |v| method_of(&v)));
    let status = p.check(status.map_or(Ok(None), |v| {
        integer("status", &v, 400, 599).map(|s| Some(s as u16))
    }));
    let delay_ms = p.check(delay.map_or(Ok(0), |v| {
        integer("delay_ms", &v, 0, i64::from(MAX_DELAY_MS)).map(|d| d as u32)
    }));
    let probability = p.check(probability.map_or(Ok(1.0), |v| chance(&v)));
    let times = p.check(times.map_or(Ok(None), |v| {
        integer("times", &v, 1, i64::from(u32::MAX)).map(|t| Some(t as u32))
    }));
    if let (Some(None), Some(0)) = (status, delay_ms) {
        p.0.push("status or delay_ms: at least one of them must be provided".to_owned());
    }
    match (route, method, status, delay_ms, probability, times) {
        (
            Some(route),
            Some(method),
            Some(status),
            Some(delay_ms),
            Some(probability),
            Some(times),
        ) if p.0.is_empty() => Ok(FaultRule {
            route,
            method,
            status,
            delay_ms,
            probability,
            times,
        }),
        _ => Err(p.0),
    }
}

fn route_of(value: &RawValue) -> Result<String, String> {
    let route = serde_json::from_str::<String>(value.get())
        .map_err(|_| "route must be a string".to_owned())?;
    if route == "*" || super::RECORDED_ROUTES.contains(&route.as_str()) {
        Ok(route)
    } else {
        Err(format!(
            "route must be * or one of the following values: {}",
            super::RECORDED_ROUTES.join(", ")
        ))
    }
}

fn method_of(value: &RawValue) -> Result<String, String> {
    let method = serde_json::from_str::<String>(value.get())
        .map_err(|_| "method must be a string".to_owned())?
        .to_ascii_uppercase();
    if method == "*" || METHODS.contains(&method.as_str()) {
        Ok(method)
    } else {
        Err(format!(
            "method must be * or one of the following values: {}",
            METHODS.join(", ")
        ))
    }
}

/// A JSON integer (not a string of digits, not a fraction) in `min..=max`.
fn integer(name: &str, value: &RawValue, min: i64, max: i64) -> Result<i64, String> {
    let n = serde_json::from_str::<i64>(value.get())
        .map_err(|_| format!("{name} must be an integer number"))?;
    if n < min {
        return Err(format!("{name} must not be less than {min}"));
    }
    if n > max {
        return Err(format!("{name} must not be greater than {max}"));
    }
    Ok(n)
}

fn chance(value: &RawValue) -> Result<f64, String> {
    let p = serde_json::from_str::<f64>(value.get())
        .map_err(|_| "probability must be a number".to_owned())?;
    if !(0.0..=1.0).contains(&p) {
        return Err("probability must be a number from 0 to 1".to_owned());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(json: &str) -> Members {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_bad_field_is_named_and_the_defaults_fill_the_rest() {
        let problems = read_rule(members(
            r#"{"route":"/nope","method":"PATCH","status":"500","delay_ms":30001,
                "probability":2,"times":0}"#,
        ))
        .unwrap_err();
        assert_eq!(problems.len(), 6, "{problems:?}");
        assert!(problems[0].starts_with("route must be * or one of"));
        assert_eq!(problems[2], "status must be an integer number");
        assert_eq!(problems[3], "delay_ms must not be greater than 30000");
        assert_eq!(problems[4], "probability must be a number from 0 to 1");
        assert_eq!(problems[5], "times must not be less than 1");
        let rule = read_rule(members(r#"{"status":503,"method":"get"}"#)).unwrap();
        assert_eq!(
            rule,
            FaultRule {
                route: "*".to_owned(),
                method: "GET".to_owned(),
                status: Some(503),
                delay_ms: 0,
                probability: 1.0,
                times: None,
            }
        );
        assert_eq!(
            read_rule(members(r#"{"status":null,"times":3}"#)).unwrap_err(),
            ["status or delay_ms: at least one of them must be provided"]
        );
        assert_eq!(
            read_rule(members(r#"{"status":302}"#)).unwrap_err(),
            ["status must not be less than 400"]
        );
    }
}
