//! Host jobs (CreateHost, UpdateHost, DeleteHost) and the convergence they share with
//! SyncHostsNow. Whatever the job's name, the work is the same: compute what the host should be,
//! read what it is (one `host.get` by the managed tag), and write the difference. So a job
//! delivered three times, or an update that arrives before its create, converges.
//!
//! - `converge.rs`: the policy: create, update, adopt a brownfield host;
//! - `duplicates.rs`: every read of managed hosts, repairing an object found with several;
//! - `delete.rs`: deletion per the delete policy (hard, or soft into the graveyard), held back by
//!   an active maintenance window;
//! - `breaker.rs`: room in the deletion window before any deletion, or the deletion is held;
//! - `purge.rs`: the optional purge of graveyard hosts older than `graveyard_purge_days`;
//! - `restore.rs`: a graveyard host brought back instead of a new one created (history survives);
//! - `keep.rs`: objects without an address keep (or disable) their host, never lose it;
//! - `groups.rs`: host group ids, creating missing groups;
//! - `secrets.rs`: the secret store's values of what hosts name, and their hash;
//! - `outcome.rs`: what converging did, as a message and in the host config;
//! - `job.rs`: a host job's record keeping around one convergence;
//! - `leases.rs`: the leases of the jobs a worker runs, kept alive while it runs them.
//!
//! The Zabbix wire format is `nzj_zabbix`'s; nothing here names a Zabbix field.

mod breaker;
mod converge;
mod delete;
mod duplicates;
mod groups;
mod job;
mod keep;
mod leases;
mod outcome;
mod purge;
mod restore;
mod secrets;

pub use breaker::admit_deletions;
pub use converge::{HostConverger, HostUpdate};
pub use duplicates::{FoundHosts, RepairNote};
pub use job::{HostJobs, RoundJob, RunResult};
pub use outcome::{HostAction, HostOutcome};
pub use purge::Purged;
pub use secrets::{HostSecrets, secrets_drift};
