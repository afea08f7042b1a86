//! A small AWS Lambda **Runtime API** emulator, so a built function binary
//! (`target/debug/reports`, `target/debug/sync`, …) can be run exactly as
//! Lambda runs it: the binary polls `GET /2018-06-01/runtime/invocation/next`,
//! handles the event and posts `…/{id}/response` or `…/{id}/error`.
//!
//! Why our own instead of `cargo lambda watch`: `watch` rebuilds the crate
//! it serves (and loops if anything writes inside it), needs the
//! cargo-lambda venv, and hides the process, so it cannot measure cold
//! start. This emulator is ~300 lines over axum, starts in milliseconds, and
//! exposes what tests and benchmarks need: the time from process spawn to
//! the first `/next` poll (cold-start init), per-invocation durations, and
//! the function's own log output.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use portal_infra::dev::lambda_rie::{LocalLambda, RuntimeApi};
//! let rie = RuntimeApi::start().await?;
//! let mut lambda = LocalLambda::spawn("target/debug/sync".as_ref(), &rie, "sync", &[])?;
//! let init = lambda.wait_ready(std::time::Duration::from_secs(10)).await?;
//! let out = lambda.invoke(&serde_json::json!({"task": "lms-courses"})).await?;
//! # let _ = (init, out); Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;

/// Lambda's synchronous payload limit; a bigger response fails in AWS too,
/// so failing here keeps the local run honest.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// What the server reads of a posted answer: enough to see that a response
/// is over [`MAX_PAYLOAD`] and fail the invocation as Lambda does, instead
/// of refusing the upload and leaving the invocation hanging.
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Lambda's error type for a response over the limit (the invoke fails;
/// API Gateway answers 502 for it).
pub const RESPONSE_TOO_LARGE: &str = "Function.ResponseSizeTooLarge";
/// Lines of function output kept for error messages.
const LOG_LINES: usize = 400;

#[derive(Debug, thiserror::Error)]
pub enum RieError {
    #[error("runtime API server: {0}")]
    Io(#[from] std::io::Error),
    #[error("function process {name} exited ({status}) {context}; last output:\n{log}")]
    Exited {
        name: String,
        status: String,
        context: &'static str,
        log: String,
    },
    #[error("function reported an init error: {0}")]
    InitError(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("runtime API emulator stopped")]
    Stopped,
    #[error("invocation failed: {error_type}: {message}")]
    Function { error_type: String, message: String },
    #[error("bad function response: {0}")]
    BadResponse(String),
}

/// What the function posted for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST …/response`: the raw response payload.
    Response(Bytes),
    /// `POST …/error`: the error document (`errorType`, `errorMessage`).
    Error(Value),
}

/// One finished invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub outcome: Outcome,
    /// From handing the event to the function (its `/next` returned) to its
    /// answer: the billed duration, without queueing.
    pub duration: Duration,
}

impl Invocation {
    /// The response payload as JSON, or the function error as an error.
    pub fn json(&self) -> Result<Value, RieError> {
        match &self.outcome {
            Outcome::Response(b) => serde_json::from_slice(b)
                .map_err(|e| RieError::BadResponse(format!("not JSON ({e}): {}", lossy(b)))),
            Outcome::Error(v) => Err(RieError::Function {
                error_type: text(v.get("errorType")),
                message: text(v.get("errorMessage")),
            }),
        }
    }
}

/// Where the answer to one invocation goes, and when it was handed out.
type Answer = oneshot::Sender<(Outcome, Instant)>;

struct Pending {
    request_id: String,
    event: Bytes,
    deadline: Duration,
    done: Answer,
}

struct Shared {
    queue: Mutex<VecDeque<Pending>>,
    queued: Notify,
    in_flight: Mutex<HashMap<String, (Answer, Instant)>>,
    polls: AtomicU64,
    first_poll: Mutex<Option<Instant>>,
    polled: Notify,
    init_error: Mutex<Option<Value>>,
    function_arn: String,
}

