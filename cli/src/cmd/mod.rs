//! The API commands, one file per command group (the model is mini-redis's `src/cmd/`): each
//! turns its arguments into API calls through [`crate::client::ApiClient`] and prints the answer
//! as a table, or as JSON with `--json`.

pub mod deletions;
pub mod dlq;
pub mod hosts;
pub mod jobs;
pub mod maintenance;
pub mod netbox;
pub mod plan;
pub mod schedule;
pub mod settings;
pub mod tokens;
pub mod ui;
