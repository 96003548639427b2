//! The command line: `protocall serve | migrate | check | import |
//! consultant add | consultant presence | consultant role | token ... |
//! task | contact | report | schedule`. Errors surface as `anyhow` here
//! only, at the binary's edge.
//!
//! Whoever runs it has the server's shell and the database: every write is
//! an admin action, and the audit trail says so (`cli-admin:<unix user>`).

mod tokens;

use std::io::{BufRead, IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};

use crate::app::{open_store, shutdown_signal, Application};
use crate::config::Settings;
use crate::directory::NewConsultant;
use crate::http::consultants::consultant_record;
use crate::http::lookup::run_import;
use crate::http::AppState;
use crate::metrics::Metrics;
use crate::reports::render::ReportFormat;
use crate::tracking::states::ContactChannel;

#[derive(Debug, Parser)]
#[command(
    name = "protocall",
    version,
    about = "SIP call routing with automatic time tracking for a consulting desk"
)]
pub struct Cli {
    /// Config file (default: config/protocall.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (admin HTTP API; migrations are applied first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Validate the configuration without starting anything (exit 1 on error).
    Check,
    /// Import providers, numbers and provider users from a CSV file, all rows or none.
    Import {
        /// CSV file with a header row (see docs/api.md for the columns).
        file: PathBuf,
    },
    /// Manage consultants.
    #[command(subcommand)]
    Consultant(ConsultantCommand),
    /// Manage API tokens (roles, owners, expiry) and calendar-feed tokens.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Task timers: start, stop, list (times like 09:30, "yesterday 14:00").
    #[command(subcommand)]
    Task(TaskCommand),
    /// Contacts on other channels: start/stop a timer, or add one whole.
    #[command(subcommand)]
    Contact(ContactCommand),
    /// Managers' reports.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Place a week's planned hours as scheduled tasks (work plan → week).
    Schedule {
        /// ISO week, e.g. 2026-W49.
        #[arg(long)]
        week: String,
        /// Only this consultant (SIP username); default everyone with a plan.
        #[arg(long)]
        consultant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The Monday report: ten figures of a week, written to a file in
    /// locale.language.
    Weekly {
        /// ISO week of items 1–4 and 7–10 (default: last week).
        #[arg(long)]
        week: Option<String>,
        /// ISO week of items 5–6 (default: this week).
        #[arg(long)]
        schedule_week: Option<String>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        /// Output file (default: protocall-<week>.<format>; `-` for stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Mail the weekly pack now to reports.mail.to (as Mondays do when
    /// reports.mail.enabled), in locale.language.
    Mail {
        #[arg(long)]
        week: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Start a task timer; the consultant's running task stops then.
    Start {
        /// The consultant's SIP username.
        #[arg(long)]
        consultant: String,
        /// Category (see `protocall task categories`).
        #[arg(long)]
        category: String,
        /// Protocol number (or id) the work belongs to.
        #[arg(long)]
        protocol: Option<String>,
        #[arg(long)]
        title: Option<String>,
        /// When it started (default now): 09:30, "yesterday 14:00", -15m.
        #[arg(long)]
        at: Option<String>,
    },
    /// Stop the consultant's running task.
    Stop {
        #[arg(long)]
        consultant: String,
        #[arg(long)]
        at: Option<String>,
    },
    /// The consultant's tasks of a day (default today).
    List {
        #[arg(long)]
        consultant: String,
        /// Any time of the day to list: today, yesterday, 2026-11-27.
        #[arg(long)]
        day: Option<String>,
    },
    /// The task categories.
    Categories,
}

#[derive(Debug, Subcommand)]
pub enum ContactCommand {
    /// Start a contact timer (a chat begins); an open one ends then.
    Start(ContactArgs),
    /// End the consultant's open contact.
    Stop {
        #[arg(long)]
        consultant: String,
        #[arg(long)]
        at: Option<String>,
    },
    /// Add a contact that happened, with its start and end.
    Add {
        #[command(flatten)]
        contact: ContactArgs,
        /// When it ended: 10:15, "yesterday 14:30".
        #[arg(long)]
        until: String,
    },
}

#[derive(Debug, Args)]
pub struct ContactArgs {
    #[arg(long)]
    pub consultant: String,
    /// chat, email, meeting, phone or other.
    #[arg(long, value_parser = PossibleValuesParser::new(ContactChannel::NAMES.iter().copied()))]
    pub channel: String,
    /// Provider id, or a phone number of the provider.
    #[arg(long)]
    pub provider: Option<String>,
    /// Protocol number (or id).
    #[arg(long)]
    pub protocol: Option<String>,
    #[arg(long)]
    pub notes: Option<String>,
    /// When it started (default now).
    #[arg(long)]
    pub at: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConsultantCommand {
    /// Add a consultant. The SIP password is read from a prompt, or from
    /// standard input when it is not a terminal; never from the command line.
    Add(ConsultantAdd),
    /// Set a consultant's presence: available, dnd (do not disturb) or
    /// away. A running daemon picks it up within two seconds.
    Presence {
        /// The consultant's SIP username.
        username: String,
        #[arg(value_parser = ["available", "dnd", "away"])]
        status: String,
    },
    /// Set a consultant's role: consultant, manager or admin. Their tokens
    /// never carry more than it.
    Role {
        /// The consultant's SIP username.
        username: String,
        role: crate::directory::Role,
    },
}

#[derive(Debug, Args)]
pub struct ConsultantAdd {
    #[arg(long)]
    pub name: String,
    /// SIP username the softphone registers with.
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub email: Option<String>,
    /// Weekly capacity in hours.
    #[arg(long, default_value_t = 40.0)]
    pub capacity: f64,
    /// consultant, manager or admin.
    #[arg(long, default_value = "consultant")]
    pub role: crate::directory::Role,
}

/// What `check` says about how phones elsewhere reach us: the advertised
/// host, and the TLS certificate and key (read and matched, as `serve`
/// would).
fn check_sip_edge(settings: &Settings) -> anyhow::Result<()> {
    use crate::config::Advertised;
    let sip = &settings.sip;
    match sip.advertised() {
        Advertised::Configured(h) => println!("advertised SIP host: {h} (sip.advertised_host)"),
        Advertised::Listen(h) => println!("advertised SIP host: {h} (sip.listen)"),
        Advertised::Interface(h) => println!(
            "advertised SIP host: {h} (the default route's interface; set sip.advertised_host \
             to the name or public address phones use if it differs)"
        ),
        Advertised::LoopbackOnly(h) => bail!(
            "sip.listen is {} and sip.advertised_host is unset, and this machine has no \
             default route: Via and Record-Route would name {h}, which phones on other hosts \
             cannot reach; set sip.advertised_host",
            sip.listen
        ),
    }
    if let Some(tls) = &sip.tls {
        crate::sip::transport::check_tls_files(&tls.cert, &tls.key)
            .map_err(|e| anyhow::anyhow!("sip.tls: {e}"))?;
        println!(
            "TLS OK: {} with {} and {}",
            tls.listen,
            tls.cert.display(),
            tls.key.display()
        );
    }
    Ok(())
}

/// Configured targets given by host name (trunk, URA, dialplan `uri`
/// steps), resolved now as the daemon would (RFC 3263). One that does not
/// resolve is a warning naming the records tried, not an error: DNS may be
/// unreachable only from where `check` runs, and the daemon keeps asking.
async fn check_target_names(
    settings: &Settings,
    plan: &crate::routing::dialplan::Dialplan,
) -> anyhow::Result<()> {
    use crate::sip::resolve::{classify, DnsMetrics, Host, SipResolver};
    let mut named = Vec::new();
    let configured = [
        ("routing.trunk_uri", settings.routing.trunk_uri.as_deref()),
        ("routing.ura_uri", settings.routing.ura_uri.as_deref()),
    ];
    let steps = plan.uri_steps().map(|u| ("dialplan uri step", Some(u)));
    for (what, raw) in configured.into_iter().chain(steps) {
        let Some(raw) = raw else { continue };
        let Ok(uri) = crate::sip::message::Uri::parse(bytes::Bytes::from(raw.to_string())) else {
            continue;
        };
        match classify(&uri) {
            Host::Name(_) => named.push((what, raw, uri)),
            Host::Invalid => println!(
                "warning: {what}: `{raw}` has no IP address or host name to send to;                  calls skip it"
            ),
            Host::Literal(_) => {}
        }
    }
    if named.is_empty() {
        return Ok(());
    }
    let (resolver, _worker) =
        SipResolver::start(&settings.sip.dns, DnsMetrics::unregistered(), None)
            .map_err(|e| anyhow::anyhow!("sip.dns: {e}"))?;
    for (what, raw, uri) in named {
        match resolver.resolve_now(&uri).await {
            Ok(targets) => {
                let list: Vec<String> = targets
                    .iter()
                    .map(|t| format!("{} {}", t.proto.via_token(), t.dest))
                    .collect();
                println!("{what}: `{raw}` resolves to {}", list.join(", "));
            }
            Err(why) => println!(
                "warning: {what}: `{raw}` does not resolve: {why}; calls skip it until it does"
            ),
        }
    }
    Ok(())
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Check => {
            println!("configuration OK: {}", describe(&settings));
            check_sip_edge(&settings)?;
            let dir = &settings.routing.dialplans;
            match crate::routing::dialplan::load_dir(dir, settings.locale.tz()) {
                Ok(plan) => {
                    println!(
                        "dialplan OK: {} ({} rules)",
                        dir.display(),
                        plan.rule_names().count()
                    );
                    check_target_names(&settings, &plan).await
                }
                Err(errors) => {
                    for e in &errors {
                        eprintln!("{e}");
                    }
                    bail!("{} dialplan error(s) in {}", errors.len(), dir.display())
                }
            }
        }
        Command::Serve => {
            crate::telemetry::init(&settings.log);
            let app = Application::build(&settings).await?;
            app.run_until_stopped(shutdown_signal()).await?;
            Ok(())
        }
        Command::Migrate => {
            let store = open_store(&settings).await?;
            println!("database is up to date ({:?})", store.backend());
            store.close().await;
            Ok(())
        }
        Command::Import { file } => {
            let data =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let state = cli_state(&settings).await?;
            let report = run_import(&state, &data, &cli_admin()).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            state.store.close().await;
            if !report.imported {
                bail!(
                    "import rejected: {} row(s) refused, nothing written",
                    report.rejected.len()
                );
            }
            Ok(())
        }
        Command::Consultant(ConsultantCommand::Add(a)) => {
            let password = read_password()?;
            let state = cli_state(&settings).await?;
            let new = NewConsultant {
                name: a.name,
                sip_username: a.username,
                password,
                email: a.email,
                weekly_capacity_hours: a.capacity,
                active: true,
                role: a.role,
            };
            let record = consultant_record(&new, &settings.sip.realm)?;
            let c = state.store.create_consultant(&record, &cli_admin()).await?;
            println!("{}", serde_json::to_string_pretty(&c)?);
            state.store.close().await;
            Ok(())
        }
        Command::Consultant(ConsultantCommand::Presence { username, status }) => {
            let store = open_store(&settings).await?;
            let Some(creds) = store.sip_credentials(&username).await? else {
                bail!("no consultant with SIP username `{username}`");
            };
            let c = store
                .set_presence(
                    creds.consultant_id,
                    crate::directory::Presence::parse(&status),
                )
                .await?;
            store.close().await;
            println!(
                "{} ({}) is now {}",
                c.name,
                c.sip_username,
                c.presence.as_str()
            );
            Ok(())
        }
        Command::Consultant(ConsultantCommand::Role { username, role }) => {
            let store = open_store(&settings).await?;
            let r = async {
                let id = consultant_id(&store, &username).await?;
                let mut c = store.get_consultant(id).await?;
                c.role = role;
                anyhow::Ok(store.update_consultant(id, &c, None, &cli_admin()).await?)
            }
            .await;
            store.close().await;
            let c = r?;
            println!("{} ({}) is now {}", c.name, c.sip_username, c.role);
            Ok(())
        }
        Command::Task(cmd) => {
            let store = open_store(&settings).await?;
            let r = task_command(&store, &settings, cmd).await;
            store.close().await;
            r
        }
        Command::Contact(cmd) => {
            let store = open_store(&settings).await?;
            let r = contact_command(&store, &settings, cmd).await;
            store.close().await;
            r
        }
        Command::Report(ReportCommand::Weekly {
            week,
            schedule_week,
            format,
            out,
        }) => {
            let store = open_store(&settings).await?;
            let cfg = crate::reports::weekly::ReportConfig::from_settings(&settings)
                .map_err(|e| dialplan_refused(&settings, &e))?;
            let now = chrono::Utc::now();
            let (last, this) = crate::reports::weekly::default_weeks(now, settings.locale.tz());
            let week = week.unwrap_or(last);
            let schedule_week = schedule_week.unwrap_or(this);
            let r = crate::reports::weekly::weekly(&store, &cfg, &week, &schedule_week, now).await;
            store.close().await;
            let r = r?;
            let (_, bytes) = crate::reports::render::any(&r, format, cfg.lang)?;
            let out = out
                .unwrap_or_else(|| PathBuf::from(format!("protocall-{week}.{}", format.as_str())));
            if out.as_os_str() == "-" {
                use std::io::Write as _;
                std::io::stdout().write_all(&bytes)?;
            } else {
                std::fs::write(&out, &bytes)
                    .with_context(|| format!("writing {}", out.display()))?;
                eprintln!("weekly report for {week} written to {}", out.display());
            }
            Ok(())
        }
        Command::Report(ReportCommand::Mail { week }) => {
            let store = open_store(&settings).await?;
            let cfg = crate::reports::weekly::ReportConfig::from_settings(&settings)
                .map_err(|e| dialplan_refused(&settings, &e))?;
            let now = chrono::Utc::now();
            let (last, this) = crate::reports::weekly::default_weeks(now, settings.locale.tz());
            let week = week.unwrap_or(last);
            let r = crate::reports::weekly::weekly(&store, &cfg, &week, &this, now).await;
            store.close().await;
            crate::reports::mail::send(&settings.reports.mail, &r?, cfg.lang).await?;
            eprintln!(
                "weekly report for {week} mailed to {}",
                settings.reports.mail.to.join(", ")
            );
            Ok(())
        }
        Command::Schedule { week, consultant } => {
            let store = open_store(&settings).await?;
            let planner = crate::tracking::planning::Planner::from_settings(&settings)
                .map_err(|e| dialplan_refused(&settings, &e))?;
            let who = match consultant.as_deref() {
                Some(u) => Some(consultant_id(&store, u).await?),
                None => None,
            };
            let weeks = planner.schedule(&store, &week, who).await;
            store.close().await;
            let weeks = weeks?;
            if weeks.is_empty() {
                println!("no work plan for {week}");
            }
            for w in &weeks {
                println!(
                    "consultant {}: {:.1} h planned, {:.1} h placed, {:.1} h free",
                    w.consultant_id,
                    w.planned_minutes as f64 / 60.0,
                    w.placed_minutes as f64 / 60.0,
                    w.capacity_minutes as f64 / 60.0
                );
                for p in &w.placed {
                    println!(
                        "  {} – {}  {}",
                        p.start.format("%a %d/%m %H:%M"),
                        p.end.format("%H:%M"),
                        p.category
                    );
                }
                for u in &w.unfit {
                    println!(
                        "  did not fit: {:.1} h of {}",
                        u.minutes as f64 / 60.0,
                        u.category
                    );
                }
            }
            Ok(())
        }
        Command::Token(cmd) => {
            let store = open_store(&settings).await?;
            let r = tokens::run(&store, cmd).await;
            store.close().await;
            r
        }
    }
}

async fn cli_state(settings: &Settings) -> anyhow::Result<AppState> {
    let store = open_store(settings).await?;
    Ok(AppState::new(store, Metrics::new()?, settings))
}

fn describe(s: &Settings) -> String {
    format!(
        "sip {} (udp+tcp), http {}, store {}, tz {}, country {}",
        s.sip.listen,
        s.http.listen,
        crate::store::redact(&s.store.url),
        s.locale.timezone,
        s.locale.default_country
    )
}

/// Prompts twice on a terminal; reads one line from a pipe, so scripts can
/// feed it without putting the password in argv (visible in `ps`).
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let p1 = rpassword::prompt_password("SIP password: ")?;
        let p2 = rpassword::prompt_password("again: ")?;
        if p1 != p2 {
            bail!("the passwords differ");
        }
        Ok(p1)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .take(4096)
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let p = line.trim_end_matches(['\r', '\n']).to_string();
        if p.is_empty() {
            bail!("no password on standard input");
        }
        Ok(p)
    }
}

// ---- time tracking from the command line ------------------------------------

/// The actor the audit trail names for a CLI change made for consultant
/// `username`: an admin action (whoever has the shell has the database),
/// by the Unix user, for that person.
fn cli_actor(username: &str) -> String {
    format!("{} for {username}", cli_admin())
}

/// The actor the audit trail names for a CLI change of configuration
/// (tokens, consultants, imports): the Unix user, as an admin.
pub(crate) fn cli_admin() -> String {
    format!(
        "cli-admin:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

fn when(settings: &Settings, at: Option<&str>) -> anyhow::Result<i64> {
    let now = chrono::Utc::now().with_timezone(&settings.locale.tz());
    Ok(match at {
        None => now.timestamp_millis(),
        Some(s) => crate::tracking::when::parse_when(s, now)?.timestamp_millis(),
    })
}

async fn consultant_id(store: &crate::store::Store, username: &str) -> anyhow::Result<i64> {
    match store.sip_credentials(username).await? {
        Some(c) => Ok(c.consultant_id),
        None => bail!("no consultant with SIP username `{username}`"),
    }
}

/// A protocol by its number, or by its id when the number is unknown.
async fn protocol_id(store: &crate::store::Store, p: Option<&str>) -> anyhow::Result<Option<i64>> {
    let Some(p) = p else { return Ok(None) };
    if let Some(found) = store.protocol_by_number(p).await? {
        return Ok(Some(found));
    }
    match p.parse::<i64>() {
        Ok(id) => Ok(Some(store.get_protocol(id).await?.id)),
        Err(_) => bail!("no protocol numbered `{p}`"),
    }
}

/// A provider by id, or by one of its phone numbers.
async fn provider_id(
    store: &crate::store::Store,
    settings: &Settings,
    p: Option<&str>,
) -> anyhow::Result<Option<i64>> {
    let Some(p) = p else { return Ok(None) };
    if let Ok(id) = p.parse::<i64>() {
        if store.get_provider(id).await.is_ok() {
            return Ok(Some(id));
        }
    }
    let e164 = crate::directory::number::normalize(p, settings.locale.country())
        .map_err(|e| anyhow::anyhow!("`{p}` is neither a provider id nor a number: {e}"))?;
    match store.lookup_number(&e164).await? {
        Some((prov, _, _)) => Ok(Some(prov.id)),
        None => bail!("no provider has the number {e164}"),
    }
}

fn show_task(t: &crate::store::Task) -> String {
    let fmt = |d: &Option<chrono::DateTime<chrono_tz::Tz>>| {
        d.map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "…".into())
    };
    let mins = t.realised_ms.map(|m| m / 60_000).unwrap_or(0);
    format!(
        "#{:<5} {:<10} {} → {} {:>4} min  {:<24} {}",
        t.id,
        t.status,
        fmt(&t.started_at.or(t.planned_start)),
        fmt(&t.ended_at),
        mins,
        t.category,
        t.title
    )
}

async fn task_command(
    store: &crate::store::Store,
    settings: &Settings,
    cmd: TaskCommand,
) -> anyhow::Result<()> {
    use crate::tracking::service;
    match cmd {
        TaskCommand::Start {
            consultant,
            category,
            protocol,
            title,
            at,
        } => {
            let new = service::NewTask {
                consultant_id: consultant_id(store, &consultant).await?,
                category,
                protocol_id: protocol_id(store, protocol.as_deref()).await?,
                title,
                ..Default::default()
            };
            let at = when(settings, at.as_deref())?;
            let (started, stopped) =
                service::start_task(store, new, at, &cli_actor(&consultant)).await?;
            if let Some(s) = stopped {
                println!("stopped {}", show_task(&s));
            }
            println!("started {}", show_task(&started));
        }
        TaskCommand::Stop { consultant, at } => {
            let id = consultant_id(store, &consultant).await?;
            let at = when(settings, at.as_deref())?;
            let t = service::stop_task(store, id, None, at, &cli_actor(&consultant)).await?;
            println!("stopped {}", show_task(&t));
        }
        TaskCommand::List { consultant, day } => {
            let id = consultant_id(store, &consultant).await?;
            let tz = settings.locale.tz();
            let now = chrono::Utc::now().with_timezone(&tz);
            let date = match day.as_deref() {
                None => now.date_naive(),
                Some(d) => {
                    let with_time = format!("{d} 12:00");
                    crate::tracking::when::parse_when(&with_time, now)
                        .or_else(|_| crate::tracking::when::parse_when(d, now))?
                        .date_naive()
                }
            };
            let start = crate::tracking::schedule::first_instant_at_or_after(
                tz,
                date.and_hms_opt(0, 0, 0).unwrap_or_default(),
            )
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
            let q = crate::store::TaskQuery {
                consultant_id: Some(id),
                from_ms: Some(start),
                to_ms: Some(start + 24 * 3600 * 1000),
                limit: 500,
                ..Default::default()
            };
            let page = store.list_tasks(&q).await?;
            let total: i64 = page.items.iter().filter_map(|t| t.realised_ms).sum();
            for t in &page.items {
                println!("{}", show_task(t));
            }
            println!(
                "{} task(s), {} min realised on {date}",
                page.total,
                total / 60_000
            );
        }
        TaskCommand::Categories => {
            for c in store.categories().await? {
                println!("{}{}", c.name, if c.builtin { "" } else { " (added)" });
            }
        }
    }
    Ok(())
}

async fn contact_command(
    store: &crate::store::Store,
    settings: &Settings,
    cmd: ContactCommand,
) -> anyhow::Result<()> {
    use crate::tracking::service;
    let new = |a: &ContactArgs, consultant: i64, provider, protocol| service::NewContact {
        channel: a.channel.clone(),
        consultant_id: consultant,
        provider_id: provider,
        protocol_id: protocol,
        notes: a.notes.clone(),
        ..Default::default()
    };
    let show = |c: &crate::store::Contact| {
        format!(
            "contact #{} {} {} {} → {}{}",
            c.id,
            c.channel,
            c.status,
            c.started_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            c.ended_at
                .map(|t| t.format("%H:%M:%S").to_string())
                .unwrap_or_else(|| "…".into()),
            c.duration_ms
                .map(|d| format!(" ({} min)", d / 60_000))
                .unwrap_or_default()
        )
    };
    match cmd {
        ContactCommand::Start(a) => {
            let consultant = consultant_id(store, &a.consultant).await?;
            let provider = provider_id(store, settings, a.provider.as_deref()).await?;
            let protocol = protocol_id(store, a.protocol.as_deref()).await?;
            let at = when(settings, a.at.as_deref())?;
            let (started, stopped) = service::start_contact(
                store,
                new(&a, consultant, provider, protocol),
                at,
                &cli_actor(&a.consultant),
            )
            .await?;
            if let Some(s) = stopped {
                println!("ended {}", show(&s));
            }
            println!("started {}", show(&started));
        }
        ContactCommand::Stop { consultant, at } => {
            let id = consultant_id(store, &consultant).await?;
            let at = when(settings, at.as_deref())?;
            let c = service::stop_contact(store, id, None, at, &cli_actor(&consultant)).await?;
            println!("ended {}", show(&c));
        }
        ContactCommand::Add { contact: a, until } => {
            let consultant = consultant_id(store, &a.consultant).await?;
            let provider = provider_id(store, settings, a.provider.as_deref()).await?;
            let protocol = protocol_id(store, a.protocol.as_deref()).await?;
            let mut n = new(&a, consultant, provider, protocol);
            n.started_at_ms = Some(when(settings, a.at.as_deref())?);
            n.ended_at_ms = Some(when(settings, Some(&until))?);
            let c = service::add_contact(store, n, &cli_actor(&a.consultant)).await?;
            println!("added {}", show(&c));
        }
    }
    Ok(())
}

/// A dialplan that does not load stops `report` and `schedule`: without it
/// they would count holidays as working days, silently.
fn dialplan_refused(
    settings: &Settings,
    errors: &[crate::routing::dialplan::DialplanError],
) -> anyhow::Error {
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    anyhow::anyhow!(
        "the dialplan in {} does not load ({} error(s)); the report and the schedule need its \
         business hours and holidays. Fix it (`protocall check`) and run again:\n{}",
        settings.routing.dialplans.display(),
        errors.len(),
        list.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly_format(args: &[&str]) -> Result<ReportFormat, clap::Error> {
        let argv = ["protocall", "report", "weekly"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Report(ReportCommand::Weekly { format, .. }) => Ok(format),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn report_formats_are_the_enums_names_and_html_by_default() {
        assert_eq!(weekly_format(&[]).unwrap(), ReportFormat::Html);
        for &f in ReportFormat::ALL {
            assert_eq!(weekly_format(&["--format", f.as_str()]).unwrap(), f);
        }
    }

    #[test]
    fn an_unknown_report_format_is_a_clap_error_listing_the_formats() {
        let e = weekly_format(&["--format", "pdf"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::InvalidValue);
        let text = e.to_string();
        for name in ReportFormat::NAMES {
            assert!(text.contains(name), "{text}");
        }
    }
}