/// The Runtime API endpoint. Dropping it stops the server; one emulator
/// serves one function process at a time (like one Lambda sandbox).
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    seq: AtomicU64,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RuntimeApi {
    /// Binds 127.0.0.1 on a free port and starts serving.
    pub async fn start() -> Result<RuntimeApi, RieError> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            queued: Notify::new(),
            in_flight: Mutex::new(HashMap::new()),
            polls: AtomicU64::new(0),
            first_poll: Mutex::new(None),
            polled: Notify::new(),
            init_error: Mutex::new(None),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:local".into(),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(shared.clone());
        let (stop, mut rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "runtime API emulator failed");
            }
        });
        Ok(RuntimeApi {
            addr,
            shared,
            seq: AtomicU64::new(0),
            stop,
            task: Some(task),
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// How many times the function asked for work (`/next`).
    pub fn polls(&self) -> u64 {
        self.shared.polls.load(Ordering::SeqCst)
    }

    /// When the function first asked for work: the end of its init phase.
    pub fn first_poll(&self) -> Option<Instant> {
        *self.shared.first_poll.lock().expect("first_poll lock")
    }

    /// The document the function posted to `/init/error`, if any.
    pub fn init_error(&self) -> Option<Value> {
        self.shared.init_error.lock().expect("init lock").clone()
    }

    /// Waits until the function has polled `/next` once.
    pub async fn wait_first_poll(&self, timeout: Duration) -> Result<Instant, RieError> {
        let deadline = Instant::now() + timeout;
        loop {
            // Register interest before checking, so a poll between the check
            // and the await is not lost.
            let notified = self.shared.polled.notified();
            if let Some(t) = self.first_poll() {
                return Ok(t);
            }
            if let Some(e) = self.init_error() {
                return Err(RieError::InitError(e.to_string()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RieError::Timeout(timeout));
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), notified).await;
        }
    }

    /// Queues `event` with a deadline of `budget` from when the function
    /// receives it, and waits (up to `budget` + 5 s) for the function's
    /// answer. The function must be running (see [`LocalLambda`]).
    pub async fn invoke(&self, event: &Value, budget: Duration) -> Result<Invocation, RieError> {
        let rx = self.enqueue(event, budget)?;
        let wait = budget + Duration::from_secs(5);
        tokio::time::timeout(wait, rx.1)
            .await
            .map_err(|_| RieError::Timeout(wait))?
            .map(|(outcome, started)| Invocation {
                request_id: rx.0,
                outcome,
                duration: started.elapsed(),
            })
            .map_err(|_| RieError::Stopped)
    }

    fn enqueue(
        &self,
        event: &Value,
        budget: Duration,
    ) -> Result<(String, oneshot::Receiver<(Outcome, Instant)>), RieError> {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let request_id = format!("{:08x}-0000-4000-8000-{:012x}", std::process::id(), n);
        let (tx, rx) = oneshot::channel();
        let body = serde_json::to_vec(event).map_err(|e| RieError::BadResponse(e.to_string()))?;
        self.shared
            .queue
            .lock()
            .expect("queue lock")
            .push_back(Pending {
                request_id: request_id.clone(),
                event: Bytes::from(body),
                deadline: budget,
                done: tx,
            });
        self.shared.queued.notify_one();
        Ok((request_id, rx))
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            // A function blocked in `/next` would hold graceful shutdown open.
            t.abort();
        }
    }
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    if s.polls.fetch_add(1, Ordering::SeqCst) == 0 {
        *s.first_poll.lock().expect("first_poll lock") = Some(Instant::now());
    }
    s.polled.notify_waiters();
    // Long poll, as the real API does: the function blocks here between
    // invocations.
    let p = loop {
        let notified = s.queued.notified();
        if let Some(p) = s.queue.lock().expect("queue lock").pop_front() {
            break p;
        }
        notified.await;
    };
    let deadline_ms = SystemTime::now()
        .checked_add(p.deadline)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis())
        .unwrap_or_default();
    s.in_flight
        .lock()
        .expect("in_flight lock")
        .insert(p.request_id.clone(), (p.done, Instant::now()));
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    put("lambda-runtime-aws-request-id", p.request_id);
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        s.function_arn.clone(),
    );
    put(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    put("content-type", "application/json".into());
    (StatusCode::OK, headers, p.event).into_response()
}

