//! The pure domain of netbox-zabbix-jobs. Everything the product decides lives here, with no I/O:
//! job records and their state machine, allowed intervals, the single-instance scheduling rules,
//! the clock abstraction and configuration parsing. Adapters (stores, queues, HTTP) depend on this
//! crate, never the other way round.

#[macro_use]
mod names {
    /// Declares a string-like enum with its canonical names, `Display`, `FromStr` and `ALL`.
    macro_rules! named_enum {
        ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
            $(#[$meta])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
            pub enum $name { $(#[serde(rename = $text)] $variant),+ }

            impl $name {
                pub const ALL: &'static [$name] = &[$($name::$variant),+];
                pub fn as_str(self) -> &'static str {
                    match self { $($name::$variant => $text),+ }
                }
            }

            impl std::fmt::Display for $name {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
            }

            impl std::str::FromStr for $name {
                type Err = $crate::job::UnknownName;
                fn from_str(s: &str) -> Result<Self, Self::Err> {
                    $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| $crate::job::UnknownName {
                        what: stringify!($name),
                        given: s.to_string(),
                        known: $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    })
                }
            }
        };
    }
}

pub mod actual;
pub mod breaker;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod desired;
pub mod host_config;
pub mod host_failure;
pub mod host_fields;
pub mod interfaces;
pub mod interval;
pub mod job;
pub mod last_write;
pub mod maintenance;
pub mod netbox;
pub mod overrides;
pub mod plan;
pub mod retry;
pub mod schedule;
pub mod scope_filter;
pub mod secret;
pub mod settings;
pub mod sync;
pub mod sync_schedule;
pub mod template;
pub mod tokens;
pub mod variables;
pub mod write_back;
pub mod zabbix_cache;

pub use clock::{Clock, ManualClock, SystemClock};
pub use interval::Interval;
pub use job::{
    JobId, JobKind, JobLog, JobName, JobOrigin, JobRecord, JobStatus, LogEntry, LogLevel, SystemJob, Trigger,
};
pub use schedule::{ScheduleEntry, SkipReason, TriggerDecision};
pub use secret::Secret;
