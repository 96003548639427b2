//! The weekly report checked by tools outside the crate, for
//! `tests/reports/report_weekly.rs`: the page in headless Chromium and axe-core
//! (when the environment names them), an SMTP sink that takes the Monday
//! mail, and lettre's own encoding of a subject to compare a received one
//! with; and the seeded weeks' helpers (`seed`).

#![allow(dead_code)]

pub mod seed;

/// Loads the page in headless Chromium when `PROTOCALL_TEST_CHROMIUM`
/// names it (CI does); the parsed page must hold the three charts as SVG
/// and a phone-width screenshot must come out.
pub fn check_in_chromium(html: &str) {
    let Some(bin) = std::env::var("PROTOCALL_TEST_CHROMIUM")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!("PROTOCALL_TEST_CHROMIUM not set: the Chromium check is skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, html).unwrap();
    if let Ok(keep) = std::env::var("PROTOCALL_TEST_KEEP_HTML") {
        std::fs::write(keep, html).unwrap();
    }
    let url = format!("file://{}", page.display());
    let run = |args: &[&str]| {
        std::process::Command::new(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
            ])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{bin} cannot run: {e}"))
    };
    let dom = run(&["--dump-dom", &url]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    for chart in ["hours", "demand", "trend"] {
        let at = dom
            .find(&format!("data-chart=\"{chart}\""))
            .unwrap_or_else(|| panic!("chart {chart} not in the rendered page"));
        let svg_open = dom[..at].rfind("<svg").expect("inside an <svg>");
        assert!(dom[svg_open..].contains("</svg>"));
    }
    assert_eq!(
        dom.matches("<section id=\"item-").count(),
        10,
        "the ten items"
    );
    check_with_axe(&bin, &url);
    let shot = dir.path().join("phone.png");
    let out = run(&[
        "--window-size=390,844",
        &format!("--screenshot={}", shot.display()),
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}

/// Runs axe-core's command line on the page when `PROTOCALL_TEST_AXE` names
/// it (`npm install -g @axe-core/cli`), with `PROTOCALL_TEST_CHROMEDRIVER`
/// naming the driver of the same version as `chromium`: no accessibility
/// violation may be found.
fn check_with_axe(chromium: &str, url: &str) {
    let Some(axe) = std::env::var("PROTOCALL_TEST_AXE")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!("PROTOCALL_TEST_AXE not set: the axe-core check is skipped");
        return;
    };
    let driver = std::env::var("PROTOCALL_TEST_CHROMEDRIVER")
        .expect("PROTOCALL_TEST_AXE needs PROTOCALL_TEST_CHROMEDRIVER");
    let out = std::process::Command::new(&axe)
        .args([url, "--exit", "--chromedriver-path", &driver])
        .args(["--chrome-path", chromium])
        .arg("--chrome-options=no-sandbox,disable-gpu,disable-dev-shm-usage")
        .output()
        .unwrap_or_else(|e| panic!("{axe} cannot run: {e}"));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A local SMTP sink: takes one message and hands back what it received.
pub async fn smtp_sink() -> (u16, tokio::task::JoinHandle<(Vec<String>, String)>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut lines = BufReader::new(r).lines();
        w.write_all(b"220 sink ESMTP\r\n").await.unwrap();
        let mut rcpt = Vec::new();
        let mut data = String::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                w.write_all(b"250 sink\r\n").await.unwrap();
            } else if upper.starts_with("MAIL FROM") {
                w.write_all(b"250 ok\r\n").await.unwrap();
            } else if upper.starts_with("RCPT TO") {
                rcpt.push(line.clone());
                w.write_all(b"250 ok\r\n").await.unwrap();
            } else if upper == "DATA" {
                w.write_all(b"354 go on\r\n").await.unwrap();
                while let Some(l) = lines.next_line().await.unwrap() {
                    if l == "." {
                        break;
                    }
                    data.push_str(&l);
                    data.push('\n');
                }
                w.write_all(b"250 queued\r\n").await.unwrap();
            } else if upper == "QUIT" {
                w.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                w.write_all(b"250 ok\r\n").await.unwrap();
            }
        }
        (rcpt, data)
    });
    (port, task)
}

/// The `Subject` header (continuation lines included, as the sink joins
/// them) lettre writes for `subject`.
pub fn subject_line(subject: &str) -> String {
    let m = lettre::Message::builder()
        .from("a@b.example".parse().unwrap())
        .to("c@d.example".parse().unwrap())
        .subject(subject)
        .body(String::new())
        .unwrap();
    let raw = String::from_utf8(m.formatted())
        .unwrap()
        .replace("\r\n", "\n");
    let at = raw.find("Subject: ").unwrap();
    let mut lines = raw[at..].lines();
    let mut out = lines.next().unwrap().to_string();
    for l in lines.take_while(|l| l.starts_with(' ') || l.starts_with('\t')) {
        out.push('\n');
        out.push_str(l);
    }
    out
}
