//! One integration test binary: every test starts the real `contactd` over a SQLite file
//! in its own temp folder and talks to it over HTTP or its command line.

mod bulk_load;
mod cache;
mod cli;
mod commands;
mod console;
mod conversation;
mod endpoint;
mod family;
mod fault_rules;
mod faults;
mod fixtures;
mod helpers;
mod isolation;
mod journal;
mod keys;
mod limits;
mod openapi;
mod ops;
mod progress;
mod read_model;
mod receiver;
mod webhooks;
mod write_consistency;
mod writes;
