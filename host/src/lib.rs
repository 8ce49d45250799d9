//! Wicket: just-in-time access to Kubernetes, decided by WebAssembly policies.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod dev;
pub mod domain;
pub mod embedded;
pub mod guard;
pub mod policy;
pub mod private_fs;
pub mod store;
pub mod workflow;
