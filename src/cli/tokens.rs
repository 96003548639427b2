//! `protocall token create | list | revoke | feed`: tokens from the
//! server's shell, written straight to the store (the daemon need not run).

use anyhow::bail;
use clap::Subcommand;

use crate::directory::Role;
use crate::store::{NewToken, Store, TokenInfo};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; it is printed once and stored only as a hash.
    /// Without --role it is an admin token (what every token used to be).
    Create {
        /// The token's name (e.g. deploy-bot, ana-laptop).
        #[arg(value_name = "NAME", required_unless_present = "name_flag")]
        name: Option<String>,
        /// The name, as earlier versions took it.
        #[arg(long = "name", value_name = "NAME", conflicts_with = "name")]
        name_flag: Option<String>,
        /// admin, manager or consultant; manager and consultant tokens need
        /// --owner, and no token gets more than its owner's role.
        #[arg(long, default_value = "admin")]
        role: Role,
        /// The consultant (SIP username) whose rights the token carries and
        /// whom the audit trail names.
        #[arg(long, value_name = "USERNAME")]
        owner: Option<String>,
        /// Days until it stops working (default: never).
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires: Option<u32>,
    },
    /// Every token (never a secret): id, name, kind, role, owner, status.
    List,
    /// Revoke a token by id or by name; it answers 401 from then on.
    Revoke {
        #[arg(value_name = "ID|NAME")]
        token: String,
    },
    /// Issue a consultant's calendar-feed token (read-only, their feed
    /// only), revoking the one they had; prints the token and the URL path.
    Feed {
        /// The consultant's SIP username.
        username: String,
    },
}

pub async fn run(store: &Store, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            name,
            name_flag,
            role,
            owner,
            expires,
        } => {
            let Some(name) = name.or(name_flag) else {
                bail!("a token needs a name");
            };
            let consultant_id = match owner.as_deref() {
                Some(u) => Some(super::consultant_id(store, u).await?),
                None => None,
            };
            let expires_at_ms = expires
                .map(|d| chrono::Utc::now().timestamp_millis() + i64::from(d) * 24 * 3600 * 1000);
            let (info, token) = store
                .create_api_token(
                    &NewToken {
                        name,
                        role,
                        consultant_id,
                        expires_at_ms,
                    },
                    &super::cli_admin(),
                )
                .await?;
            eprintln!(
                "token `{}` (id {}, {}{}) created; it is shown only once:",
                info.name,
                info.id,
                info.role,
                info.owner
                    .as_deref()
                    .map(|o| format!(" for {o}"))
                    .unwrap_or_default()
            );
            println!("{token}");
        }
        TokenCommand::List => {
            let tokens = store.list_tokens().await?;
            println!(
                "{:<5} {:<24} {:<5} {:<10} {:<16} {:<8} {:<16} {:<16}",
                "ID", "NAME", "KIND", "ROLE", "OWNER", "STATUS", "CREATED", "EXPIRES"
            );
            for t in &tokens {
                println!("{}", row(t));
            }
        }
        TokenCommand::Revoke { token } => {
            // An id when one matches, else a name: names like `42` stay
            // reachable by their id.
            let info = match token.parse::<i64>() {
                Ok(id) if store.get_token(id).await.is_ok() => {
                    store.revoke_token(id, &super::cli_admin()).await?
                }
                _ => {
                    store
                        .revoke_token_named(&token, &super::cli_admin())
                        .await?
                }
            };
            println!("token `{}` (id {}) revoked", info.name, info.id);
        }
        TokenCommand::Feed { username } => {
            let id = super::consultant_id(store, &username).await?;
            let (info, token) = store.create_feed_token(id).await?;
            eprintln!(
                "feed token `{}` (id {}) created; the previous one of {username}, if any, is \
                 revoked. Calendar URL path (after the daemon's http address):",
                info.name, info.id
            );
            eprintln!("{}", crate::http::tokens::feed_path(id, "<token>"));
            println!("{token}");
        }
    }
    Ok(())
}

fn row(t: &TokenInfo) -> String {
    let day = |d: &chrono::DateTime<chrono_tz::Tz>| d.format("%Y-%m-%d %H:%M").to_string();
    format!(
        "{:<5} {:<24} {:<5} {:<10} {:<16} {:<8} {:<16} {:<16}",
        t.id,
        t.name,
        t.kind.as_str(),
        t.role.as_str(),
        t.owner.as_deref().unwrap_or("-"),
        match t.status {
            crate::store::TokenStatus::Active => "active",
            crate::store::TokenStatus::Expired => "expired",
            crate::store::TokenStatus::Revoked => "revoked",
        },
        day(&t.created_at),
        t.expires_at
            .as_ref()
            .map(day)
            .unwrap_or_else(|| "never".into()),
    )
}
