//! Faults and limits of one server: latency + jitter, a token-bucket rate
//! limit answering 429 + `Retry-After`, injected 5xx, truncated bodies and
//! hangs — all drawn from a seeded RNG so the same sequence of requests
//! meets the same faults. (Concurrent clients interleave requests
//! differently from run to run; reproducibility is per request order.)
//!
//! For tests that must meet a given fault whatever the timing, a
//! [`FaultScript`] names them outright: "the 3rd request to
//! `GET /v2/people` answers 503", "every transcript request from the 5th
//! on hangs". Scripted faults come before the random ones and the rate
//! limit, and are counted in the same statistics.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Server, ServerOptions};
use crate::sim::state::Shared;
use std::sync::Arc;

/// Classic token bucket: `capacity` tokens, refilled at `rate`/s.
struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: u32) -> Self {
        let capacity = f64::from(burst.max(1));
        TokenBucket {
            rate,
            capacity,
            tokens: capacity,
            last: Instant::now(),
        }
    }

    /// `Ok` when a token was taken, else the whole seconds until one is there
    /// (at least 1: `Retry-After` is an integer and 0 would invite a spin).
    fn take(&mut self, now: Instant) -> Result<(), u64> {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.rate;
            Err((wait.ceil() as u64).max(1))
        }
    }
}

/// What a scripted fault does to the request it hits.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer this status (429 gets a `Retry-After` of `retry_after`s).
    Status { code: u16, retry_after: Option<u64> },
    /// Wait this long, then answer 504 (a client timeout fires first).
    Hang(Duration),
    /// Wait this long, then serve normally.
    Delay(Duration),
    /// Serve the first half of the body.
    Truncate,
}

/// One scripted fault: requests whose `"METHOD /route/template"` (as in
/// [`ServerStats::requests`](crate::sim::ServerStats)) contains `route`
/// are counted from 1; those numbered `from ..= from + times - 1` meet
/// `action`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedFault {
    pub route: String,
    pub from: u64,
    /// `u64::MAX` = every later request too.
    pub times: u64,
    pub action: FaultAction,
}

impl ScriptedFault {
    /// The `n`th matching request (1-based) meets `action`.
    pub fn nth(route: &str, n: u64, action: FaultAction) -> Self {
        ScriptedFault {
            route: route.to_string(),
            from: n,
            times: 1,
            action,
        }
    }

    /// The `n`th matching request and every later one meet `action`.
    pub fn from_nth(route: &str, n: u64, action: FaultAction) -> Self {
        ScriptedFault {
            times: u64::MAX,
            ..ScriptedFault::nth(route, n, action)
        }
    }

    /// Requests `n ..= n + times - 1` meet `action`.
    pub fn run(route: &str, n: u64, times: u64, action: FaultAction) -> Self {
        ScriptedFault {
            times,
            ..ScriptedFault::nth(route, n, action)
        }
    }
}

/// The faults one server meets, request by request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultScript {
    pub faults: Vec<ScriptedFault>,
    /// How many requests each fault's route has seen.
    seen: Vec<u64>,
}

impl FaultScript {
    pub fn new(faults: Vec<ScriptedFault>) -> Self {
        let seen = vec![0; faults.len()];
        FaultScript { faults, seen }
    }

    /// Counts `key` against every fault and returns the first that hits.
    fn next(&mut self, key: &str) -> Option<FaultAction> {
        let mut hit = None;
        for (f, n) in self.faults.iter().zip(self.seen.iter_mut()) {
            if key.contains(&f.route) {
                *n += 1;
                let last = f.from.saturating_add(f.times.saturating_sub(1));
                if hit.is_none() && (f.from..=last).contains(n) {
                    hit = Some(f.action.clone());
                }
            }
        }
        hit
    }
}

impl super::Sims {
    /// Replaces the scripted faults of `server` (the random ones of its
    /// [`ServerOptions`] stay; `set_options` clears the script).
    pub fn script_faults(&self, server: Server, faults: Vec<ScriptedFault>) {
        self.shared
            .server(server)
            .faults
            .lock()
            .expect("faults lock")
            .script = FaultScript::new(faults);
    }
}

pub(crate) struct FaultState {
    opts: ServerOptions,
    rng: ChaCha8Rng,
    bucket: Option<TokenBucket>,
    script: FaultScript,
}

/// What happens to one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    RateLimited {
        retry_after: u64,
    },
    Serve {
        delay: Duration,
        hang: bool,
        fail_5xx: Option<StatusCode>,
        malformed: bool,
    },
}

