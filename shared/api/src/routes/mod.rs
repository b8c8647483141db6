//! The API's routes, one file per resource (the model is mini-redis's `src/cmd/`): each handler
//! reads its request strictly, calls the jobs or the store, and answers JSON.

pub(crate) mod dead_letters;
pub(crate) mod deletions;
pub(crate) mod hosts;
pub(crate) mod jobs;
pub(crate) mod maintenance;
pub mod metrics;
pub(crate) mod plan;
pub(crate) mod schedule;
pub(crate) mod settings;
pub(crate) mod webhook;
