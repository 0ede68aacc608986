//! onetrip: 最多跑一次. Materials are pre-reviewed online; at the window a clerk confirms by
//! SHA-256 that the files brought in are the pre-reviewed ones (核对制); the approvals of several
//! departments come out as one signed certificate (多报合一, 一企一证) that anyone can verify.

pub mod body;
pub mod cli;
pub mod config;
pub mod domain;
pub mod metrics;
pub mod offline;
pub mod pages;
pub mod render;
pub mod routes;
pub mod server;
pub mod service;
pub mod signing;
pub mod store;
pub mod templates;