impl FaultState {
    pub fn new(opts: ServerOptions) -> Self {
        let bucket = opts
            .rate_limit
            .filter(|r| *r > 0.0)
            .map(|r| TokenBucket::new(r, opts.burst));
        FaultState {
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
            bucket,
            opts,
            script: FaultScript::default(),
        }
    }

    pub fn options(&self) -> &ServerOptions {
        &self.opts
    }

    pub fn decide(&mut self, now: Instant) -> Decision {
        if let Some(b) = &mut self.bucket {
            if let Err(retry_after) = b.take(now) {
                return Decision::RateLimited { retry_after };
            }
        }
        // Always draw the same number of values so one fault's probability
        // does not shift the others' sequence.
        let jitter_frac: f64 = self.rng.random();
        let r_hang: f64 = self.rng.random();
        let r_5xx: f64 = self.rng.random();
        let r_code: u32 = self.rng.random_range(0..3);
        let r_bad: f64 = self.rng.random();
        let o = &self.opts;
        Decision::Serve {
            delay: o.latency + o.jitter.mul_f64(jitter_frac),
            hang: r_hang < o.p_hang,
            fail_5xx: (r_5xx < o.p_5xx).then(|| {
                [
                    StatusCode::INTERNAL_SERVER_ERROR,
                    StatusCode::BAD_GATEWAY,
                    StatusCode::SERVICE_UNAVAILABLE,
                ][r_code as usize]
            }),
            malformed: r_bad < o.p_malformed,
        }
    }
}

/// Per-request context of the API middleware.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub server: Server,
}

/// The API middleware (a `route_layer`, so the matched route template is
/// known): count, authenticate, rate-limit, inject faults, maybe cut the body.
/// Auth comes before the bucket because the limit is "per key".
pub(crate) async fn api_layer(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "UNMATCHED".to_string());
    let key = format!("{} {}", req.method(), route);
    let srv = ctx.shared.server(ctx.server);
    {
        let mut st = srv.stats();
        *st.requests.entry(key.clone()).or_default() += 1;
        st.total_requests += 1;
    }
    if let Some(resp) = authenticate(&ctx, &req) {
        srv.stats().unauthorized += 1;
        return resp;
    }
    let scripted = srv.faults.lock().expect("faults lock").script.next(&key);
    if let Some(action) = scripted {
        match action {
            FaultAction::Status { code, retry_after } => {
                let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if code == StatusCode::TOO_MANY_REQUESTS {
                    srv.stats().rate_limited += 1;
                    let mut resp = rate_limited(ctx.server, retry_after.unwrap_or(1));
                    if retry_after.is_none() {
                        resp.headers_mut().remove(header::RETRY_AFTER);
                    }
                    return resp;
                }
                srv.stats().injected_5xx += 1;
                return server_error(ctx.server, code);
            }
            FaultAction::Hang(d) => {
                srv.stats().hangs += 1;
                tokio::time::sleep(d).await;
                return (StatusCode::GATEWAY_TIMEOUT, "upstream timed out").into_response();
            }
            FaultAction::Delay(d) => {
                tokio::time::sleep(d).await;
                return next.run(req).await;
            }
            FaultAction::Truncate => {
                srv.stats().malformed += 1;
                let resp = next.run(req).await;
                return truncate(resp).await;
            }
        }
    }
    let decision = srv
        .faults
        .lock()
        .expect("faults lock")
        .decide(Instant::now());
    let (delay, hang, fail_5xx, malformed) = match decision {
        Decision::RateLimited { retry_after } => {
            srv.stats().rate_limited += 1;
            return rate_limited(ctx.server, retry_after);
        }
        Decision::Serve {
            delay,
            hang,
            fail_5xx,
            malformed,
        } => (delay, hang, fail_5xx, malformed),
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if hang {
        srv.stats().hangs += 1;
        let hang_for = srv.faults.lock().expect("faults lock").options().hang;
        tokio::time::sleep(hang_for).await;
        // What a load balancer answers once its own upstream timeout fires.
        return (StatusCode::GATEWAY_TIMEOUT, "upstream timed out").into_response();
    }
    if let Some(code) = fail_5xx {
        srv.stats().injected_5xx += 1;
        return server_error(ctx.server, code);
    }
    let resp = next.run(req).await;
    if malformed {
        srv.stats().malformed += 1;
        return truncate(resp).await;
    }
    resp
}

