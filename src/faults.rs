//! Faults on demand (SPEC 12.2): a client's rules that delay its requests or answer them
//! with an error instead of the real answer. Kept in memory, like the journal: they are
//! a test's setup, gone with the process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;

use crate::model::{ClientId, FaultId};

/// Rules one client may keep at a time: a test suite that forgets to delete its rules
/// learns it from a 400 instead of slowing every request down.
pub const MAX_RULES_PER_CLIENT: usize = 100;
pub const MAX_DELAY_MS: u32 = 30_000;

/// What a rule matches and what it does, as the client wrote it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultRule {
    /// A route template, or `*` for every route.
    pub route: String,
    /// An upper-case method, or `*` for every method.
    pub method: String,
    /// The status answered instead of the real answer; `None` only delays.
    pub status: Option<u16>,
    pub delay_ms: u32,
    /// The chance, from 0 to 1, that a match is answered with `status`.
    pub probability: f64,
    /// Matches before the rule ends; `None` for no end.
    pub times: Option<u32>,
}

/// A stored rule, as the API shows it: `{"id", …the rule}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    pub id: FaultId,
    #[serde(flatten)]
    pub rule: FaultRule,
}

/// What happens to one matched request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injection {
    pub fault: FaultId,
    pub delay: Duration,
    /// The status to answer with, when the draw said so.
    pub status: Option<u16>,
}

struct Held {
    client: ClientId,
    fault: Fault,
    /// Matches left; `None` for no end.
    left: Option<u32>,
}

#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<Held>>,
    /// Rules held, of every client: read without the lock on every request, so a
    /// server with no rules pays one atomic load.
    count: AtomicUsize,
}

impl Faults {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether any client has a rule.
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Adds a rule after `client`'s others; `None` when it has [`MAX_RULES_PER_CLIENT`].
    pub fn add(&self, client: ClientId, rule: FaultRule) -> Option<Fault> {
        let mut rules = self.lock();
        if rules.iter().filter(|h| h.client == client).count() >= MAX_RULES_PER_CLIENT {
            return None;
        }
        let fault = Fault {
            id: FaultId::new_random(),
            rule,
        };
        rules.push(Held {
            client,
            left: fault.rule.times,
            fault: fault.clone(),
        });
        self.count.store(rules.len(), Ordering::Relaxed);
        Some(fault)
    }

    /// `client`'s rules, oldest first: the order in which they are tried.
    pub fn list(&self, client: &ClientId) -> Vec<Fault> {
        self.lock()
            .iter()
            .filter(|h| h.client == *client)
            .map(|h| h.fault.clone())
            .collect()
    }

    /// Removes one of `client`'s rules; false when it has none of that id.
    pub fn remove(&self, client: &ClientId, id: &FaultId) -> bool {
        self.remove_where(|h| h.client == *client && h.fault.id == *id) > 0
    }

    /// Removes every rule of `client`; the number removed.
    pub fn clear(&self, client: &ClientId) -> usize {
        self.remove_where(|h| h.client == *client)
    }

    /// The first of `client`'s rules that matches `route` (the request's route template,
    /// `None` when no route matched) and `method`, counted as a match; the draw against
    /// its probability decides whether it answers. A rule whose matches are used up
    /// ends here.
    pub fn take(&self, client: &ClientId, route: Option<&str>, method: &str) -> Option<Injection> {
        let mut rules = self.lock();
        let at = rules.iter().position(|h| {
            h.client == *client
                && (h.fault.rule.route == "*" || Some(h.fault.rule.route.as_str()) == route)
                && (h.fault.rule.method == "*" || h.fault.rule.method == method)
        })?;
        let held = &mut rules[at];
        let rule = &held.fault.rule;
        let injection = Injection {
            fault: held.fault.id,
            delay: Duration::from_millis(u64::from(rule.delay_ms)),
            status: rule
                .status
                .filter(|_| rule.probability >= 1.0 || fastrand::f64() < rule.probability),
        };
        if let Some(left) = held.left.as_mut() {
            *left -= 1;
            if *left == 0 {
                rules.remove(at);
                self.count.store(rules.len(), Ordering::Relaxed);
            }
        }
        Some(injection)
    }

    fn remove_where(&self, gone: impl Fn(&Held) -> bool) -> usize {
        let mut rules = self.lock();
        let before = rules.len();
        rules.retain(|h| !gone(h));
        self.count.store(rules.len(), Ordering::Relaxed);
        before - rules.len()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Held>> {
        // Every change above is complete before anything that could panic.
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(route: &str, method: &str, status: Option<u16>, times: Option<u32>) -> FaultRule {
        FaultRule {
            route: route.to_owned(),
            method: method.to_owned(),
            status,
            delay_ms: 0,
            probability: 1.0,
            times,
        }
    }

    #[test]
    fn a_rule_with_times_ends_after_that_many_matches() {
        let faults = Faults::new();
        let client = ClientId::new_random();
        let fault = faults
            .add(client, rule("/r/{id}", "GET", Some(503), Some(2)))
            .unwrap();
        assert!(faults.any());
        for _ in 0..2 {
            let taken = faults.take(&client, Some("/r/{id}"), "GET").unwrap();
            assert_eq!((taken.fault, taken.status), (fault.id, Some(503)));
        }
        assert_eq!(faults.take(&client, Some("/r/{id}"), "GET"), None);
        assert!(!faults.any());
    }

    #[test]
    fn rules_match_their_client_route_and_method_only() {
        let faults = Faults::new();
        let (a, b) = (ClientId::new_random(), ClientId::new_random());
        faults.add(a, rule("/r", "POST", Some(500), None)).unwrap();
        assert_eq!(faults.take(&b, Some("/r"), "POST"), None);
        assert_eq!(faults.take(&a, Some("/r"), "GET"), None);
        assert_eq!(faults.take(&a, Some("/other"), "POST"), None);
        assert_eq!(faults.take(&a, None, "POST"), None);
        assert!(faults.take(&a, Some("/r"), "POST").is_some());
        faults.add(b, rule("*", "*", None, None)).unwrap();
        assert!(faults.take(&b, None, "DELETE").is_some());
        assert_eq!(faults.clear(&a), 1);
        assert_eq!(faults.list(&b).len(), 1);
    }

    #[test]
    fn the_probability_decides_how_many_matches_answer() {
        let faults = Faults::new();
        let client = ClientId::new_random();
        let mut half = rule("*", "*", Some(500), None);
        half.probability = 0.5;
        faults.add(client, half).unwrap();
        let answered = (0..2000)
            .filter(|_| faults.take(&client, None, "GET").unwrap().status.is_some())
            .count();
        assert!((800..1200).contains(&answered), "{answered} of 2000");
        let mut never = rule("*", "*", Some(500), None);
        never.probability = 0.0;
        let other = ClientId::new_random();
        faults.add(other, never).unwrap();
        assert!((0..100).all(|_| faults.take(&other, None, "GET").unwrap().status.is_none()));
    }

    #[test]
    fn a_client_keeps_a_bounded_number_of_rules() {
        let faults = Faults::new();
        let client = ClientId::new_random();
        for _ in 0..MAX_RULES_PER_CLIENT {
            faults.add(client, rule("*", "*", Some(500), None)).unwrap();
        }
        assert!(
            faults
                .add(client, rule("*", "*", Some(500), None))
                .is_none()
        );
        assert!(
            faults
                .add(ClientId::new_random(), rule("*", "*", Some(500), None))
                .is_some()
        );
        let first = faults.list(&client)[0].id;
        assert!(faults.remove(&client, &first));
        assert!(!faults.remove(&client, &first));
    }
}
