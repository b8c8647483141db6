//! The pure domain of netbox-zabbix-jobs. Everything the product decides lives here, with no I/O:
//! job records and their state machine, allowed intervals, the single-instance scheduling rules,
//! the clock abstraction and configuration parsing. Adapters (stores, queues, HTTP) depend on this
//! crate, never the other way round.

pub mod clock;
pub mod config;
pub mod interval;
pub mod job;
pub mod schedule;
pub mod secret;

pub use clock::{Clock, ManualClock, SystemClock};
pub use interval::Interval;
pub use job::{
    JobId, JobKind, JobLog, JobName, JobOrigin, JobRecord, JobStatus, LogEntry, LogLevel,
    SystemJob, Trigger,
};
pub use schedule::{ScheduleEntry, SkipReason, TriggerDecision};
pub use secret::Secret;
