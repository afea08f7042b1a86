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

use axum::http::StatusCode;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Server, ServerOptions};

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

    /// The scripted fault of the request counted under `key`, if any.
    pub fn scripted(&mut self, key: &str) -> Option<FaultAction> {
        self.script.next(key)
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
