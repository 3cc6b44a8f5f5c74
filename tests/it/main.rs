//! The integration tests: one binary (linking the crate once), one module per area. Each test
//! starts the real server on an ephemeral port against a fresh database: a SQLite file, or a
//! fresh PostgreSQL schema when `PORTICO_TEST_BACKEND=postgres` (see `common`).

mod common;

mod access;
mod account;
mod api_orgs;
mod audit;
mod cli;
mod erasure;
mod export;
mod import;
mod invitations;
mod mail;
mod members;
mod memory;
mod oidc;
pub(crate) mod operating;
mod overview;
mod password_reset;
mod payments;
mod plans;
mod reliability;
mod retention;
mod second_factors;
mod security;
mod settings;
mod signup;
mod staff_accounts;
mod staff_console;
mod stripe_lifecycle;
mod web_auth;
mod webhooks;
