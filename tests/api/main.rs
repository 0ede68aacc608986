//! Integration tests: each starts the real server binary on port 0 against a tempdir store
//! and talks HTTP to it.

mod access;
mod cli;
mod helpers;
mod issuance;
mod restart;
mod submission_flow;
mod uploads;
mod validation;
mod verification;
