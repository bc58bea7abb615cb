//! `outreach`: the whole system on one machine — API, jobs and demo on an embedded store.

mod config;
mod demo;
mod http;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use outreach_api::{AppState, Role};
use outreach_app::{App, DeliveryQueue};
use outreach_core::org::{ImportScope, ImportValidity, parse_units_csv, parse_units_json};
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
    Serve(ServeArgs),
    /// A self-contained run of the main job on a temporary database.
    Demo(DemoArgs),
    /// Administrative units.
    #[command(name = "org-units", subcommand)]
    OrgUnits(OrgUnitsCommand),
    /// Run one job once at a given instant (the dispatcher also sends what it enqueues
    /// when there is no SQS queue: the in-process queue does not outlive the process).
    Run(RunArgs),
    /// Storage administration.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Print a one-time link that signs in to the dashboard of the server running in this
    /// directory (it shares `serve`'s key); valid ten minutes.
    #[command(name = "login-link")]
    LoginLink(LoginLinkArgs),
    /// Mint a local API token.
    Token(TokenArgs),
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    key: config::KeyArgs,
    /// Minutes between planner runs.
    #[arg(long, default_value_t = 15)]
    planner_every_minutes: u64,
    /// Days ahead the planner materialises sessions (default: OUTREACH_PLANNER_HORIZON_DAYS, or 35).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=366))]
    horizon_days: Option<i64>,
    /// Seconds a client has to send a request's line and headers, from when its
    /// connection opens or its previous response ends; then the connection is closed.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    header_read_timeout_secs: u64,
}

#[derive(Args)]
struct DemoArgs {
    /// Keep the demo database at this path instead of a temporary file.
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Then serve the dashboard and the API over the demo's data (until Ctrl-C) and
    /// print a sign-in link for the district's planner.
    #[arg(long)]
    serve: bool,
    /// Where `--serve` listens.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
}

#[derive(Args)]
struct RunArgs {
    job: Job,
    /// The instant the job runs at (RFC 3339); now when omitted.
    #[arg(long)]
    now: Option<DateTime<Utc>>,
    /// Days ahead the planner materialises sessions (default: OUTREACH_PLANNER_HORIZON_DAYS, or 35).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=366))]
    horizon_days: Option<i64>,
    #[command(flatten)]
    store: StoreArgs,
    /// Signs the unsubscribe links of the emails sent, as `serve` does.
    #[command(flatten)]
    key: config::KeyArgs,
}

#[derive(Args)]
struct LoginLinkArgs {
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// The unit the user works for (a province, district or commune code).
    #[arg(long)]
    org: String,
    /// Who signs in.
    #[arg(long, default_value = "local-user")]
    sub: String,
    /// The server's address as a browser reaches it.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    #[command(flatten)]
    key: config::KeyArgs,
}

