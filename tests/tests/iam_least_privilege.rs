//! Least privilege, proven: each function's real calls run signed as an IAM
//! user whose only permissions are the statements of that function's policy
//! in `template.yaml`, against the emulator with IAM enforcement on (moto
//! checks every call's action and, through `infra/scripts/moto_server_fast.py`,
//! the table, index, secret or SES identity it acts on).
//!
//! - sync: secrets at cold start, then every task full and incremental;
//! - reports: secrets, every route including every admin action, the
//!   portal's sign-in (attempt counter, session) and pages with reads of
//!   their own, and a large export (S3);
//! - reminders: the secret, an SES bounce from SNS (a suppression), the
//!   reminder run and the PAM digest;
//! - webhooks: the reports read the path secret and enqueue an event
//!   (`sqs:SendMessage`), the sync consumes it (`sqs:ReceiveMessage`,
//!   `DeleteMessage`) and applies it;
//! - and the converse: the same calls with one needed statement removed
//!   are refused, and the refused admin action leaves the partner as it was.
//!
//! - the sync's state machine: its role may invoke the sync function and
//!   nothing else, the sync may invoke no function (its continuations go
//!   through the state machine), and the reports' run-now may start only
//!   that state machine's executions (statements checked here; the loop
//!   itself runs in tests/tests/sync_state_machine.rs).
//!
//! Not covered here: the calls of `states:StartExecution` and
//! `lambda:InvokeFunction` themselves (they target deployed resources;
//! locally run-now and continuations run in-process) and CloudWatch Logs
//! (granted by SAM itself).
//!
//! Enforcement is global to the emulator, so the tests of this binary run
//! one at a time and switch it on only around the calls under test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};

use chrono::Duration;
use portal_core::access::unsubscribe_token;
use portal_core::config::{Secret, SecretRef};
use portal_core::mail::SesMailer;
use portal_core::secrets::Secrets;
use portal_core::store::Store;
use portal_e2e::{TestEnv, TestEnvOptions};
use portal_infra::emulator::{AccessKey, Emulator, REGION};
use portal_reports::local::{spawn, LocalServer};
use portal_reports::offload::Offload;
use portal_reports::{AppState, FnRunner, RunMode};
use portal_sync::{Mode, RunStatus, TaskName};
use reqwest::Method;
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

/// moto's default account.
const ACCOUNT: &str = "123456789012";
const STACK: &str = "portal-iam";
const ADMIN: &str = "iam-test-admin-token-0123456789abcdef";
const SENDER: &str = "reminders@iam.portal.test";
const HOOK_SECRET: &str = "iam-hook-path-secret";

static SERIAL: Mutex<()> = Mutex::const_new(());

// ---------------------------------------------------------------------------
// template.yaml → IAM policy documents
// ---------------------------------------------------------------------------

fn template() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(path).expect("read template.yaml");
    to_json(serde_norway::from_str(&text).expect("template.yaml is YAML"))
}

/// CloudFormation's short-form tags turned into their long forms.
fn to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => n.as_i64().map_or_else(|| json!(n.as_f64()), |i| json!(i)),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k.as_str().expect("string key").to_string(), to_json(v)))
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!').to_string();
            let inner = to_json(t.value);
            match (name.as_str(), inner) {
                ("Ref", v) => json!({ "Ref": v }),
                ("GetAtt", Value::String(s)) => {
                    let (res, attr) = s.split_once('.').expect("!GetAtt Resource.Attribute");
                    json!({ "Fn::GetAtt": [res, attr] })
                }
                (other, v) => json!({ format!("Fn::{other}"): v }),
            }
        }
    }
}

/// What the template's intrinsics resolve to in the emulator's account.
struct Stack {
    table: String,
    bucket: String,
    params: HashMap<String, String>,
}

