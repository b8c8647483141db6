//! `nzj`: `nzj serve` runs the whole product in one process on an embedded store; the other
//! commands talk to its HTTP API (or to a deployment's, with `--endpoint`).

#[macro_use]
mod out;
mod client;
mod cmd;
mod serve;
mod sigv4;
mod table;
mod when;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "nzj", version, about = "Keeps Zabbix monitoring in step with NetBox")]
struct Cli {
    #[command(flatten)]
    target: client::ApiTarget,
    /// Print JSON instead of tables (for scripts)
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: the scheduler and the HTTP API, on the embedded store
    Serve {
        /// Address to listen on [env: NZJ_LISTEN; default 127.0.0.1:8080]
        #[arg(long)]
        listen: Option<String>,
        /// A TOML file with NZJ_* settings; the environment wins over it
        #[arg(long, env = "NZJ_CONFIG")]
        config: Option<PathBuf>,
    },
    /// The jobs page for a deployment (`--endpoint`), on loopback: API calls signed with your AWS
    /// credentials (or `--token`); prints the address to open
    Ui {
        /// Loopback address to serve the page on (port 0: any free port)
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
    },
    /// List and inspect job records
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Managed hosts and whether they are in sync
    Hosts {
        #[command(subcommand)]
        command: HostsCommand,
    },
    /// Deletions the breaker held: list them, release (run) or discard (keep the hosts) them
    Deletions {
        #[command(subcommand)]
        command: DeletionsCommand,
    },
    /// Dead letters: the host and bulk messages given up on, with their jobs and errors
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// API tokens for `nzj serve`, each with a name and a role (viewer, operator, admin)
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Maintenance windows in Zabbix, by host, host group or NetBox site
    Maintenance {
        #[command(subcommand)]
        command: MaintenanceCommand,
    },
    /// What a settings change (FIELD VALUE pairs, as for `settings set`) or a sync with the
    /// current settings (no pairs) would do to the hosts; changes nothing
    Plan {
        #[arg(num_args = 0.., value_names = ["FIELD", "VALUE"])]
        pairs: Vec<String>,
        /// List the changes after this object (printed at the end of a full page)
        #[arg(long)]
        after: Option<String>,
    },
    /// Show and change settings and mappings
    Settings {
        #[command(subcommand)]
        command: SettingsCommand,
    },
    /// Show and change when the system jobs run
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// NetBox's side: custom fields, webhook and event rule for the product
    Netbox {
        #[command(subcommand)]
        command: NetboxCommand,
    },
}

