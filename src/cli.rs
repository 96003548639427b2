//! The command line: `protocall serve | migrate | check | import |
//! consultant add | consultant presence | token create`. Errors surface as `anyhow` here only,
//! at the binary's edge.

use std::io::{BufRead, IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::app::{open_store, shutdown_signal, Application};
use crate::config::Settings;
use crate::directory::NewConsultant;
use crate::http::consultants::consultant_record;
use crate::http::lookup::run_import;
use crate::http::AppState;
use crate::metrics::Metrics;

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
        /// CSV file with a header row (see README for the columns).
        file: PathBuf,
    },
    /// Manage consultants.
    #[command(subcommand)]
    Consultant(ConsultantCommand),
    /// Manage admin API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
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
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        #[arg(long)]
        name: String,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Check => {
            println!("configuration OK: {}", describe(&settings));
            let dir = &settings.routing.dialplans;
            match crate::routing::dialplan::load_dir(dir, settings.locale.tz()) {
                Ok(plan) => {
                    println!(
                        "dialplan OK: {} ({} rules)",
                        dir.display(),
                        plan.rule_names().count()
                    );
                    Ok(())
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
            let report = run_import(&state, &data)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
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
            };
            let record = consultant_record(&new, &settings.sip.realm)
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let c = state.store.create_consultant(&record).await?;
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
        Command::Token(TokenCommand::Create { name }) => {
            let store = open_store(&settings).await?;
            let token = store.create_token(&name).await?;
            store.close().await;
            eprintln!("token `{name}` created; it is shown only once:");
            println!("{token}");
            Ok(())
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