fn finish(s: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match s.in_flight.lock().expect("in_flight lock").remove(id) {
        Some((tx, started)) => {
            let _ = tx.send((outcome, started));
            StatusCode::ACCEPTED
        }
        // The real API answers 400 for an unknown or already answered id.
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(s): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    if body.len() > MAX_PAYLOAD {
        let doc = json!({
            "errorType": RESPONSE_TOO_LARGE,
            "errorMessage": format!(
                "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_PAYLOAD} bytes).",
                body.len()
            ),
        });
        return match finish(&s, &id, Outcome::Error(doc)) {
            StatusCode::ACCEPTED => StatusCode::PAYLOAD_TOO_LARGE,
            other => other,
        };
    }
    finish(&s, &id, Outcome::Response(body))
}

async fn error(
    State(s): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    finish(&s, &id, Outcome::Error(error_doc(&headers, &body)))
}

async fn init_error(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    *s.init_error.lock().expect("init lock") = Some(error_doc(&headers, &body));
    s.polled.notify_waiters();
    StatusCode::ACCEPTED
}

fn error_doc(headers: &HeaderMap, body: &Bytes) -> Value {
    let mut v: Value =
        serde_json::from_slice(body).unwrap_or_else(|_| json!({"errorMessage": lossy(body)}));
    if v.get("errorType").is_none() {
        if let Some(t) = headers
            .get("lambda-runtime-function-error-type")
            .and_then(|h| h.to_str().ok())
        {
            v["errorType"] = Value::String(t.to_string());
        }
    }
    v
}

/// A function binary running against a [`RuntimeApi`], in its own process
/// group; killed (with anything it forked) on drop, and by the kernel if
/// the spawning process dies (`PR_SET_PDEATHSIG`).
pub struct LocalLambda<'a> {
    rie: &'a RuntimeApi,
    name: String,
    child: Child,
    spawned: Instant,
    log: Arc<Mutex<VecDeque<String>>>,
    /// Invocation budget handed to the function as its deadline.
    pub timeout: Duration,
}

impl<'a> LocalLambda<'a> {
    /// Spawns `binary` with the environment Lambda gives a function
    /// (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, …) plus `env`.
    /// The parent's environment is *not* inherited except `PATH`/`HOME`/
    /// `RUST_LOG`, so the function sees only what a deployment would set.
    pub fn spawn(
        binary: &Path,
        rie: &'a RuntimeApi,
        name: &str,
        env: &[(String, String)],
    ) -> Result<LocalLambda<'a>, RieError> {
        let mut cmd = Command::new(binary);
        cmd.env_clear();
        for k in ["PATH", "HOME", "RUST_LOG", "RUST_BACKTRACE"] {
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
        cmd.env("AWS_LAMBDA_RUNTIME_API", rie.runtime_api())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_rust")
            .env(
                "LAMBDA_TASK_ROOT",
                binary.parent().unwrap_or(Path::new(".")),
            )
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let spawned = Instant::now();
        let mut child = cmd.spawn().map_err(|e| {
            std::io::Error::new(e.kind(), format!("spawning {}: {e}", binary.display()))
        })?;
        let log = Arc::new(Mutex::new(VecDeque::new()));
        // Drain both pipes on threads: a full pipe would block the function.
        if let Some(out) = child.stdout.take() {
            collect(out, log.clone());
        }
        if let Some(err) = child.stderr.take() {
            collect(err, log.clone());
        }
        Ok(LocalLambda {
            rie,
            name: name.to_string(),
            child,
            spawned,
            log,
            timeout: Duration::from_secs(60),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the first `/next` poll and returns the cold-start init time
    /// (process spawn → first poll).
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, RieError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive("before its first poll")?;
            match self.rie.wait_first_poll(Duration::from_millis(100)).await {
                Ok(t) => return Ok(t.saturating_duration_since(self.spawned)),
                Err(RieError::Timeout(_)) if Instant::now() < deadline => continue,
                Err(RieError::Timeout(_)) => return Err(RieError::Timeout(timeout)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Invokes the function with `event` and waits for its answer, failing
    /// early (with the function's output) if the process dies meanwhile.
    pub async fn invoke(&mut self, event: &Value) -> Result<Invocation, RieError> {
        let (request_id, mut rx) = self.rie.enqueue(event, self.timeout)?;
        let wait = self.timeout + Duration::from_secs(5);
        let deadline = Instant::now() + wait;
        loop {
            match tokio::time::timeout(Duration::from_millis(100), &mut rx).await {
                Ok(Ok((outcome, started))) => {
                    return Ok(Invocation {
                        request_id,
                        outcome,
                        duration: started.elapsed(),
                    })
                }
                Ok(Err(_)) => return Err(RieError::Stopped),
                Err(_) => {
                    self.check_alive("during an invocation")?;
                    if Instant::now() > deadline {
                        return Err(RieError::Timeout(wait));
                    }
                }
            }
        }
    }

    /// The function's stdout/stderr so far (last lines).
    pub fn output(&self) -> String {
        let log = self.log.lock().expect("log lock");
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn check_alive(&mut self, context: &'static str) -> Result<(), RieError> {
        if let Some(status) = self.child.try_wait()? {
            // Give the pipe threads a moment to capture the last words.
            std::thread::sleep(Duration::from_millis(50));
            return Err(RieError::Exited {
                name: self.name.clone(),
                status: status.to_string(),
                context,
                log: self.output(),
            });
        }
        Ok(())
    }
}

impl Drop for LocalLambda<'_> {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            // SAFETY: plain syscall on the group created by process_group(0).
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(pipe: impl std::io::Read + Send + 'static, log: Arc<Mutex<VecDeque<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut log = log.lock().expect("log lock");
            if log.len() == LOG_LINES {
                log.pop_front();
            }
            log.push_back(line);
        }
    });
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(2000)]).into_owned()
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// Where cargo put the workspace's binaries: `$CARGO_TARGET_DIR/<profile>`,
/// else derived from the running executable (`target/debug/deps/test-…` or
/// `target/debug/portal-dev`), else `<workspace>/target/debug`.
pub fn target_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            if dir.file_name().is_some_and(|n| n == "deps") {
                continue;
            }
            if dir.join(".fingerprint").is_dir() {
                return dir.to_path_buf();
            }
        }
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("debug");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug")
}

