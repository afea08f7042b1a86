//! Local AWS emulator: a `moto_server` (DynamoDB + SES v2 over real HTTP)
//! started from the project virtualenv `<repo>/.venv`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), portal_infra::emulator::EmulatorError> {
//! use portal_infra::emulator::Emulator;
//! let emu = Emulator::shared().await?; // one moto per test binary
//! let cfg = emu.sdk_config().await;    // endpoint + dummy keys + us-east-1
//! # let _ = cfg; Ok(()) }
//! ```
//!
//! Process hygiene (no orphaned moto servers, even when a test panics or the
//! test binary is killed):
//! - moto runs in its own process group, and dropping an [`Emulator`] kills
//!   that whole group and reaps it;
//! - the child is spawned from a dedicated thread with
//!   `PR_SET_PDEATHSIG = SIGKILL`. The kernel sends that signal when the
//!   *spawning thread* ends, which is why spawning happens on a thread that
//!   lives exactly as long as the `Emulator` (for [`Emulator::shared`]: as long
//!   as the process — statics are never dropped, so this is what stops it).
//!
//! We use `std::process` instead of `tokio::process` on purpose: the shared
//! instance outlives the per-test tokio runtimes of `#[tokio::test]`, and a
//! tokio child is bound to the runtime that spawned it.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::Value;
use tokio::sync::OnceCell;

/// Region every local test uses; SES identities are per region in moto, so
/// senders and `SendEmail` must agree on it.
pub const REGION: &str = "us-east-1";

/// How long we wait for a fresh moto to answer HTTP (it usually takes
/// ~0.5 s; a cold Python import cache on CI can take several seconds).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("could not prepare the moto virtualenv ({script}): {detail}")]
    Venv { script: String, detail: String },
    #[error("could not start moto_server: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("moto_server on {endpoint} did not become ready: {detail}")]
    NotReady { endpoint: String, detail: String },
    #[error("emulator HTTP call failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("unexpected emulator answer: {0}")]
    Unexpected(String),
}

pub type Result<T, E = EmulatorError> = std::result::Result<T, E>;

/// An e-mail moto recorded for `SendEmail` (from `/moto-api/data.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct SentEmail {
    pub id: String,
    pub source: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub body: String,
    /// The record exactly as moto reported it, for assertions on fields we
    /// do not model (moto's shape may grow between versions).
    pub raw: Value,
}

/// An IAM user's access key in the emulator.
#[derive(Clone)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A running moto server. Dropping it stops the server.
pub struct Emulator {
    port: u16,
    endpoint: String,
    pid: u32,
    /// Dropping this sender tells the keeper thread to kill moto.
    stop: Option<mpsc::Sender<()>>,
    keeper: Option<JoinHandle<()>>,
    log: PathBuf,
}

static SHARED: OnceCell<Emulator> = OnceCell::const_new();

impl Emulator {
    /// Starts a private moto server on a free 127.0.0.1 port and waits until
    /// it answers HTTP. Installs the pinned moto into `.venv` first if needed.
    pub async fn start() -> Result<Emulator> {
        let moto = tokio::task::spawn_blocking(ensure_venv)
            .await
            .map_err(|e| EmulatorError::Unexpected(format!("venv task failed: {e}")))??;
        // The free-port probe can race with other test binaries picking the
        // same port; moto then dies at bind time, and we simply try again.
        let mut last = None;
        for _ in 0..3 {
            let emu = spawn(&moto)?;
            match emu.wait_ready().await {
                Ok(()) => {
                    // The log only matters for diagnosing start-up. Unlinking
                    // it now means nothing is left in /tmp even for the shared
                    // instance, which is never dropped; moto keeps writing to
                    // the unlinked file until it exits.
                    let _ = fs::remove_file(&emu.log);
                    return Ok(emu);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| EmulatorError::Unexpected("no start attempt".into())))
    }

    /// One emulator per test binary (started on first use). Tests that share
    /// it must isolate themselves by unique table names / recipients and
    /// must not call [`Emulator::reset`].
    pub async fn shared() -> Result<&'static Emulator> {
        SHARED.get_or_try_init(Emulator::start).await
    }

    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id of the moto server (also its process-group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// SDK configuration pointing at this emulator: endpoint override,
    /// static dummy credentials, region us-east-1. Nothing is read from the
    /// developer's AWS profile that could redirect calls to real AWS.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .test_credentials()
            .load()
            .await
    }