impl Stack {
    fn table_arn(&self) -> String {
        format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}", self.table)
    }

    fn value_of(&self, name: &str) -> String {
        match name {
            "AWS::Partition" => "aws".into(),
            "AWS::Region" => REGION.into(),
            "AWS::AccountId" => ACCOUNT.into(),
            "AWS::StackName" => STACK.into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "PortalTable" => self.table.clone(),
            "PortalTable.Arn" => self.table_arn(),
            "ExportBucket" => self.bucket.clone(),
            "ExportBucket.Arn" => format!("arn:aws:s3:::{}", self.bucket),
            "SyncFunction.Arn" => {
                format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-sync")
            }
            "SyncStateMachine" => {
                format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-sync")
            }
            p => self
                .params
                .get(p)
                .cloned()
                .unwrap_or_else(|| panic!("template value {p} has no test binding")),
        }
    }

    fn condition(&self, t: &Value, name: &str) -> bool {
        let c = &t["Conditions"][name];
        let Some([a, b]) = c["Fn::Not"][0]["Fn::Equals"].as_array().map(Vec::as_slice) else {
            panic!("condition {name}: only !Not [!Equals [a, b]] is understood: {c}")
        };
        self.resolve(t, a) != self.resolve(t, b)
    }

    fn resolve(&self, t: &Value, v: &Value) -> Value {
        match v {
            Value::Object(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().unwrap();
                match k.as_str() {
                    "Ref" => json!(self.value_of(arg.as_str().expect("Ref name"))),
                    "Fn::GetAtt" => {
                        let res = arg[0].as_str().unwrap();
                        let attr = arg[1].as_str().unwrap();
                        json!(self.value_of(&format!("{res}.{attr}")))
                    }
                    "Fn::Sub" => {
                        let s = arg.as_str().expect("!Sub with a plain string");
                        let mut out = String::new();
                        let mut rest = s;
                        while let Some((before, after)) = rest.split_once("${") {
                            let (name, tail) = after.split_once('}').expect("closed ${");
                            out.push_str(before);
                            out.push_str(&self.value_of(name));
                            rest = tail;
                        }
                        out.push_str(rest);
                        json!(out)
                    }
                    "Fn::If" => {
                        let cond = arg[0].as_str().unwrap();
                        let branch = if self.condition(t, cond) { 1 } else { 2 };
                        self.resolve(t, &arg[branch])
                    }
                    _ => Value::Object(
                        m.iter()
                            .map(|(k, v)| (k.clone(), self.resolve(t, v)))
                            .collect(),
                    ),
                }
            }
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(t, v)))
                    .collect::<Map<_, _>>(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.resolve(t, x)).collect()),
            other => other.clone(),
        }
    }

    /// The statements of `function`'s `Policies`, resolved.
    fn statements(&self, t: &Value, function: &str) -> Vec<Value> {
        let policies = t["Resources"][function]["Properties"]["Policies"]
            .as_array()
            .unwrap_or_else(|| panic!("{function} has Policies"));
        policies
            .iter()
            .flat_map(|p| {
                p["Statement"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{function}: only inline Statement policies: {p}"))
                    .clone()
            })
            .map(|s| self.resolve(t, &s))
            .collect()
    }

    /// Secrets Manager ARNs the function's environment names.
    fn secret_arns(&self, t: &Value, function: &str) -> Vec<String> {
        let vars = &t["Resources"][function]["Properties"]["Environment"]["Variables"];
        vars.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.ends_with("_SECRET_ARN"))
                    .map(|(_, v)| self.resolve(t, v).as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn policy(statements: &[Value]) -> Value {
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// `statements` without `action` (a statement left empty is dropped).
fn without_action(statements: &[Value], action: &str) -> Vec<Value> {
    statements
        .iter()
        .filter_map(|s| {
            let mut s = s.clone();
            let kept: Vec<Value> = match &s["Action"] {
                Value::String(a) if a == action => Vec::new(),
                Value::String(a) => vec![json!(a)],
                Value::Array(a) => a.iter().filter(|x| *x != action).cloned().collect(),
                other => panic!("Action {other}"),
            };
            if kept.is_empty() {
                return None;
            }
            s["Action"] = json!(kept);
            Some(s)
        })
        .collect()
}

fn without_sid(statements: &[Value], sid: &str) -> Vec<Value> {
    let out: Vec<Value> = statements
        .iter()
        .filter(|s| s["Sid"] != sid)
        .cloned()
        .collect();
    assert_eq!(out.len() + 1, statements.len(), "statement {sid} exists");
    out
}

// ---------------------------------------------------------------------------
// The world: a synced table, the function's secrets, an IAM user
// ---------------------------------------------------------------------------

struct World {
    env: TestEnv,
    stack: Stack,
    template: Value,
}

/// Secret parameters of the template → secrets created in the emulator,
/// holding the values the harness configured directly.
async fn world(extra_env: &[(&str, &str)]) -> World {
    world_with(extra_env, true).await
}

/// `synced`: the table holds a full sync before the calls under test.
async fn world_with(extra_env: &[(&str, &str)], synced: bool) -> World {
    let emu = Emulator::shared().await.expect("emulator");
    emu.enforce_iam(false).await.expect("enforcement off");
    let env = TestEnv::start(TestEnvOptions {
        accounts: Some(3),
        env: extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..TestEnvOptions::default()
    })
    .await
    .expect("test env");
    if synced {
        env.sync_all(Mode::Full).await;
    }

    let sm = aws_sdk_secretsmanager::Client::new(&emu.sdk_config().await);
    let values = [
        ("NorthpassApiKeySecretArn", env.sims.northpass_key()),
        ("ImpartnerApiKeySecretArn", env.sims.impartner_key()),
        ("ImpartnerTenantSecretArn", env.sims.impartner_tenant()),
        ("AdminTokenSeedSecretArn", ADMIN.to_string()),
        (
            "UnsubscribeSigningKeySecretArn",
            "iam-unsub-key".to_string(),
        ),
        ("LinkKeySecretArn", "e2e-link-key".to_string()),
        ("HookSecretArn", HOOK_SECRET.to_string()),
    ];
    let mut params = HashMap::new();
    for (param, value) in values {
        let name = format!("{}-{param}", env.table);
        let out = sm
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("create secret");
        params.insert(param.to_string(), out.arn().unwrap().to_string());
    }
    let bucket = format!("{}-exports", env.table);
    emu.create_bucket(&bucket).await.expect("export bucket");
    // The webhook queue (reports sends, sync consumes).
    let queue_name = format!("{}-hooks", env.table);
    let queue_url = aws_sdk_sqs::Client::new(&emu.sdk_config().await)
        .create_queue()
        .queue_name(&queue_name)
        .send()
        .await
        .expect("webhook queue")
        .queue_url()
        .expect("queue url")
        .to_string();
    params.insert("WebhookQueue".into(), queue_url);
    params.insert(
        "WebhookQueue.Arn".into(),
        format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}"),
    );
    params.insert("SenderIdentity".into(), SENDER.into());
    params.insert("SesConfigurationSet".into(), String::new());
    params.insert("MailConfigurationSet".into(), format!("{STACK}-mail"));
    World {
        stack: Stack {
            table: env.table.clone(),
            bucket,
            params,
        },
        env,
        template: template(),
    }
}

impl World {
    fn statements(&self, function: &str) -> Vec<Value> {
        self.stack.statements(&self.template, function)
    }

    async fn user(&self, name: &str, statements: &[Value]) -> aws_config::SdkConfig {
        let emu = self.env.emulator;
        let key: AccessKey = emu
            .create_iam_user(&format!("{}-{name}", self.env.table), &policy(statements))
            .await
            .expect("IAM user");
        emu.sdk_config_as(&key).await
    }

    async fn enforce(&self, on: bool) {
        self.env.emulator.enforce_iam(on).await.expect("switch IAM");
    }

    /// Every secret the function's environment names, read as the function.
    async fn read_secrets(&self, function: &str, sdk: &aws_config::SdkConfig) {
        let secrets = Secrets::from_sdk_config(sdk);
        let arns = self.stack.secret_arns(&self.template, function);
        assert!(!arns.is_empty(), "{function} reads secrets");
        for arn in arns {
            secrets
                .resolve(&SecretRef::SecretArn(arn.clone()))
                .await
                .unwrap_or_else(|e| panic!("{function} reads {arn}: {e}"));
        }
    }
}

// ---------------------------------------------------------------------------
// sync
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_runs_every_task_with_only_its_template_policy() {
    let _serial = SERIAL.lock().await;
    let w = world(&[]).await;
    let sdk = w.user("sync", &w.statements("SyncFunction")).await;
    let mut deps = w.env.deps.clone();
    deps.store = Store::from_sdk_config(&sdk, w.env.table.clone());
    // The next day: the set-up's sync took today's history snapshot.
    let tomorrow = (w.env.now + Duration::days(1)).to_rfc3339();
    deps.config = w.env.config_with(&[("PORTAL_NOW", &tomorrow)]).unwrap();

    w.enforce(true).await;
    w.read_secrets("SyncFunction", &sdk).await;
    let mut runs = Vec::new();
    for mode in [Mode::Full, Mode::Incremental] {
        runs.extend(portal_sync::run_all(&deps, mode, None).await);
    }
    w.enforce(false).await;

    assert_eq!(runs.len(), 2 * TaskName::ALL.len());
    for s in &runs {
        assert_eq!(s.status, RunStatus::Succeeded, "{s:#?}");
        // The daily history snapshot after crm-push runs under it too.
        assert!(s.details.get("history_error").is_none(), "{s:#?}");
    }
    assert!(
        runs.iter()
            .any(|s| s.details.get("history_points").is_some()),
        "the first crm-push wrote the day's history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_without_its_batch_writes_is_denied() {
    let _serial = SERIAL.lock().await;
    // An empty table: the first course sync has every course to write.
    let w = world_with(&[], false).await;
    let statements = without_action(&w.statements("SyncFunction"), "dynamodb:BatchWriteItem");
    let sdk = w.user("sync-no-batch", &statements).await;
    let mut deps = w.env.deps.clone();
    deps.store = Store::from_sdk_config(&sdk, w.env.table.clone());

    w.enforce(true).await;
    let s = portal_sync::run_to_completion(&deps, TaskName::LmsCourses, Mode::Full, None).await;
    w.enforce(false).await;
    assert_ne!(s.status, RunStatus::Succeeded, "{s:#?}");
    assert!(format!("{s:?}").contains("AccessDenied"), "{s:#?}");
}

/// Long runs go through the state machine: the sync may invoke no
/// function, the state machine only the sync, and the reports' run-now
/// may only start that state machine's executions.
#[test]
fn continuations_and_run_now_go_through_the_state_machine_only() {
    let t = template();
    let stack = Stack {
        table: "portal-table".into(),
        bucket: "portal-exports".into(),
        params: [
            "NorthpassApiKeySecretArn",
            "ImpartnerApiKeySecretArn",
            "ImpartnerTenantSecretArn",
            "AdminTokenSeedSecretArn",
            "UnsubscribeSigningKeySecretArn",
            "LinkKeySecretArn",
            "HookSecretArn",
        ]
        .into_iter()
        .map(|p| {
            let arn = format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{p}-AbCdEf");
            (p.to_string(), arn)
        })
        .chain([
            (
                "WebhookQueue.Arn".to_string(),
                format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-webhooks"),
            ),
            ("SenderIdentity".to_string(), SENDER.to_string()),
            ("SesConfigurationSet".to_string(), String::new()),
            ("MailConfigurationSet".to_string(), format!("{STACK}-mail")),
        ])
        .collect(),
    };
    let sync_arn = stack.value_of("SyncFunction.Arn");
    let machine_arn = stack.value_of("SyncStateMachine");
    // The fixed names the ARNs above stand for.
    let name_of = |res: &str, field: &str| {
        stack
            .resolve(&t, &t["Resources"][res]["Properties"][field])
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(
        name_of("SyncFunction", "FunctionName"),
        sync_arn.rsplit(':').next().map(str::to_string)
    );
    assert_eq!(
        name_of("SyncStateMachine", "Name"),
        machine_arn.rsplit(':').next().map(str::to_string)
    );

    let actions = |statements: &[Value]| -> Vec<String> {
        statements
            .iter()
            .flat_map(|s| match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                other => panic!("Action {other}"),
            })
            .collect()
    };
    let sync = stack.statements(&t, "SyncFunction");
    assert!(
        actions(&sync)
            .iter()
            .all(|a| !a.starts_with("lambda:") && !a.starts_with("states:")),
        "the sync invokes nothing: {sync:#?}"
    );
    assert!(
        t["Resources"]["SyncFunction"]["Properties"]["Environment"]["Variables"]
            .get("PORTAL_SYNC_STATE_MACHINE_ARN")
            .is_none(),
        "the sync does not start executions"
    );

    let machine = stack.statements(&t, "SyncStateMachine");
    assert_eq!(
        machine,
        vec![json!({
            "Sid": "InvokeSync",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": sync_arn,
        })],
        "the state machine's role"
    );

    let reports = stack.statements(&t, "ReportsFunction");
    let starts: Vec<&Value> = reports
        .iter()
        .filter(|s| {
            actions(std::slice::from_ref(*s))
                .iter()
                .any(|a| a.starts_with("states:"))
        })
        .collect();
    assert_eq!(starts.len(), 1, "{reports:#?}");
    assert_eq!(starts[0]["Action"], "states:StartExecution");
    assert_eq!(starts[0]["Resource"], json!(machine_arn));
    assert!(
        actions(&reports).iter().all(|a| !a.starts_with("lambda:")),
        "reports invokes no function: {reports:#?}"
    );
    let env = &t["Resources"]["ReportsFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        stack.resolve(&t, &env["PORTAL_SYNC_STATE_MACHINE_ARN"]),
        json!(machine_arn)
    );
}

// ---------------------------------------------------------------------------
// webhooks: reports enqueues, sync consumes
// ---------------------------------------------------------------------------

/// A completion event of a partner member, as Northpass posts it.
async fn completion_event(store: &Store, id: &str) -> Value {
    let (_, user, _) = award_target(store).await;
    json!({"data": {"id": id, "type": "course_completion_events",
        "attributes": {"created_at": "2026-11-23T00:00:01Z"},
        "relationships": {"person": {"data": {"id": user, "type": "people"}}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_flow_with_only_their_template_policies() {
    use portal_reports::hooks::{HookQueue, HookSecrets, Hooks};
    let _serial = SERIAL.lock().await;
    let w = world(&[]).await;
    let queue = w.stack.value_of("WebhookQueue");
    let reports_sdk = w
        .user("reports-hooks", &w.statements("ReportsFunction"))
        .await;
    let sync_sdk = w.user("sync-hooks", &w.statements("SyncFunction")).await;
    let no_consume = w
        .user(
            "sync-hooks-denied",
            &without_sid(&w.statements("SyncFunction"), "ConsumeWebhooks"),
        )
        .await;
    let event = completion_event(&w.env.store, "iam-event-1").await;

    w.enforce(true).await;
    // The reports' cold start: the path secret by ARN (with AWSPREVIOUS).
    let secret_arn = w.stack.value_of("HookSecretArn");
    let secrets = HookSecrets::resolve(
        Secrets::from_sdk_config(&reports_sdk),
        SecretRef::SecretArn(secret_arn),
        None,
    )
    .await
    .expect("the reports read the webhook secret");
    let state = AppState::new(
        &w.env.config,
        Store::from_sdk_config(&reports_sdk, w.env.table.clone()),
    )
    .with_admin_token(ADMIN)
    .with_hooks(Hooks {
        secrets,
        queue: HookQueue {
            client: aws_sdk_sqs::Client::new(&reports_sdk),
            url: queue.clone(),
        },
    });
    let server = spawn(state, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("server");
    let status = reqwest::Client::new()
        .post(format!("{}/hooks/northpass/{HOOK_SECRET}", server.url()))
        .json(&event)
        .send()
        .await
        .expect("post")
        .status();
    let depth: Value = reqwest::Client::new()
        .get(format!("{}/api/admin/hooks", server.url()))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status JSON");
    let denied = portal_sync::hooks::poll_queue(
        &w.env.deps,
        &aws_sdk_sqs::Client::new(&no_consume),
        &queue,
        0,
    )
    .await;
    let mut deps = w.env.deps.clone();
    deps.store = Store::from_sdk_config(&sync_sdk, w.env.table.clone());
    let consumed =
        portal_sync::hooks::poll_queue(&deps, &aws_sdk_sqs::Client::new(&sync_sdk), &queue, 0)
            .await;
    w.enforce(false).await;

    assert_eq!(status, 202, "the event was enqueued");
    assert_eq!(depth["queue"]["waiting"], 1, "queue depth read: {depth}");
    let e = denied.expect_err("receiving without ConsumeWebhooks is refused");
    assert!(format!("{e}").contains("AccessDenied"), "{e}");
    assert_eq!(consumed.expect("the sync consumes"), (1, 0));
    let c = w.env.store.hook_counters().await.unwrap();
    assert_eq!((c.received, c.processed, c.failed), (1, 1, 0), "{c:?}");
}

// ---------------------------------------------------------------------------
// reports
// ---------------------------------------------------------------------------

struct Api {
    server: LocalServer,
    http: reqwest::Client,
    no_redirect: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.server.url()));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// GET without following redirects: (status, Location or body).
    async fn call_for_location(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut r = self.no_redirect.get(format!("{}{path}", self.server.url()));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        match resp.headers().get("location").and_then(|v| v.to_str().ok()) {
            Some(l) => (status, l.to_string()),
            None => (status, resp.text().await.unwrap_or_default()),
        }
    }
}

async fn reports_api(w: &World, sdk: &aws_config::SdkConfig) -> Api {
    let store = Store::from_sdk_config(sdk, w.env.table.clone());
    // Run-now hands the task to the sync function (an invoke in AWS); the
    // reports' own calls are the lock check and the answer.
    let runs: Arc<StdMutex<Vec<String>>> = Arc::default();
    let runner = FnRunner::new(move |task, _mode: RunMode| {
        runs.lock().unwrap().push(task);
        Box::pin(async { Ok(()) })
    });
    let state = AppState::new(&w.env.config, store)
        .with_admin_token(ADMIN)
        .with_link_key(Secret::new("e2e-link-key"))
        .with_unsubscribe_key(Secret::new("iam-unsub-key"))
        .with_runner(Arc::new(runner))
        // Low enough that the small data set's full exports take the S3
        // path a large export takes in production.
        .with_offload(Offload::from_sdk_config(sdk, &w.stack.bucket).with_inline_limit(2048));
    Api {
        server: spawn(state, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("server"),
        http: reqwest::Client::new(),
        no_redirect: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

/// A partner with a group and one of its members lacking an NPCU course.
async fn award_target(store: &Store) -> (String, String, String) {
    let courses = store.all_courses().await.unwrap();
    let course = courses
        .iter()
        .filter(|c| c.npcu > 0)
        .max_by_key(|c| c.npcu)
        .expect("an NPCU course");
    for s in store.all_summaries().await.unwrap() {
        if !s.tracked || s.lms_group_id.is_none() {
            continue;
        }
        let d = store.partner_dashboard(&s.partner_id).await.unwrap();
        if let Some(row) = d.certs.iter().find(|r| {
            !d.certs
                .iter()
                .any(|x| x.user_id == r.user_id && x.course_id == course.id)
        }) {
            return (s.partner_id.clone(), row.user_id.clone(), course.id.clone());
        }
    }
    panic!("no member without the course")
}

/// Rows of users who left `partner` (as after a group change): the next
/// recompute deletes them all, more than one transaction holds, so the
/// admin write takes the ordered path (batches, then the summary).
const STALE_ROWS: usize = 120;

async fn seed_stale_rows(store: &Store, partner: &str) {
    let d = store.partner_dashboard(partner).await.unwrap();
    let template = d.certs.first().expect("a row to copy").clone();
    let items = (0..STALE_ROWS)
        .map(|i| {
            let mut r = template.clone();
            r.user_id = format!("left-{i:03}");
            portal_core::store::entities::cert_row_item(partner, &r).unwrap()
        })
        .collect();
    store.batch_put(items).await.expect("seed stale rows");
}

/// Every route, each answering what it answers with full permissions;
/// returns (route, status) of every call that did not.
async fn every_route(w: &World, api: &Api) -> Vec<(String, u16, String)> {
    let env = &w.env;
    let (partner, user, course) = award_target(&env.store).await;
    // Pinned to the group it already has: the pin's own writes, not a
    // different membership, are under test.
    let group = env
        .store
        .get_partner(&partner)
        .await
        .unwrap()
        .and_then(|p| p.lms_group_id)
        .expect("the partner has a group");
    seed_stale_rows(&env.store, &partner).await;
    env.store
        .acquire_lease(
            "lms-groups",
            "someone",
            chrono::Utc::now(),
            Duration::minutes(30),
        )
        .await
        .unwrap();
    let unsubscribe = unsubscribe_token("iam-unsub-key", "someone@example.com", w.env.now);

    w.enforce(true).await;
    let mut failures = Vec::new();
    let mut expect = |route: &str, (status, body): (u16, String), want: u16| {
        if status != want {
            failures.push((route.to_string(), status, body));
        }
    };
    let admin = Some(ADMIN);
    expect(
        "/health",
        api.call(Method::GET, "/health", None, None).await,
        200,
    );
    for report in [
        "overview",
        "leaderboard",
        "gaps",
        "user-certifications",
        "expiring",
        "owners",
        "partners-without-groups",
        "contacts-not-in-lms",
        "orphans",
        "tier-at-risk",
        "trends",
        "recent-certifications",
        "popular-courses",
        "inactive-users",
        "lms-users-not-in-crm",
        "group-audit",
    ] {
        let path = format!("/api/reports/{report}");
        expect(&path, api.call(Method::GET, &path, admin, None).await, 200);
    }
    let small = "/api/reports/user-certifications?format=csv&limit=2";
    expect(small, api.call(Method::GET, small, admin, None).await, 200);
    let mut downloads = Vec::new();
    for format in ["csv", "xlsx"] {
        let path = format!("/api/reports/user-certifications?format={format}");
        let (status, location) = api.call_for_location(&path, admin).await;
        expect(&path, (status, location.clone()), 303);
        downloads.push(location);
    }
    let path = format!("/api/partners/{partner}");
    expect(&path, api.call(Method::GET, &path, admin, None).await, 200);
    for sub in ["forecast", "history"] {
        let path = format!("/api/partners/{partner}/{sub}");
        expect(&path, api.call(Method::GET, &path, admin, None).await, 200);
    }
    expect(
        "tasks",
        api.call(Method::GET, "/api/admin/tasks", admin, None).await,
        200,
    );
    expect(
        "runs",
        api.call(
            Method::GET,
            "/api/admin/tasks/lms-users/runs?limit=5",
            admin,
            None,
        )
        .await,
        200,
    );
    expect(
        "run now",
        api.call(
            Method::POST,
            "/api/admin/tasks/crm-partners/run?mode=full",
            admin,
            None,
        )
        .await,
        202,
    );
    expect(
        "reset",
        api.call(
            Method::POST,
            "/api/admin/tasks/lms-groups/reset?force=true",
            admin,
            None,
        )
        .await,
        200,
    );
    expect(
        "tokens",
        api.call(Method::GET, "/api/admin/tokens", admin, None)
            .await,
        200,
    );
    // A PAM token: created, used for a report, revoked.
    let (status, body) = api
        .call(
            Method::POST,
            "/api/admin/tokens",
            admin,
            Some(json!({"kind": "pam", "owner_email": "pam@example.com"})),
        )
        .await;
    expect("create pam token", (status, body.clone()), 201);
    if status == 201 {
        let v: Value = serde_json::from_str(&body).unwrap();
        let token = v["token"].as_str().unwrap();
        expect(
            "report as PAM",
            api.call(Method::GET, "/api/reports/leaderboard", Some(token), None)
                .await,
            200,
        );
        let path = format!("/api/admin/tokens/{}", v["id"].as_str().unwrap());
        expect(
            "revoke",
            api.call(Method::DELETE, &path, admin, None).await,
            200,
        );
    }
    // The partner's private link: created, opened, revoked (re-issued).
    let (status, body) = api
        .call(
            Method::POST,
            "/api/admin/tokens",
            admin,
            Some(json!({"kind": "partner_link", "partner_id": partner})),
        )
        .await;
    expect("create partner link", (status, body.clone()), 201);
    if status == 201 {
        let v: Value = serde_json::from_str(&body).unwrap();
        let url = v["url"].as_str().unwrap();
        let path = format!("/p/{}", url.split_once("/p/").unwrap().1);
        expect(
            "partner page",
            api.call(Method::GET, &path, None, None).await,
            200,
        );
        let file = format!("{path}/certifications.csv");
        expect(
            "partner certification list",
            api.call(Method::GET, &file, None, None).await,
            200,
        );
        let path = format!("/api/admin/tokens/{}", v["id"].as_str().unwrap());
        expect(
            "revoke link",
            api.call(Method::DELETE, &path, admin, None).await,
            200,
        );
    }
    let completed = (env.now - Duration::days(10)).to_rfc3339();
    expect(
        "award",
        api.call(
            Method::POST,
            "/api/admin/awards",
            admin,
            Some(json!({"kind": "award", "partner_id": partner, "user_id": user, "course_id": course, "completed_at": completed})),
        )
        .await,
        201,
    );
    expect(
        "org certification",
        api.call(
            Method::POST,
            "/api/admin/awards",
            admin,
            Some(json!({"kind": "org", "partner_id": partner, "name": "ISO 9001", "npcu": 3, "starts_at": "2026-01-01", "ends_at": "2027-12-31"})),
        )
        .await,
        201,
    );
    let path = format!("/api/admin/partners/{partner}/group");
    expect(
        "pin group",
        api.call(Method::PUT, &path, admin, Some(json!({"group_id": group})))
            .await,
        200,
    );
    // Removals (each recomputes) and clearing the pin, on a temporary
    // award and certification so the checks below see the ones above.
    let created_id = |body: &str| {
        serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["created"]["id"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let (status, body) = api
        .call(
            Method::POST,
            "/api/admin/awards",
            admin,
            Some(json!({"kind": "org", "partner_id": partner, "name": "Temporary", "npcu": 1, "starts_at": "2026-01-01", "ends_at": "2027-12-31"})),
        )
        .await;
    let org = created_id(&body);
    expect("org certification (temporary)", (status, body), 201);
    let path = format!("/api/admin/partners/{partner}/org-certs/{org}");
    expect(
        "remove org certification",
        api.call(Method::DELETE, &path, admin, None).await,
        200,
    );
    let (status, body) = api
        .call(
            Method::POST,
            "/api/admin/awards",
            admin,
            Some(json!({"kind": "award", "partner_id": partner, "user_id": user, "course_id": course, "completed_at": completed, "note": "temporary"})),
        )
        .await;
    let award = created_id(&body);
    expect("award (temporary)", (status, body), 201);
    let path = format!("/api/admin/partners/{partner}/awards/{award}");
    expect(
        "remove award",
        api.call(Method::DELETE, &path, admin, None).await,
        200,
    );
    let path = format!("/api/admin/partners/{partner}/group");
    expect(
        "clear group pin",
        api.call(Method::DELETE, &path, admin, None).await,
        200,
    );
    // Portal sign-in (the attempt counter: a conditional PutItem opens its
    // window, an UpdateItem counts into it; then the session) and the
    // pages with reads of their own (the person page's batched membership
    // check, claims, opt-out; the mail runs; an unused sign-in link).
    let url = |p: &str| format!("{}{p}", api.server.url());
    let mut session = None;
    for (token, want) in [("wrong", 401), (ADMIN, 303)] {
        let r = api
            .no_redirect
            .post(url("/login"))
            .header("cookie", "portal_login_csrf=iam-csrf")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf=iam-csrf&token={token}"))
            .send()
            .await
            .expect("sign-in");
        let status = r.status().as_u16();
        session = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix("portal_session="))
            .and_then(|c| c.split(';').next())
            .map(str::to_string)
            .or(session);
        expect(
            "POST /login",
            (status, r.text().await.unwrap_or_default()),
            want,
        );
    }
    let cookie = format!("portal_session={}", session.unwrap_or_default());
    for (page, want) in [
        (format!("/people/{user}"), 200),
        ("/people?q=ab".to_string(), 200),
        ("/admin/mail".to_string(), 200),
        (format!("/partners/{partner}"), 200),
        ("/login/link/not-a-link".to_string(), 400),
    ] {
        let r = api
            .no_redirect
            .get(url(&page))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("page");
        let status = r.status().as_u16();
        expect(&page, (status, r.text().await.unwrap_or_default()), want);
    }
    let path = format!("/unsubscribe/{unsubscribe}");
    expect(
        "unsubscribe",
        api.call(Method::GET, &path, None, None).await,
        200,
    );
    expect(
        "unsubscribe (one click)",
        api.call(Method::POST, &path, None, None).await,
        200,
    );
    w.enforce(false).await;
    // The presigned URLs serve the files (fetched unenforced: moto checks
    // IAM only on header-signed requests).
    for url in downloads {
        let r = api.http.get(&url).send().await.expect("download");
        if r.status() != 200 {
            failures.push((url, r.status().as_u16(), r.text().await.unwrap_or_default()));
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_serve_every_route_with_only_their_template_policy() {
    let _serial = SERIAL.lock().await;
    let w = world(&[]).await;
    let sdk = w.user("reports", &w.statements("ReportsFunction")).await;
    let api = reports_api(&w, &sdk).await;
    let (partner, _, _) = award_target(&w.env.store).await;
    let before = w.env.store.get_summary(&partner).await.unwrap().unwrap();

    w.enforce(true).await;
    w.read_secrets("ReportsFunction", &sdk).await;
    w.enforce(false).await;
    let failures = every_route(&w, &api).await;
    assert!(
        failures.is_empty(),
        "refused with the template's policy: {failures:#?}"
    );
    // The admin writes landed: award (NPCU of the course) + org cert (3).
    let after = w.env.store.get_summary(&partner).await.unwrap().unwrap();
    let c = &w.env.config;
    let npcu =
        |s: &portal_core::model::PartnerSummary| s.view(w.env.now, c.warning_days, &c.tiers).npcu;
    let (npcu_before, npcu_after) = (npcu(&before), npcu(&after));
    assert!(npcu_after > npcu_before + 3, "{npcu_before} → {npcu_after}");
    assert_eq!(after.org_certs.len(), before.org_certs.len() + 1);
    assert!(w
        .env
        .store
        .is_opted_out("someone@example.com")
        .await
        .unwrap());
    let rows = w.env.store.partner_dashboard(&partner).await.unwrap().certs;
    assert!(
        !rows.iter().any(|r| r.user_id.starts_with("left-")),
        "the stale rows were replaced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_action_without_batch_writes_is_denied_and_changes_nothing() {
    let _serial = SERIAL.lock().await;
    let w = world(&[]).await;
    let statements = without_action(&w.statements("ReportsFunction"), "dynamodb:BatchWriteItem");
    let sdk = w.user("reports-no-batch", &statements).await;
    let api = reports_api(&w, &sdk).await;
    let (partner, user, course) = award_target(&w.env.store).await;
    seed_stale_rows(&w.env.store, &partner).await;
    let before = w.env.store.get_summary(&partner).await.unwrap().unwrap();
    let rows_before = w.env.store.partner_dashboard(&partner).await.unwrap().certs;

    w.enforce(true).await;
    let completed = (w.env.now - Duration::days(10)).to_rfc3339();
    let (status, body) = api
        .call(
            Method::POST,
            "/api/admin/awards",
            Some(ADMIN),
            Some(json!({"kind": "award", "partner_id": partner, "user_id": user, "course_id": course, "completed_at": completed})),
        )
        .await;
    w.enforce(false).await;

    assert!(status >= 500, "{status}: {body}");
    let after = w.env.store.get_summary(&partner).await.unwrap().unwrap();
    assert_eq!(after, before, "the summary kept its old state");
    let rows_after = w.env.store.partner_dashboard(&partner).await.unwrap().certs;
    assert_eq!(
        rows_after.len(),
        rows_before.len(),
        "the rows kept their old state"
    );
}

// ---------------------------------------------------------------------------
// reminders
// ---------------------------------------------------------------------------

async fn reminders_deps(w: &World, sdk: &aws_config::SdkConfig) -> portal_reminders::Deps {
    let config = w
        .env
        .config_with(&[("PORTAL_MAIL_FROM", SENDER), ("PORTAL_MAIL_RATE", "0")])
        .expect("config");
    SesMailer::from_sdk_config(&w.env.emulator.sdk_config().await, SENDER)
        .build()
        .ensure_identity()
        .await
        .expect("sender identity");
    let links = Arc::new(portal_reminders::HmacLinks::new(
        "http://portal.test",
        b"iam-unsub-key",
    ));
    portal_reminders::Deps::from_config(&config, sdk, Some(links)).expect("deps")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_mail_with_only_their_template_policy() {
    let _serial = SERIAL.lock().await;
    // Catch-up wide enough that the first run mails every due threshold.
    let w = world(&[("PORTAL_REMINDER_CATCH_UP_DAYS", "400")]).await;
    let sdk = w
        .user("reminders", &w.statements("RemindersFunction"))
        .await;
    let deps = reminders_deps(&w, &sdk).await;

    w.enforce(true).await;
    w.read_secrets("RemindersFunction", &sdk).await;
    // An SES bounce through the SNS subscription: a suppression written.
    let bounced = "bounced@iam.portal.test";
    let notification = json!({
        "eventType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": bounced}],
            "timestamp": "2026-11-22T10:00:00.000Z", "feedbackId": "f-1"},
        "mail": {"messageId": "m-1", "destination": [bounced]}
    });
    let event = json!({"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:mail-events:1",
        "Sns": {"Type": "Notification", "MessageId": "n-1",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:mail-events",
            "Message": notification.to_string(), "Timestamp": "2026-11-22T10:00:01.000Z"}
    }]});
    let mail_events = portal_reminders::mail_events::handle_any(&deps, &event, w.env.now).await;
    let reminders = portal_reminders::run(&deps, portal_reminders::Job::Reminders, w.env.now).await;
    let digest = portal_reminders::run(&deps, portal_reminders::Job::PamDigest, w.env.now).await;
    w.enforce(false).await;

    let mail_events = mail_events.expect("mail events recorded");
    assert_eq!(mail_events["bounced"], 1, "{mail_events}");
    assert!(w
        .env
        .store
        .get_suppression(bounced)
        .await
        .unwrap()
        .is_some());
    let reminders = reminders.expect("reminder run");
    assert_eq!(reminders.status, "succeeded", "{reminders:#?}");
    assert!(reminders.sent > 0, "{reminders:#?}");
    assert_eq!(reminders.failed, 0, "{reminders:#?}");
    let digest = digest.expect("digest run");
    assert_eq!(digest.status, "succeeded", "{digest:#?}");
    assert_eq!(digest.failed, 0, "{digest:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_without_the_send_statement_are_denied() {
    let _serial = SERIAL.lock().await;
    let w = world(&[("PORTAL_REMINDER_CATCH_UP_DAYS", "400")]).await;
    let statements = without_sid(&w.statements("RemindersFunction"), "SendMail");
    let sdk = w.user("reminders-no-ses", &statements).await;
    let deps = reminders_deps(&w, &sdk).await;

    w.enforce(true).await;
    let s = portal_reminders::run(&deps, portal_reminders::Job::Reminders, w.env.now).await;
    w.enforce(false).await;
    let s = s.expect("the run itself completes");
    assert_eq!(s.sent, 0, "{s:#?}");
    assert!(s.failed > 0, "{s:#?}");
}