/// `None` when the request carries the right credentials, else the 401.
fn authenticate(ctx: &Ctx, req: &Request) -> Option<Response> {
    let h = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let keys = &ctx.shared.keys;
    match ctx.server {
        Server::Northpass => {
            if h("x-api-key") == Some(keys.northpass_key.as_str()) {
                None
            } else {
                Some(super::northpass::error(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "missing or invalid X-Api-Key",
                ))
            }
        }
        Server::Impartner => {
            let want = format!("prm-key {}", keys.impartner_key);
            let auth_ok = h("authorization") == Some(want.as_str());
            let tenant_ok = h("x-prm-tenantid") == Some(keys.impartner_tenant.as_str());
            if auth_ok && tenant_ok {
                None
            } else {
                Some(super::impartner::failure(
                    StatusCode::UNAUTHORIZED,
                    "Invalid API key or tenant (Authorization: prm-key <key>, X-PRM-TenantId)",
                ))
            }
        }
    }
}

fn rate_limited(server: Server, retry_after: u64) -> Response {
    let mut resp = match server {
        Server::Northpass => super::northpass::error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "rate limit exceeded",
        ),
        Server::Impartner => {
            super::impartner::failure(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded")
        }
    };
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&retry_after.to_string()).expect("digits"),
    );
    resp
}

/// Real 5xx bodies are not always the API's JSON: a 502/503 from the edge is
/// HTML, so clients must not assume they can parse an error body.
fn server_error(server: Server, code: StatusCode) -> Response {
    if code == StatusCode::INTERNAL_SERVER_ERROR {
        match server {
            Server::Northpass => {
                super::northpass::error(code, "Internal Server Error", "injected fault")
            }
            Server::Impartner => super::impartner::failure(code, "An unexpected error occurred"),
        }
    } else {
        let html = format!(
            "<html><body><h1>{} {}</h1></body></html>",
            code.as_u16(),
            code.canonical_reason().unwrap_or("")
        );
        (code, [(header::CONTENT_TYPE, "text/html")], html).into_response()
    }
}

/// Keep status and headers, serve only the first half of the body. Any
/// proper prefix of a JSON object/array is unparseable. Content-Length is
/// recomputed: a lying length would make hyper abort the connection, which
/// is a different fault (a connection reset), not a truncated document.
async fn truncate(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let cut = bytes.slice(0..bytes.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let mut b = TokenBucket::new(2.0, 3);
        let t0 = b.last;
        assert!(b.take(t0).is_ok());
        assert!(b.take(t0).is_ok());
        assert!(b.take(t0).is_ok());
        assert_eq!(b.take(t0), Err(1));
        assert!(b.take(t0 + Duration::from_millis(500)).is_ok());
        assert!(b.take(t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn same_seed_same_faults() {
        let opts = ServerOptions {
            p_5xx: 0.3,
            p_malformed: 0.3,
            jitter: Duration::from_millis(50),
            seed: 7,
            ..Default::default()
        };
        let now = Instant::now();
        let mut a = FaultState::new(opts.clone());
        let mut b = FaultState::new(opts);
        let da: Vec<_> = (0..50).map(|_| a.decide(now)).collect();
        let db: Vec<_> = (0..50).map(|_| b.decide(now)).collect();
        assert_eq!(da, db);
        assert!(da.iter().any(|d| matches!(
            d,
            Decision::Serve {
                fail_5xx: Some(_),
                ..
            }
        )));
    }

    #[test]
    fn script_hits_exactly_the_numbered_requests() {
        let mut s = FaultScript::new(vec![
            ScriptedFault::nth("GET /v2/people", 2, FaultAction::Truncate),
            ScriptedFault::run("transcripts", 2, 2, FaultAction::Hang(Duration::ZERO)),
        ]);
        let got: Vec<Option<FaultAction>> = [
            "GET /v2/people",
            "GET /v2/transcripts/{id}",
            "GET /v2/people",
            "GET /v2/transcripts/{id}",
            "GET /v2/people",
            "GET /v2/transcripts/{id}",
            "GET /v2/transcripts/{id}",
        ]
        .iter()
        .map(|k| s.next(k))
        .collect();
        let hang = Some(FaultAction::Hang(Duration::ZERO));
        assert_eq!(
            got,
            vec![
                None,
                None,
                Some(FaultAction::Truncate),
                hang.clone(),
                None,
                hang,
                None
            ]
        );
        let mut forever =
            FaultScript::new(vec![ScriptedFault::from_nth("", 3, FaultAction::Truncate)]);
        let hits = (0..10).filter(|_| forever.next("GET /x").is_some()).count();
        assert_eq!(hits, 8);
    }
}