#[derive(Args)]
struct TokenArgs {
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
    Dispatcher,
    Sender,
    /// Snapshot and email the report of the quarter that ended before `--now`.
    QuarterlySummary,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?}: admin, planner, commune_officer or viewer"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(
        cli.command,
        Command::Demo(_) | Command::Token(_) | Command::LoginLink(_)
    );
    config::init_tracing(if quiet { "warn" } else { "info" });
    match run(cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", outreach_core::privacy::redact(&format!("{e:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve(args) => serve_command(args).await,
        Command::Demo(args) => demo_command(args).await,
        Command::OrgUnits(OrgUnitsCommand::Import {
            file,
            valid_from,
            valid_until,
            store,
        }) => {
            let store = outreach_app::open_store(&store.url()).await?;
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
        Command::Run(args) => run_job(args).await,
        Command::Store(StoreCommand::Init { store }) => {
            println!("{}", store.open().await?.init().await?);
            Ok(())
        }
        Command::LoginLink(args) => login_link(args),
        Command::Token(args) => token(args),
    }
}

/// `outreach serve`.
async fn serve_command(args: ServeArgs) -> Result<()> {
    let mut config = outreach_app::Config::from_env(Some(args.store.url()))?;
    config.store = args.store.url();
    if let Some(days) = args.horizon_days {
        config.horizon = Duration::days(days);
    }
    let auth = config.auth(Some(args.key.secret()?))?;
    let app = App::build(config, Some(&auth)).await?;
    let header_timeout = std::time::Duration::from_secs(args.header_read_timeout_secs);
    serve(args.addr, app, auth, args.planner_every_minutes, header_timeout).await
}

/// `outreach demo [--serve]`.
async fn demo_command(
    DemoArgs {
        keep,
        serve: then_serve,
        addr,
    }: DemoArgs,
) -> Result<()> {
    if !then_serve {
        return demo::run(keep).await;
    }
    // The demo's database and key beside each other, as `serve` keeps them.
    let dir = tempfile::tempdir()?;
    let db = keep.unwrap_or_else(|| dir.path().join("outreach.db"));
    demo::run(Some(db.clone())).await?;
    let key_file = dir.path().join("outreach.key");
    let key = config::KeyArgs::file(key_file);
    let auth = key.auth_config()?;
    let link_token = auth.mint_sign_in("demo-planner", Role::Planner, "24", &usecases::new_id("ln"), Utc::now());
    println!();
    println!("The dashboard of the demo: open this link within 10 minutes (Ctrl-C stops the server):");
    println!("  http://{addr}/ui/dang-nhap/lien-ket?token={link_token}");
    let mut config = outreach_app::Config::local(db, dir.path().join("outbox"));
    config.jwt_secret = None;
    let auth = config.auth(Some(key.secret()?))?;
    let app = App::build(config, Some(&auth)).await?;
    serve(addr, app, auth, 15, std::time::Duration::from_secs(10)).await
}

/// `outreach run JOB`.
async fn run_job(args: RunArgs) -> Result<()> {
    let mut config = outreach_app::Config::from_env(Some(args.store.url()))?;
    config.store = args.store.url();
    if let Some(days) = args.horizon_days {
        config.horizon = Duration::days(days);
    }
    let now = args.now.unwrap_or_else(Utc::now);
    if let Job::Planner = args.job {
        // The planner needs only the store: no channels, queue or outbox directory.
        let store = outreach_app::open_store(&config.store).await?;
        let r = outreach_core::jobs::run_planner(store.as_ref(), now, config.horizon).await?;
        println!(
            "planner at {now}: {} active campaigns, {} advanced, {} sessions created, {} failed",
            r.campaigns, r.campaigns_advanced, r.sessions_created, r.campaigns_failed
        );
        return Ok(());
    }
    // The key `serve` uses (OUTREACH_JWT_SECRET or the key file): every email carries
    // an unsubscribe link that serve's endpoint accepts.
    let auth = config.auth(Some(args.key.secret()?))?;
    let app = App::build(config, Some(&auth)).await?;
    match args.job {
        Job::Dispatcher => dispatch_and_send(&app, now).await,
        Job::QuarterlySummary => quarterly_summary(&app, now).await,
        _ => send(&app, now).await,
    }
}

/// The quarterly summary of the quarter that ended before `now`, unit by unit.
async fn quarterly_summary(app: &App, now: DateTime<Utc>) -> Result<()> {
    let r = app.quarterly_summary(now, None).await?;
    println!("quarterly summary at {now}: {}-Q{}", r.year, r.quarter);
    for u in &r.units {
        println!(
            "  {}: snapshot revision {}, emailed to {} planner(s){}",
            u.org_code,
            u.revision,
            u.emailed,
            if u.failed.is_empty() {
                String::new()
            } else {
                format!(", {} failed: {}", u.failed.len(), u.failed.join("; "))
            }
        );
    }
    Ok(())
}

/// `outreach login-link`.
fn login_link(args: LoginLinkArgs) -> Result<()> {
    let auth = args.key.auth_config()?;
    let jti = usecases::new_id("ln");
    let token = auth.mint_sign_in(&args.sub, args.role, &args.org, &jti, Utc::now());
    println!("{}/ui/dang-nhap/lien-ket?token={token}", args.url.trim_end_matches('/'));
    Ok(())
}

/// `outreach token`.
fn token(args: TokenArgs) -> Result<()> {
    if !(1..=24 * 30).contains(&args.ttl_hours) {
        bail!("--ttl-hours must be between 1 and 720");
    }
    let auth = args.key.auth_config()?;
    println!(
        "{}",
        auth.mint(
            &args.sub,
            args.role,
            &args.org,
            Utc::now(),
            Duration::hours(args.ttl_hours)
        )
    );
    Ok(())
}

/// One dispatcher run; without SQS it sends what it enqueued (into the local queue, which
/// outlives the process: a run killed half-way leaves the rest for the next).
async fn dispatch_and_send(app: &App, now: DateTime<Utc>) -> Result<()> {
    let r = app.dispatch(now).await?;
    println!(
        "dispatcher at {now}: {} due jobs, {} enqueued, {} completed, {} cancelled, {} unfinished",
        r.jobs, r.enqueued, r.completed, r.cancelled, r.unfinished
    );
    if app.queue.is_local() {
        print_sender(now, &app.send_pending(now).await?);
    }
    Ok(())
}

/// One sender pass over the SQS queue.
async fn send(app: &App, now: DateTime<Utc>) -> Result<()> {
    match app.queue {
        DeliveryQueue::Sqs(_) | DeliveryQueue::Local(_) => print_sender(now, &app.send_pending(now).await?),
        DeliveryQueue::Memory(_) => println!(
            "sender at {now}: DynamoDB without OUTREACH_QUEUE_URL, so deliveries go through the in-process \
             queue, which `outreach run dispatcher` sends before it exits; nothing waits here"
        ),
    }
    Ok(())
}

fn print_sender(now: DateTime<Utc>, r: &outreach_core::jobs::SenderReport) {
    println!(
        "sender at {now}: {} sent, {} suppressed, {} failed, {} to retry, {} already done, {} errors",
        r.sent, r.suppressed, r.failed, r.retry_later, r.already_done, r.errors
    );
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
    match usecases::import_org_units(store, rows, validity, ImportScope::Anywhere).await {
        Ok(usecases::UnitImport { summary: s, .. }) => {
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
    app: App,
    auth: outreach_api::AuthConfig,
    planner_every_minutes: u64,
    header_timeout: std::time::Duration,
) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = AppState::build(&app, auth, clock.clone()).map_err(anyhow::Error::msg)?;
    let router = outreach_api::router(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "outreach API listening");

    // The jobs on timers, as EventBridge runs them on AWS: planner every few minutes,
    // dispatcher every minute, and the sender draining the in-process queue.
    let every = |secs: u64| {
        let mut i = tokio::time::interval(std::time::Duration::from_secs(secs));
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        i
    };
    let (planner_app, planner_clock) = (app.clone(), clock.clone());
    let planner = tokio::spawn(async move {
        let mut tick = every(planner_every_minutes.max(1) * 60);
        loop {
            tick.tick().await;
            let now = planner_clock.now();
            if let Err(e) = planner_app.plan(now).await {
                tracing::error!(error.message = %e, "planner run failed");
            }
            // The one refresher of the Zalo OA's token (nothing without ZNS configured).
            if let Err(e) = planner_app.refresh_zns_token(now).await {
                tracing::error!(alarm = outreach_core::notify::ZNS_ALARM_MARKER, error.message = %e,
                    "ZNS_ALARM: the ZNS token refresh failed");
            }
        }
    });
    let (pipeline_app, pipeline_clock) = (app.clone(), clock.clone());
    let pipeline = tokio::spawn(async move {
        let mut tick = every(5);
        let mut last_dispatch: Option<DateTime<Utc>> = None;
        loop {
            tick.tick().await;
            let now = pipeline_clock.now();
            if last_dispatch.is_none_or(|t| now - t >= Duration::minutes(1)) {
                last_dispatch = Some(now);
                if let Err(e) = pipeline_app.dispatch(now).await {
                    tracing::error!(error.message = %e, "dispatcher run failed");
                }
            }
            if let Err(e) = pipeline_app.send_pending(now).await {
                tracing::error!(error.message = %e, "sender pass failed");
            }
        }
    });
    http::serve(listener, router, header_timeout, shutdown_signal()).await?;
    planner.abort();
    pipeline.abort();
    // Both timers hold the store: it closes (checkpointing its WAL) once they are gone.
    let _ = planner.await;
    let _ = pipeline.await;
    Ok(())
}

/// Ctrl-C or SIGTERM (what `kill`, systemd and container runtimes send): either stops
/// `serve` gracefully, answering the requests under way and closing the store.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error.message = %e, "cannot listen for SIGTERM: only Ctrl-C stops serve gracefully");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
