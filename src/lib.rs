//! Portico: a self-hosted membership and onboarding server.

pub mod api;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod downloads;
pub mod flows;
pub mod http_error;
pub mod i18n;
pub mod mail;
pub mod metrics;
pub mod server;
pub mod state;
pub mod store;
pub mod stripe;
pub mod web;
pub mod write_deadline;
