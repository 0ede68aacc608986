//! Integration tests: each starts the real server binary on port 0 against a tempdir store
//! and talks HTTP to it.

mod abuse;
mod access;
mod access_matrix;
mod backup;
mod batch;
mod catalogue;
mod cli;
mod codes;
mod console;
mod full_disk;
mod helpers;
mod hostile;
mod http_consistency;
mod issuance;
mod lifecycle;
mod logs_and_config;
mod metrics;
mod one_binary;
mod one_licence;
mod openapi;
mod permit_photo;
mod photo;
mod plausible_values;
mod printed_id;
mod qr_reading;
mod real_enterprises;
mod restart;
mod secrets;
mod submission_flow;
mod trust;
mod uploads;
mod validation;
mod verdicts;
mod verification;
mod verifier_bombs;