#[derive(Subcommand)]
enum NetboxCommand {
    /// Create or update, idempotently, what NetBox needs: the write-back custom fields, the
    /// webhook (with NZJ_WEBHOOK_SECRET) and the event rule; uses NZJ_NETBOX_URL and NZJ_NETBOX_TOKEN
    Setup {
        /// Where NetBox sends webhooks: nzj serve's `http(s)://HOST:PORT/webhook/netbox`, or the
        /// stack's WebhookUrl output
        #[arg(long, required_unless_present = "stack", conflicts_with = "stack")]
        webhook_url: Option<String>,
        /// The deployed stack whose `WebhookUrl` output is the webhook URL (AWS credentials and
        /// region from the usual places)
        #[arg(long)]
        stack: Option<String>,
        /// Report what is missing or different, change nothing (exit 1 when something differs)
        #[arg(long)]
        check: bool,
        /// A TOML file with NZJ_* settings; the environment wins over it
        #[arg(long, env = "NZJ_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Newest first, filtered by name, kind, status, time range, user, object or trigger
    Ls(cmd::jobs::JobFilters),
    /// One job with its log
    Show { id: String },
    /// Run a failed or stalled job again, as a new job linked to it (refused while the job, its
    /// object or the system job has one pending or running)
    Retry { id: String },
    /// Run a system job or SyncHostsNow now; waits for it (a sync with a progress bar) and shows its result
    Run {
        name: String,
        /// Return as soon as the job is started
        #[arg(long)]
        no_wait: bool,
        /// SyncHostsNow only: show what it would do (from the stored NetBox state), run nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum HostsCommand {
    /// Host configs in NetBox object order
    Ls {
        /// Only hosts found out of sync at their last check
        #[arg(long)]
        out_of_sync: bool,
        /// Only hosts whose last job failed, with the error, Zabbix's error and a hint
        #[arg(long)]
        failed: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One host config with its difference, e.g. `nzj hosts show dcim.device/123`
    Show { object: String },
    /// Bring hosts to NetBox's current state now: one host job per object
    Sync {
        #[arg(required = true)]
        objects: Vec<String>,
    },
    /// Run a host job again for every host whose last job failed (or for the objects given)
    Retry {
        objects: Vec<String>,
        #[arg(long, required_unless_present = "objects")]
        failed: bool,
    },
}

#[derive(Subcommand)]
enum DeletionsCommand {
    /// Every held deletion, newest first
    Ls,
    /// Run held deletions now, past the breaker
    Release {
        /// Held job ids (from `nzj deletions ls`)
        ids: Vec<String>,
        /// Every held deletion
        #[arg(long)]
        all: bool,
    },
    /// Drop held deletions: their hosts stay
    Discard {
        ids: Vec<String>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Every dead letter with its job, object and last error
    Ls,
    /// One dead letter and its message
    Show { id: String },
    /// Run the dead letters' jobs again (a failed job retried, linked to it), then remove them
    Redrive {
        /// Dead letter ids (from `nzj dlq ls`, e.g. host:17)
        ids: Vec<String>,
        #[arg(long)]
        all: bool,
    },
    /// Remove dead letters without running anything
    Purge {
        ids: Vec<String>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Make a token: printed once; its name, role and hash go in NZJ_API_TOKENS_FILE
    New {
        /// What the token's jobs and changes record as their user (letters, digits, .-_@)
        name: String,
        /// viewer (reads), operator (also runs, retries, syncs, maintenance), admin (also
        /// settings, schedule, deletions, dead-letter purges)
        #[arg(long)]
        role: String,
        /// Append the line to this tokens file (created readable by its owner only)
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum MaintenanceCommand {
    /// Every window
    Ls,
    /// One window
    Show { id: String },
    /// Create a window; at least one --host, --group or --site
    Create(cmd::maintenance::WindowArgs),
    /// Change what is given (name, times, a kind of target, description); the rest stays
    Update {
        id: String,
        #[command(flatten)]
        changes: cmd::maintenance::UpdateArgs,
    },
    /// Delete a window from Zabbix and from the store
    Rm { id: String },
}

#[derive(Subcommand)]
enum SettingsCommand {
    /// Every setting, as JSON
    Show,
    /// Change settings: `nzj settings set delete_policy hard adoption true`; a value that parses
    /// as JSON is taken as JSON (numbers, booleans, lists, objects), anything else as text
    Set {
        #[arg(required = true, num_args = 2.., value_names = ["FIELD", "VALUE"])]
        pairs: Vec<String>,
        /// Apply without asking, whatever the plan changes (for scripts)
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// Every system job: interval, next due, current run, whether it is scheduled
    Show,
    /// Set a system job's interval in minutes (1, 5, 15, 30, 60, ... 43200) or `off`
    Set { job: String, interval: String },
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Some(("serve", serve)) = matches.subcommand() {
        // The client's flags mean nothing to the server: refused, not silently ignored.
        let given: Vec<&str> = ["endpoint", "token", "sigv4"]
            .into_iter()
            .filter(|id| serve.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
            .collect();
        if let Some(flag) = given.first() {
            eprintln!(
                "nzj serve: --{flag} is for the commands that talk to an API, not for the server; serve takes its tokens from NZJ_API_TOKENS_FILE and NZJ_API_TOKEN (or generates one) and listens on --listen / NZJ_LISTEN"
            );
            return ExitCode::from(2);
        }
    }
    let result = match cli.command {
        Command::Serve { listen, config } => serve::serve(listen, config).await,
        Command::Ui { listen } => cmd::ui::ui(client::ApiClient::new(cli.target), &listen).await,
        Command::Jobs { command } => {
            let api = client::ApiClient::new(cli.target);
            match command {
                JobsCommand::Ls(filters) => cmd::jobs::jobs_ls(&api, filters, cli.json).await,
                JobsCommand::Show { id } => cmd::jobs::jobs_show(&api, &id, cli.json).await,
                JobsCommand::Retry { id } => cmd::jobs::jobs_retry(&api, &id, cli.json).await,
                JobsCommand::Run { name, dry_run: true, .. } if name == "SyncHostsNow" => {
                    cmd::plan::plan(&api, &[], None, cli.json).await
                }
                JobsCommand::Run { name, dry_run: true, .. } => {
                    Err(anyhow::anyhow!("--dry-run is for SyncHostsNow; {name} has no plan"))
                }
                JobsCommand::Run { name, no_wait, .. } => cmd::jobs::jobs_run(&api, &name, !no_wait, cli.json).await,
            }
        }
        Command::Hosts { command } => {
            let api = client::ApiClient::new(cli.target);
            match command {
                HostsCommand::Ls { out_of_sync, failed, limit, cursor } => {
                    cmd::hosts::hosts_ls(&api, out_of_sync, failed, limit, cursor, cli.json).await
                }
                HostsCommand::Sync { objects } => cmd::hosts::hosts_sync(&api, &objects, false, cli.json).await,
                HostsCommand::Retry { objects, failed } => {
                    cmd::hosts::hosts_sync(&api, &objects, failed, cli.json).await
                }
                HostsCommand::Show { object } => cmd::hosts::hosts_show(&api, &object).await,
            }
        }
        Command::Deletions { command } => {
            let api = client::ApiClient::new(cli.target);
            match command {
                DeletionsCommand::Ls => cmd::deletions::deletions_ls(&api, cli.json).await,
                DeletionsCommand::Release { ids, all } => {
                    cmd::deletions::deletions_decide(&api, "release", &ids, all, cli.json).await
                }
                DeletionsCommand::Discard { ids, all } => {
                    cmd::deletions::deletions_decide(&api, "discard", &ids, all, cli.json).await
                }
            }
        }
        Command::Dlq { command } => {
            let api = client::ApiClient::new(cli.target);
            match command {
                DlqCommand::Ls => cmd::dlq::dlq_ls(&api, cli.json).await,
                DlqCommand::Show { id } => cmd::dlq::dlq_show(&api, &id, cli.json).await,
                DlqCommand::Redrive { ids, all } => cmd::dlq::dlq_redrive(&api, &ids, all, cli.json).await,
                DlqCommand::Purge { ids, all } => cmd::dlq::dlq_purge(&api, &ids, all, cli.json).await,
            }
        }
        Command::Tokens { command: TokensCommand::New { name, role, file } } => {
            cmd::tokens::tokens_new(&name, &role, file.as_deref())
        }
        Command::Maintenance { command } => {
            let api = client::ApiClient::new(cli.target);
            match command {
                MaintenanceCommand::Ls => cmd::maintenance::maintenance_ls(&api, cli.json).await,
                MaintenanceCommand::Show { id } => cmd::maintenance::maintenance_show(&api, &id).await,
                MaintenanceCommand::Create(window) => cmd::maintenance::maintenance_create(&api, window).await,
                MaintenanceCommand::Update { id, changes } => {
                    cmd::maintenance::maintenance_update(&api, &id, changes).await
                }
                MaintenanceCommand::Rm { id } => cmd::maintenance::maintenance_rm(&api, &id).await,
            }
        }
        Command::Plan { pairs, after } => {
            let api = client::ApiClient::new(cli.target);
            cmd::plan::plan(&api, &pairs, after.as_deref(), cli.json).await
        }
        Command::Settings { command } => {
            let api = client::ApiClient::new(cli.target);
            match command {
                SettingsCommand::Show => cmd::settings::settings_show(&api).await,
                SettingsCommand::Set { pairs, yes } => cmd::settings::settings_set(&api, &pairs, yes).await,
            }
        }
        Command::Schedule { command } => {
            let api = client::ApiClient::new(cli.target);
            match command {
                ScheduleCommand::Show => cmd::schedule::schedule_show(&api, cli.json).await,
                ScheduleCommand::Set { job, interval } => {
                    cmd::schedule::schedule_set(&api, &job, &interval, cli.json).await
                }
            }
        }
        Command::Netbox { command: NetboxCommand::Setup { webhook_url, stack, check, config } } => {
            let api = client::ApiClient::new(cli.target);
            let webhook_url = match (webhook_url, stack) {
                (Some(url), _) => cmd::netbox::WebhookUrl::Given(url),
                (None, Some(stack)) => cmd::netbox::WebhookUrl::Stack(stack),
                (None, None) => unreachable!("clap requires one"),
            };
            let args = cmd::netbox::SetupArgs { webhook_url, check, config };
            match cmd::netbox::netbox_setup(&api, args, cli.json).await {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::from(1),
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nzj: {e:#}");
            ExitCode::FAILURE
        }
    }
}
