//! `protocall token create | list | revoke | feed` and `consultant role`
//! as an operator uses them, checked against the database they write; and
//! the audit trail of a CLI write made for a consultant.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use protocall::directory::Role;
use protocall::store::{Store, TokenCheck, TokenKind};

const BIN: &str = env!("CARGO_BIN_EXE_protocall");

struct Cli {
    dir: tempfile::TempDir,
    cfg: String,
}

impl Cli {
    fn new() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("protocall.toml");
        std::fs::write(
            &path,
            format!(
                "[store]\nurl = \"sqlite://{0}/db/protocall.db\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
                 [tracking]\njournal_dir = \"{0}/journal\"\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let cfg = path.display().to_string();
        Cli { dir, cfg }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(BIN)
            .args(args)
            .args(["--config", &self.cfg])
            .env_remove("DATABASE_URL")
            .env("USER", "opsuser")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut input = child.stdin.take().unwrap();
            if let Some(s) = stdin {
                input.write_all(s.as_bytes()).unwrap();
            }
        }
        child.wait_with_output().unwrap()
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs a command that must fail (1, or 2 for a usage error); returns
    /// its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            matches!(out.status.code(), Some(1 | 2)),
            "{args:?} should fail: {:?}",
            out.status
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    async fn store(&self) -> Store {
        Store::connect(
            &format!("sqlite://{}/db/protocall.db", self.dir.path().display()),
            1,
            chrono_tz::UTC,
        )
        .await
        .unwrap()
    }
}

async fn valid(store: &Store, token: &str) -> protocall::store::VerifiedToken {
    match store.verify_token(token).await.unwrap() {
        TokenCheck::Valid(v) => v,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tokens_from_the_command_line() {
    let cli = Cli::new();
    cli.ok(&["migrate"]);
    let out = cli.run(
        &["consultant", "add", "--name", "Ana", "--username", "ana"],
        Some("s3cret-pass\n"),
    );
    assert!(out.status.success());

    // Without a role: an ownerless admin token, by position or by --name.
    let bot = cli.ok(&["token", "create", "deploy-bot"]);
    let ops = cli.ok(&["token", "create", "--name", "ops"]);
    let ana = cli.ok(&[
        "token",
        "create",
        "ana-cli",
        "--role",
        "consultant",
        "--owner",
        "ana",
        "--expires",
        "30",
    ]);
    assert!(cli
        .fails(&["token", "create", "x", "--role", "manager"])
        .contains("owner"));
    assert!(cli
        .fails(&["token", "create", "x", "--role", "admin", "--owner", "ana"])
        .contains("more rights"));
    assert!(cli
        .fails(&["token", "create", "x", "--role", "root"])
        .contains("root"));
    assert!(cli
        .fails(&[
            "token",
            "create",
            "x",
            "--owner",
            "nobody",
            "--role",
            "consultant"
        ])
        .contains("nobody"));
    cli.fails(&["token", "create", "x", "--expires", "0"]);

    let store = cli.store().await;
    let v = valid(&store, &bot).await;
    assert_eq!(
        (v.role, v.consultant_id, v.kind),
        (Role::Admin, None, TokenKind::Api)
    );
    assert_eq!(valid(&store, &ops).await.name, "ops");
    let v = valid(&store, &ana).await;
    assert_eq!(v.role, Role::Consultant);
    assert_eq!(v.owner.as_deref(), Some("ana"));
    let listed = store.list_tokens().await.unwrap();
    let expiring = listed.iter().find(|t| t.name == "ana-cli").unwrap();
    let days = (expiring.expires_at.unwrap() - expiring.created_at).num_days();
    assert!((29..=30).contains(&days), "{days}");

    // The list shows who and what, never a secret.
    let list = cli.ok(&["token", "list"]);
    for needle in [
        "deploy-bot",
        "ops",
        "ana-cli",
        "consultant",
        "ana",
        "active",
    ] {
        assert!(list.contains(needle), "{needle}: {list}");
    }
    for secret in [&bot, &ops, &ana] {
        assert!(!list.contains(secret.as_str()), "{list}");
    }

    // Revoke by name and by id.
    assert!(cli
        .ok(&["token", "revoke", "deploy-bot"])
        .contains("revoked"));
    let id = listed
        .iter()
        .find(|t| t.name == "ops")
        .unwrap()
        .id
        .to_string();
    cli.ok(&["token", "revoke", &id]);
    assert!(matches!(
        store.verify_token(&bot).await.unwrap(),
        TokenCheck::Revoked
    ));
    assert!(matches!(
        store.verify_token(&ops).await.unwrap(),
        TokenCheck::Revoked
    ));
    assert!(cli
        .fails(&["token", "revoke", "deploy-bot"])
        .contains("deploy-bot"));
    let list = cli.ok(&["token", "list"]);
    assert_eq!(list.matches("revoked").count(), 2, "{list}");

    // A feed token: its own kind, Ana's, and a new one revokes the old.
    let feed = cli.ok(&["token", "feed", "ana"]);
    let v = valid(&store, &feed).await;
    assert_eq!((v.kind, v.consultant_id), (TokenKind::Feed, Some(1)));
    let renewed = cli.ok(&["token", "feed", "ana"]);
    assert!(matches!(
        store.verify_token(&feed).await.unwrap(),
        TokenCheck::Revoked
    ));
    valid(&store, &renewed).await;

    // Promoting Ana lets her hold a manager token.
    cli.fails(&[
        "token", "create", "ana-mgr", "--role", "manager", "--owner", "ana",
    ]);
    assert!(cli
        .ok(&["consultant", "role", "ana", "manager"])
        .contains("manager"));
    cli.ok(&[
        "token", "create", "ana-mgr", "--role", "manager", "--owner", "ana",
    ]);
    store.close().await;
}

#[tokio::test]
async fn cli_writes_for_a_consultant_are_admin_actions() {
    let cli = Cli::new();
    cli.ok(&["migrate"]);
    let out = cli.run(
        &["consultant", "add", "--name", "Ana", "--username", "ana"],
        Some("s3cret-pass\n"),
    );
    assert!(out.status.success());
    cli.ok(&[
        "task",
        "start",
        "--consultant",
        "ana",
        "--category",
        "documentation",
    ]);
    let store = cli.store().await;
    let tasks = store
        .list_tasks(&protocall::store::TaskQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let audit = store.audit_trail("task", tasks.items[0].id).await.unwrap();
    assert_eq!(audit[0].actor, "cli-admin:opsuser for ana");
    store.close().await;
}