/// An API Gateway HTTP API (payload format 2.0) event, as API Gateway sends
/// it to the `reports` function for `method path?query`.
pub fn apigw_v2_event(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut hs = serde_json::Map::new();
    hs.insert(
        "host".into(),
        json!("local.execute-api.us-east-1.amazonaws.com"),
    );
    hs.insert("user-agent".into(), json!("portal-lambda-rie"));
    for (k, v) in headers {
        hs.insert(k.to_ascii_lowercase(), json!(v));
    }
    let mut qs = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        // API Gateway joins repeated keys with commas in payload 2.0.
        let joined = match qs.get(k.as_ref()).and_then(Value::as_str) {
            Some(prev) => format!("{prev},{v}"),
            None => v.into_owned(),
        };
        qs.insert(k.into_owned(), json!(joined));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let mut ev = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": hs,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "local.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "local",
            "http": {
                "method": method.to_ascii_uppercase(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "portal-lambda-rie"
            },
            "requestId": format!("local-{now}"),
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": now
        },
        "isBase64Encoded": false
    });
    if !qs.is_empty() {
        ev["queryStringParameters"] = Value::Object(qs);
    }
    if let Some(b) = body {
        ev["body"] = json!(b);
    }
    ev
}

/// A `reports` answer decoded from the API Gateway v2 response document.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpAnswer {
    pub status: u16,
    /// Lower-cased header names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn from_payload(v: &Value) -> Result<HttpAnswer, RieError> {
        let status = v
            .get("statusCode")
            .and_then(Value::as_u64)
            .ok_or_else(|| RieError::BadResponse(format!("no statusCode in {v}")))?;
        let mut headers = HashMap::new();
        if let Some(h) = v.get("headers").and_then(Value::as_object) {
            for (k, val) in h {
                headers.insert(k.to_ascii_lowercase(), text(Some(val)));
            }
        }
        let raw = v.get("body").and_then(Value::as_str).unwrap_or_default();
        let body = if v.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .map_err(|e| RieError::BadResponse(format!("body base64: {e}")))?
        } else {
            raw.as_bytes().to_vec()
        };
        Ok(HttpAnswer {
            status: status as u16,
            headers,
            body,
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays the function's side of the protocol with reqwest, so the
    /// emulator is tested without any built binary.
    #[tokio::test]
    async fn round_trip_response_and_error() {
        let rie = RuntimeApi::start().await.unwrap();
        let base = format!("http://{}/2018-06-01/runtime", rie.runtime_api());
        let fake = tokio::spawn(async move {
            let http = reqwest::Client::new();
            for _ in 0..2 {
                let r = http
                    .get(format!("{base}/invocation/next"))
                    .send()
                    .await
                    .unwrap();
                let id = r.headers()["lambda-runtime-aws-request-id"]
                    .to_str()
                    .unwrap()
                    .to_string();
                let deadline: u128 = r.headers()["lambda-runtime-deadline-ms"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let ev: Value = r.json().await.unwrap();
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis();
                assert!(deadline > now, "deadline in the future");
                if ev["fail"] == json!(true) {
                    let s = http
                        .post(format!("{base}/invocation/{id}/error"))
                        .json(&json!({"errorType": "Boom", "errorMessage": "nope"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(s.status(), 202);
                } else {
                    let s = http
                        .post(format!("{base}/invocation/{id}/response"))
                        .json(&json!({"echo": ev}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(s.status(), 202);
                    // A second answer for the same id is refused.
                    let again = http
                        .post(format!("{base}/invocation/{id}/response"))
                        .body("{}")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(again.status(), 400);
                }
            }
        });
        let ok = rie
            .invoke(&json!({"x": 1}), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(ok.json().unwrap(), json!({"echo": {"x": 1}}));
        assert!(rie.first_poll().is_some());
        let err = rie
            .invoke(&json!({"fail": true}), Duration::from_secs(5))
            .await
            .unwrap();
        match err.json() {
            Err(RieError::Function {
                error_type,
                message,
            }) => {
                assert_eq!((error_type.as_str(), message.as_str()), ("Boom", "nope"))
            }
            other => panic!("{other:?}"),
        }
        fake.await.unwrap();
    }

    /// A response over 6 MB fails the invocation (as in AWS); one at the
    /// limit goes through.
    #[tokio::test]
    async fn responses_over_six_megabytes_fail_the_invocation() {
        let rie = RuntimeApi::start().await.unwrap();
        let base = format!("http://{}/2018-06-01/runtime", rie.runtime_api());
        let fake = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut statuses = Vec::new();
            for size in [MAX_PAYLOAD, MAX_PAYLOAD + 1] {
                let r = http
                    .get(format!("{base}/invocation/next"))
                    .send()
                    .await
                    .unwrap();
                let id = r.headers()["lambda-runtime-aws-request-id"]
                    .to_str()
                    .unwrap()
                    .to_string();
                // A JSON string of exactly `size` bytes.
                let body = format!("\"{}\"", "x".repeat(size - 2));
                let s = http
                    .post(format!("{base}/invocation/{id}/response"))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                statuses.push(s.status().as_u16());
            }
            statuses
        });
        let at_limit = rie
            .invoke(&json!({}), Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(
            at_limit.json().unwrap().as_str().unwrap().len(),
            MAX_PAYLOAD - 2
        );
        let over = rie
            .invoke(&json!({}), Duration::from_secs(20))
            .await
            .unwrap();
        match over.json() {
            Err(RieError::Function {
                error_type,
                message,
            }) => {
                assert_eq!(error_type, RESPONSE_TOO_LARGE);
                assert!(
                    message.contains(&(MAX_PAYLOAD + 1).to_string()),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(fake.await.unwrap(), vec![202, 413]);
    }

    #[tokio::test]
    async fn dead_function_is_reported_with_its_output() {
        let rie = RuntimeApi::start().await.unwrap();
        let mut f = LocalLambda::spawn(Path::new("/bin/sh"), &rie, "sh", &[]).unwrap();
        // /bin/sh with stdin closed exits at once without polling.
        match f.wait_ready(Duration::from_secs(5)).await {
            Err(RieError::Exited { name, .. }) => assert_eq!(name, "sh"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn apigw_event_and_answer_shapes() {
        let ev = apigw_v2_event(
            "get",
            "/api/reports/leaderboard?tier=Premier&limit=5",
            &[("Authorization", "Bearer t")],
            None,
        );
        assert_eq!(ev["rawPath"], "/api/reports/leaderboard");
        assert_eq!(ev["rawQueryString"], "tier=Premier&limit=5");
        assert_eq!(ev["queryStringParameters"]["tier"], "Premier");
        assert_eq!(ev["headers"]["authorization"], "Bearer t");
        assert_eq!(ev["requestContext"]["http"]["method"], "GET");
        let a = HttpAnswer::from_payload(&json!({
            "statusCode": 200, "headers": {"Content-Type": "text/html"},
            "body": "aGk=", "isBase64Encoded": true
        }))
        .unwrap();
        assert_eq!((a.status, a.text().as_str()), (200, "hi"));
        assert_eq!(a.headers["content-type"], "text/html");
    }
}
