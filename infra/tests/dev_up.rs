//! `portal-dev up` as a user runs it: the built binary, its stdout
//! contract (`LISTENING=`, `ADMIN_TOKEN=`, `REMINDERS_SENT=` …), the API it
//! serves, and Ctrl-C leaving no process behind (moto included).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portal_infra::dev::procs;

const BIN: &str = env!("CARGO_BIN_EXE_portal-dev");
/// Start-up includes a full sync against moto, which is slow on a loaded
/// 2-core machine (and may install the moto venv on a fresh clone).
const START_TIMEOUT: Duration = Duration::from_secs(900);

struct Running {
    child: Child,
    lines: BTreeMap<String, String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed assertion must not leave the runner (and moto) behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> (Child, std::sync::Arc<std::sync::Mutex<String>>) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn portal-dev");
    let err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut pipe = child.stderr.take().expect("stderr");
    let sink = err.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("stderr lock")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (child, err)
}

/// Starts `portal-dev up` and reads stdout until the "Press Ctrl-C" line.
fn start(args: &[&str]) -> Running {
    let (mut child, stderr) = spawn(args);
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut run = Running {
        child,
        lines: BTreeMap::new(),
        stderr,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if line.starts_with("Press Ctrl-C") {
                    return run;
                }
                if let Some((k, v)) = line.split_once('=') {
                    if k.chars()
                        .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
                    {
                        run.lines.insert(k.to_string(), v.to_string());
                    }
                }
            }
            Err(e) => panic!(
                "portal-dev did not come up ({e:?}); stdout so far: {:?}\nstderr:\n{}",
                run.lines,
                run.stderr.lock().expect("stderr lock")
            ),
        }
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn up_serves_reports_dashboards_and_mail_then_stops_cleanly() {
    let mut run = start(&["up", "--port", "0", "--as-of", "2026-11-23", "--seed", "7"]);
    let get = |k: &str| {
        run.lines
            .get(k)
            .cloned()
            .unwrap_or_else(|| panic!("no {k}= line in {:?}", run.lines))
    };
    let base = get("LISTENING");
    let admin = get("ADMIN_TOKEN");
    let sent: u64 = get("REMINDERS_SENT")
        .parse()
        .expect("REMINDERS_SENT is a number");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(admin.len() >= 32, "admin token looks random and long");
    assert!(sent > 0, "reminders were sent");

    // Everything the runner started, while it runs: moto at least.
    let pid = run.child.id();
    let started: BTreeSet<u32> = procs::descendants(pid);
    assert!(
        started
            .iter()
            .any(|p| procs::cmdline(*p).contains("moto_server")),
        "moto runs under portal-dev: {:?}",
        started
            .iter()
            .map(|p| procs::cmdline(*p))
            .collect::<Vec<_>>()
    );

    let http = reqwest::Client::new();
    let r = http
        .get(format!("{base}/api/reports/leaderboard"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("leaderboard");
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    let body: serde_json::Value = r.json().await.expect("JSON");
    let rows = body["data"].as_array().expect("data rows");
    assert!(!rows.is_empty(), "leaderboard has rows: {body}");

    // Without a token: 401, so the 200 above really was the admin token.
    let r = http
        .get(format!("{base}/api/reports/leaderboard"))
        .send()
        .await
        .expect("anonymous");
    assert_eq!(r.status(), 401);

    let link = get("PARTNER_LINK_1");
    let r = http.get(&link).send().await.expect("dashboard");
    assert_eq!(r.status(), 200, "{link}");
    let ct = r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("text/html"), "{ct}");

    // One-time sign-in links: each signs in once (a session cookie and a
    // redirect to the home page), then never again.
    for var in ["ADMIN_SIGN_IN_URL", "PAM_SIGN_IN_URL"] {
        let url = get(var);
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // Opening it shows a "Sign in" button; only its POST uses the link.
        let r = no_redirect.get(&url).send().await.expect("sign-in link");
        assert_eq!(r.status(), 200, "{var}");
        let r = no_redirect.post(&url).send().await.expect("sign-in link");
        assert_eq!(r.status(), 303, "{var}");
        assert!(r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("portal_session="));
        let again = no_redirect.post(&url).send().await.expect("sign-in link");
        assert_eq!(again.status(), 400, "{var} works once");
    }

    let mail = http
        .get(format!("{base}/dev/mail"))
        .send()
        .await
        .expect("mail page")
        .text()
        .await
        .expect("mail text");
    assert!(
        mail.contains(&format!("{sent} e-mail(s)")),
        "mail page lists what was sent: {}",
        &mail[..mail.len().min(400)]
    );

    // Ctrl-C: the runner exits and takes every process it started along.
    // SAFETY: plain syscall on our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let status = wait_exit(&mut run.child, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("portal-dev still running 30 s after SIGINT"));
    assert!(
        status.code().is_some(),
        "exited by itself, not killed: {status}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left: Vec<u32> = started
        .iter()
        .copied()
        .filter(|p| procs::alive(*p))
        .collect();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left.retain(|p| procs::alive(*p));
    }
    assert!(
        left.is_empty(),
        "processes left behind: {:?}",
        left.iter().map(|p| procs::cmdline(*p)).collect::<Vec<_>>()
    );
    let r = http.get(format!("{base}/health")).send().await;
    assert!(r.is_err(), "the API port is closed");
}

#[test]
fn busy_port_fails_fast_with_a_friendly_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let (mut child, stderr) = spawn(&["up", "--port", &port]);
    let status = wait_exit(&mut child, Duration::from_secs(30)).expect("exits quickly");
    assert_eq!(status.code(), Some(1));
    // Give the stderr reader a moment to catch the last line.
    std::thread::sleep(Duration::from_millis(100));
    let err = stderr.lock().expect("stderr lock").clone();
    assert!(err.contains("--port 0"), "{err}");
    assert!(procs::descendants(child.id()).is_empty());
}

#[test]
fn bad_flags_are_reported_by_name() {
    let (mut child, stderr) = spawn(&["up", "--as-of", "yesterday"]);
    let status = wait_exit(&mut child, Duration::from_secs(30)).expect("exits");
    assert_ne!(status.code(), Some(0));
    std::thread::sleep(Duration::from_millis(100));
    let err = stderr.lock().expect("stderr lock").clone();
    assert!(err.contains("--as-of"), "{err}");
}
