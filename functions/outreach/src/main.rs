//! `outreach`: the whole system on one machine — API, jobs and demo on an embedded store.

mod config;
mod demo;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use outreach_api::{AppState, Role};
use outreach_core::jobs::{DEFAULT_HORIZON_DAYS, run_planner};
use outreach_core::org::{ImportValidity, parse_units_csv, parse_units_json};
use outreach_core::ports::{Clock, Store, SystemClock};
use outreach_core::{CoreError, usecases};

use crate::config::StoreArgs;

#[derive(Parser)]
#[command(
    name = "outreach",
    version,
    about = "Outreach-campaign scheduler of a provincial Youth Union"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and run the scheduled jobs in one process.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        key: config::KeyArgs,
        /// Minutes between planner runs.
        #[arg(long, default_value_t = 15)]
        planner_every_minutes: u64,
        /// Days ahead the planner materialises sessions.
        #[arg(long, default_value_t = DEFAULT_HORIZON_DAYS)]
        horizon_days: i64,
    },
    /// A self-contained run of the main job on a temporary database.
    Demo {
        /// Keep the demo database at this path instead of a temporary file.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Administrative units.
    #[command(name = "org-units", subcommand)]
    OrgUnits(OrgUnitsCommand),
    /// Run one job once at a given instant.
    Run {
        job: Job,
        /// The instant the job runs at (RFC 3339); now when omitted.
        #[arg(long)]
        now: Option<DateTime<Utc>>,
        /// Days ahead the planner materialises sessions.
        #[arg(long, default_value_t = DEFAULT_HORIZON_DAYS)]
        horizon_days: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Storage administration.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Mint a local API token.
    Token {
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The unit the caller works for (a province, district or commune code).
        #[arg(long)]
        org: String,
        /// Who the token is for.
        #[arg(long, default_value = "local-user")]
        sub: String,
        #[arg(long, default_value_t = 12)]
        ttl_hours: i64,
        #[command(flatten)]
        key: config::KeyArgs,
    },
}

#[derive(Subcommand)]
enum OrgUnitsCommand {
    /// Import a JSON array or CSV of `{code, name, level, parent_code}`: all rows or none.
    Import {
        file: PathBuf,
        /// First day the units are valid (e.g. 2025-07-01 for the post-reform list).
        #[arg(long)]
        valid_from: Option<chrono::NaiveDate>,
        /// Last day the units are valid (e.g. 2025-06-30 for the pre-reform list).
        #[arg(long)]
        valid_until: Option<chrono::NaiveDate>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Create the SQLite schema or the DynamoDB table where the store points.
    Init {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Job {
    Planner,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?}: admin, planner, commune_officer or viewer"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(cli.command, Command::Demo { .. } | Command::Token { .. });
    config::init_tracing(if quiet { "warn" } else { "info" });
    match run(cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve {
            addr,
            store,
            key,
            planner_every_minutes,
            horizon_days,
        } => {
            let store = store.open().await?.store();
            let auth = key.auth_config()?;
            serve(addr, store, auth, planner_every_minutes, Duration::days(horizon_days)).await
        }
        Command::Demo { keep } => demo::run(keep).await,
        Command::OrgUnits(OrgUnitsCommand::Import {
            file,
            valid_from,
            valid_until,
            store,
        }) => {
            let store = store.open().await?.store();
            import_units(
                store.as_ref(),
                &file,
                ImportValidity {
                    valid_from,
                    valid_until,
                },
            )
            .await
        }
        Command::Run {
            job: Job::Planner,
            now,
            horizon_days,
            store,
        } => {
            let store = store.open().await?.store();
            let now = now.unwrap_or_else(Utc::now);
            let report = run_planner(store.as_ref(), now, Duration::days(horizon_days)).await?;
            println!(
                "planner at {now}: {} active campaigns, {} advanced, {} sessions created, {} failed",
                report.campaigns, report.campaigns_advanced, report.sessions_created, report.campaigns_failed
            );
            Ok(())
        }
        Command::Store(StoreCommand::Init { store }) => {
            println!("{}", store.open().await?.init().await?);
            Ok(())
        }
        Command::Token {
            role,
            org,
            sub,
            ttl_hours,
            key,
        } => {
            if !(1..=24 * 30).contains(&ttl_hours) {
                bail!("--ttl-hours must be between 1 and 720");
            }
            let auth = key.auth_config()?;
            println!(
                "{}",
                auth.mint(&sub, role, &org, Utc::now(), Duration::hours(ttl_hours))
            );
            Ok(())
        }
    }
}

async fn import_units(store: &dyn Store, file: &std::path::Path, validity: ImportValidity) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let is_csv = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let rows = if is_csv {
        parse_units_csv(&text)
    } else {
        parse_units_json(&text)
    };
    let rows = rows.with_context(|| file.display().to_string())?;
    match usecases::import_org_units(store, rows, validity).await {
        Ok(s) => {
            println!(
                "imported {} provinces, {} districts, {} communes from {}",
                s.provinces,
                s.districts,
                s.communes,
                file.display()
            );
            Ok(())
        }
        Err(CoreError::ImportRejected(errors)) => {
            eprintln!("{}: {} bad rows; nothing was imported", file.display(), errors.len());
            for e in &errors {
                let key = e.key.as_deref().map(|k| format!(" (code {k})")).unwrap_or_default();
                eprintln!("  row {}{key}: {}", e.row, e.reasons.join("; "));
            }
            bail!("import refused")
        }
        Err(e) => Err(e.into()),
    }
}

async fn serve(
    addr: SocketAddr,
    store: Arc<dyn Store>,
    auth: outreach_api::AuthConfig,
    planner_every_minutes: u64,
    horizon: Duration,
) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = AppState {
        store: store.clone(),
        auth,
        clock: clock.clone(),
    };
    let app = outreach_api::router(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "outreach API listening");

    let planner = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(planner_every_minutes.max(1) * 60));
        loop {
            every.tick().await;
            if let Err(e) = run_planner(store.as_ref(), clock.now(), horizon).await {
                tracing::error!(error.message = %e, "planner run failed");
            }
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
        .await?;
    planner.abort();
    Ok(())
}
