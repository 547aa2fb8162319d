//! contactd: a self-hosted server for the contact-info endpoint of a customer-messaging
//! platform's public API, over one bundled SQLite file.
//!
//! The arrows go one way: `http` and `fixtures` use `store` and `model`; `store` uses
//! `model`; `model` uses neither. `webhooks` (the sender) uses `store` and `model`.
//! `background` is used by both for threads that yield to the API. `journal` and
//! `faults` (SPEC 12) are in memory and use `model` only. `live_demo` drives the demo
//! data through `store`'s writer. `cli` wires them together.

pub mod api_key;
pub mod background;
pub mod cli;
pub mod faults;
pub mod fixture_generator;
pub mod fixtures;
pub mod http;
pub mod journal;
pub mod live_demo;
pub mod model;
pub mod progress;
pub mod store;
pub mod webhooks;