    /// Environment variables a child process (e.g. a Lambda under
    /// `cargo lambda watch`) needs to talk to this emulator.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_DEFAULT_REGION", REGION.into()),
        ]
    }

    /// SDK configuration signing as `credentials` (an IAM user's access
    /// key, see [`Emulator::create_iam_user`]) instead of the dummy keys.
    pub async fn sdk_config_as(&self, credentials: &AccessKey) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(aws_credential_types::Credentials::new(
                credentials.id.clone(),
                credentials.secret.clone(),
                None,
                None,
                "portal-emulator-iam",
            ))
            .load()
            .await
    }

    /// Switches IAM enforcement on or off for every later call (moto's
    /// `INITIAL_NO_AUTH_ACTION_COUNT`, reset through `/moto-api/reset-auth`).
    /// While on, a call is allowed only when signed by an access key of an
    /// IAM user whose policies allow the action on the resource; the dummy
    /// keys of [`Emulator::sdk_config`] are then rejected. The setting is
    /// global to this server: tests that switch it need an emulator (or a
    /// test binary) of their own.
    pub async fn enforce_iam(&self, on: bool) -> Result<()> {
        http()?
            .post(format!("{}/moto-api/reset-auth", self.endpoint))
            .body(if on { "0" } else { "inf" })
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Creates IAM user `name` with one inline policy (`policy`, an IAM
    /// policy document) and returns its new access key. Must run while
    /// enforcement is off (it is the set-up the enforced calls are checked
    /// against).
    pub async fn create_iam_user(&self, name: &str, policy: &Value) -> Result<AccessKey> {
        let policy = policy.to_string();
        self.iam_call(&[("Action", "CreateUser"), ("UserName", name)])
            .await?;
        self.iam_call(&[
            ("Action", "PutUserPolicy"),
            ("UserName", name),
            ("PolicyName", "function-policy"),
            ("PolicyDocument", &policy),
        ])
        .await?;
        let xml = self
            .iam_call(&[("Action", "CreateAccessKey"), ("UserName", name)])
            .await?;
        let field = |tag: &str| {
            xml.split_once(&format!("<{tag}>"))
                .and_then(|(_, rest)| rest.split_once(&format!("</{tag}>")))
                .map(|(v, _)| v.trim().to_string())
                .ok_or_else(|| EmulatorError::Unexpected(format!("no {tag} in {xml}")))
        };
        Ok(AccessKey {
            id: field("AccessKeyId")?,
            secret: field("SecretAccessKey")?,
        })
    }

    /// Creates S3 bucket `name` (idempotent in moto's us-east-1). Unsigned,
    /// like [`Emulator::create_iam_user`]: set-up, not a call under test.
    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        let resp = http()?
            .put(format!("{}/{name}", self.endpoint))
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/s3/aws4_request, SignedHeaders=host, Signature=0"
                ),
            )
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(EmulatorError::Unexpected(format!(
                "CreateBucket {name}: {status}: {body}"
            )));
        }
        Ok(())
    }

    /// One IAM Query API call. Unsigned: moto routes it by the credential
    /// scope of the Authorization header and checks no signature while
    /// enforcement is off.
    async fn iam_call(&self, params: &[(&str, &str)]) -> Result<String> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .append_pair("Version", "2010-05-08")
            .finish();
        let resp = http()?
            .post(&self.endpoint)
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/iam/aws4_request, SignedHeaders=host, Signature=0"
                ),
            )
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            return Err(EmulatorError::Unexpected(format!(
                "IAM {params:?}: {status}: {body}"
            )));
        }
        Ok(body)
    }

    /// Clears every table, identity and message (`POST /moto-api/reset`).
    pub async fn reset(&self) -> Result<()> {
        http()?
            .post(format!("{}/moto-api/reset", self.endpoint))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Everything moto holds, as `/moto-api/data.json` reports it.
    pub async fn data(&self) -> Result<Value> {
        Ok(http()?
            .get(format!("{}/moto-api/data.json", self.endpoint))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Messages accepted by SES `SendEmail`, oldest first.
    pub async fn sent_emails(&self) -> Result<Vec<SentEmail>> {
        let data = self.data().await?;
        let messages = match data.pointer("/ses/Message") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(m)) => m,
            Some(other) => {
                return Err(EmulatorError::Unexpected(format!(
                    "ses.Message is not an array: {other}"
                )))
            }
        };
        Ok(messages.iter().map(parse_email).collect())
    }

    async fn wait_ready(&self) -> Result<()> {
        let client = http()?;
        let url = format!("{}/moto-api/data.json", self.endpoint);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if !process_alive(self.pid) {
                return Err(EmulatorError::NotReady {
                    endpoint: self.endpoint.clone(),
                    detail: format!("moto exited; log tail:\n{}", log_tail(&self.log)),
                });
            }
            if let Ok(resp) = client.get(&url).send().await {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(EmulatorError::NotReady {
                    endpoint: self.endpoint.clone(),
                    detail: format!("timed out; log tail:\n{}", log_tail(&self.log)),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Closing the channel wakes the keeper, which kills the process
        // group and reaps the child; joining makes the stop synchronous so a
        // test binary never exits with a half-dead server behind it.
        drop(self.stop.take());
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
        let _ = fs::remove_file(&self.log);
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("endpoint", &self.endpoint)
            .field("pid", &self.pid)
            .finish()
    }
}

fn http() -> Result<reqwest::Client> {
    // No idle pool: the shared emulator is used from many short-lived
    // per-test runtimes, and a pooled connection from a dead runtime fails.
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()?)
}

fn repo_root() -> PathBuf {
    // infra/ is one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs `infra/scripts/emulator-venv.sh` (idempotent, flock-protected) and
/// returns the path of `moto_server`.
fn ensure_venv() -> Result<PathBuf> {
    let root = repo_root();
    let script = root.join("infra/scripts/emulator-venv.sh");
    let venv = std::env::var_os("PORTAL_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv"));
    let out = Command::new("bash")
        .arg(&script)
        .env("PORTAL_VENV", &venv)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| EmulatorError::Venv {
            script: script.display().to_string(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(EmulatorError::Venv {
            script: script.display().to_string(),
            detail: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
        });
    }
    Ok(venv.join("bin/moto_server"))
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(EmulatorError::Spawn)?;
    Ok(listener.local_addr().map_err(EmulatorError::Spawn)?.port())
}

fn spawn(moto: &Path) -> Result<Emulator> {
    let port = free_port()?;
    let log = std::env::temp_dir().join(format!("portal-moto-{}-{}.log", std::process::id(), port));
    let log_file = fs::File::create(&log).map_err(EmulatorError::Spawn)?;
    let log_err = log_file.try_clone().map_err(EmulatorError::Spawn)?;

    // moto's own server, started through a launcher that makes partition
    // Queries read only their partition (see the script for why).
    let mut cmd = Command::new(moto.with_file_name("python"));
    cmd.arg(repo_root().join("infra/scripts/moto_server_fast.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        // Own process group: Drop kills the group, covering anything moto forks.
        .process_group(0);
    // SAFETY: the closure only calls async-signal-safe libc functions
    // (prctl, getppid) between fork and exec, as `pre_exec` requires.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() == 1 {
                return Err(std::io::Error::other("parent exited during spawn"));
            }
            Ok(())
        });
    }

    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (pid_tx, pid_rx) = mpsc::channel::<std::io::Result<u32>>();
    let keeper = std::thread::Builder::new()
        .name(format!("moto-{port}"))
        .spawn(move || keep(cmd, pid_tx, stop_rx))
        .map_err(EmulatorError::Spawn)?;
    let pid = match pid_rx.recv() {
        Ok(Ok(pid)) => pid,
        Ok(Err(e)) => {
            let _ = keeper.join();
            return Err(EmulatorError::Spawn(e));
        }
        Err(_) => {
            let _ = keeper.join();
            return Err(EmulatorError::Unexpected("keeper thread died".into()));
        }
    };
    Ok(Emulator {
        port,
        endpoint: format!("http://127.0.0.1:{port}"),
        pid,
        stop: Some(stop_tx),
        keeper: Some(keeper),
        log,
    })
}

/// Body of the keeper thread: owns the child for its whole life.
fn keep(mut cmd: Command, pid_tx: mpsc::Sender<std::io::Result<u32>>, stop: mpsc::Receiver<()>) {
    let mut child: Child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = pid_tx.send(Err(e));
            return;
        }
    };
    let pid = child.id();
    let _ = pid_tx.send(Ok(pid));
    // Blocks until the Emulator is dropped (sender closed). For the shared
    // instance that never happens; the process exit then ends this thread
    // and PDEATHSIG stops moto.
    let _ = stop.recv();
    if let Ok(pgid) = i32::try_from(pid) {
        // SAFETY: plain syscall; negative pid addresses the process group
        // created by `process_group(0)`, whose id equals the child's pid.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // A zombie still answers kill(0); /proc tells us it is dead ('Z').
    // SAFETY: signal 0 only checks existence/permission.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    if !exists {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

fn log_tail(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn parse_email(m: &Value) -> SentEmail {
    let dest = m.get("destinations");
    let field = |name: &str| dest.and_then(|d| d.get(name));
    SentEmail {
        id: text(m.get("id")),
        source: text(m.get("source")),
        to: strings(field("ToAddresses")),
        cc: strings(field("CcAddresses")),
        bcc: strings(field("BccAddresses")),
        subject: text(m.get("subject")),
        body: text(m.get("body")),
        raw: m.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_moto_message_shape() {
        let m = serde_json::json!({
            "id": "abc", "source": "noreply@example.com",
            "destinations": {"ToAddresses": ["a@x.io"], "CcAddresses": [], "BccAddresses": ["b@x.io"]},
            "subject": "Expiring", "body": "<p>hi</p>"
        });
        let e = parse_email(&m);
        assert_eq!(e.id, "abc");
        assert_eq!(e.to, vec!["a@x.io"]);
        assert_eq!(e.bcc, vec!["b@x.io"]);
        assert!(e.cc.is_empty());
        assert_eq!(e.subject, "Expiring");
        assert_eq!(e.body, "<p>hi</p>");
    }

    #[test]
    fn dead_pid_is_not_alive() {
        let mut child = Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!process_alive(pid));
        assert!(process_alive(std::process::id()));
    }
}
