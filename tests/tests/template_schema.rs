//! template.yaml against the code: the DynamoDB table must be the one
//! `portal_core::store::schema` defines (the store creates exactly that table
//! locally, so a drift would only show in production), and the functions'
//! wiring must follow the rules the template promises (arm64 cargo-lambda
//! builds of the real binaries, secrets granted exactly, schedule payloads the
//! handlers understand).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate sits in the workspace root")
        .to_path_buf()
}

/// CloudFormation's short-form tags (`!Ref X`, `!GetAtt A.B`, `!Sub ...`)
/// turned into their long forms, so the rest of the test sees plain JSON.
fn to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    other => serde_norway::to_string(&other)
                        .expect("scalar key")
                        .trim()
                        .to_string(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(t.value);
            let long = match (name, inner) {
                ("Ref", v) => ("Ref".to_string(), v),
                ("GetAtt", Value::String(s)) => {
                    let (res, attr) = s.split_once('.').expect("!GetAtt Resource.Attribute");
                    ("Fn::GetAtt".to_string(), json!([res, attr]))
                }
                ("Condition", v) => ("Condition".to_string(), v),
                (other, v) => (format!("Fn::{other}"), v),
            };
            json!({ long.0: long.1 })
        }
    }
}

fn template() -> Value {
    let path = repo_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).expect("read template.yaml");
    let yaml: serde_norway::Value = serde_norway::from_str(&text).expect("template.yaml is YAML");
    to_json(yaml)
}

fn resources_of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, r)| (name.as_str(), r))
        .collect()
}

fn sorted_by(v: &Value, key: &str) -> Value {
    let mut items = v.as_array().cloned().unwrap_or_default();
    items.sort_by(|a, b| a[key].as_str().cmp(&b[key].as_str()));
    Value::Array(items)
}

#[test]
fn short_form_tags_become_long_form() {
    let y: serde_norway::Value =
        serde_norway::from_str("a: !Ref P\nb: !GetAtt T.Arn\nc: !Sub '${X}-y'\nd: !If [C, 1, 2]\n")
            .unwrap();
    assert_eq!(
        to_json(y),
        json!({
            "a": {"Ref": "P"},
            "b": {"Fn::GetAtt": ["T", "Arn"]},
            "c": {"Fn::Sub": "${X}-y"},
            "d": {"Fn::If": ["C", 1, 2]},
        })
    );
}

#[test]
fn table_matches_store_schema() {
    let t = template();
    let tables = resources_of_type(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "single-table design: exactly one table");
    let props = &tables[0].1["Properties"];
    let code = portal_core::store::schema::description_json();

    // Key order matters (HASH first); the order of attribute definitions
    // and of indexes does not, to DynamoDB or to CloudFormation.
    assert_eq!(props["KeySchema"], code["KeySchema"], "table KeySchema");
    assert_eq!(
        sorted_by(&props["AttributeDefinitions"], "AttributeName"),
        sorted_by(&code["AttributeDefinitions"], "AttributeName"),
        "AttributeDefinitions"
    );
    assert_eq!(
        sorted_by(&props["GlobalSecondaryIndexes"], "IndexName"),
        sorted_by(&code["GlobalSecondaryIndexes"], "IndexName"),
        "GlobalSecondaryIndexes (names, keys, projections)"
    );
    assert_eq!(
        props["TimeToLiveSpecification"], code["TimeToLiveSpecification"],
        "TTL attribute"
    );
    assert_eq!(props["BillingMode"], code["BillingMode"]);
    // The typed definition and its JSON rendering must agree too, so the
    // comparison above really is against what `create_table` uses.
    let schema = &portal_core::store::schema::TABLE;
    assert_eq!(props["KeySchema"][0]["AttributeName"], schema.hash_key);
    assert_eq!(props["KeySchema"][1]["AttributeName"], schema.range_key);
    assert_eq!(
        props["TimeToLiveSpecification"]["AttributeName"],
        schema.ttl_attribute
    );
    let names: BTreeSet<&str> = props["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["IndexName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        schema.gsis.iter().map(|g| g.name).collect::<BTreeSet<_>>()
    );
}

#[test]
fn table_is_protected() {
    let t = template();
    let (_, table) = resources_of_type(&t, "AWS::DynamoDB::Table")[0];
    let p = &table["Properties"];
    assert_eq!(p["DeletionProtectionEnabled"], true);
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(table["DeletionPolicy"], "Retain");
}

/// `[[bin]] name = "..."` entries of a crate's Cargo.toml.
fn bin_names(crate_dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("crate Cargo.toml");
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            if let Some(rest) = line.strip_prefix("name") {
                let name = rest.trim_start().trim_start_matches('=').trim();
                names.push(name.trim_matches('"').to_string());
            }
        }
    }
    names
}

#[test]
fn functions_are_arm64_cargo_lambda_builds_of_real_binaries() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    let functions = resources_of_type(&t, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 3);
    for (name, f) in functions {
        let p = &f["Properties"];
        let get = |k: &str| {
            if p[k].is_null() {
                globals[k].clone()
            } else {
                p[k].clone()
            }
        };
        assert_eq!(get("Runtime"), "provided.al2023", "{name}");
        assert_eq!(get("Architectures"), json!(["arm64"]), "{name}");
        assert_eq!(get("Handler"), "bootstrap", "{name}");
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        let bin = f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: BuildProperties.Binary"));
        let code_uri = p["CodeUri"].as_str().expect("CodeUri");
        let bins = bin_names(&repo_root().join(code_uri));
        assert!(
            bins.iter().any(|b| b == bin),
            "{name}: binary {bin} is not a [[bin]] of {code_uri} ({bins:?})"
        );
    }
}

/// Values of `!Ref X` among a list (or a single value).
fn refs(v: &Value) -> BTreeSet<String> {
    let items = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    items
        .iter()
        .filter_map(|i| i["Ref"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn each_function_reads_exactly_its_secrets() {
    let t = template();
    for (name, f) in resources_of_type(&t, "AWS::Serverless::Function") {
        let vars = f["Properties"]["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut from_env = BTreeSet::new();
        for (var, value) in &vars {
            if var.ends_with("_SECRET_ARN") {
                let r = value["Ref"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}.{var} must be !Ref a parameter"));
                assert!(
                    t["Parameters"][r].is_object(),
                    "{name}.{var}: {r} is not a parameter"
                );
                assert!(
                    t["Parameters"][r]["Default"].is_null(),
                    "{r}: secret ARNs have no default"
                );
                from_env.insert(r.to_string());
            }
        }
        let mut granted = BTreeSet::new();
        for policy in f["Properties"]["Policies"].as_array().unwrap() {
            for st in policy["Statement"].as_array().into_iter().flatten() {
                if st["Action"] == "secretsmanager:GetSecretValue" {
                    granted.extend(refs(&st["Resource"]));
                }
                let actions = st["Action"].to_string();
                assert!(
                    !actions.contains('*'),
                    "{name}: wildcard action in {actions}"
                );
            }
        }
        assert_eq!(
            granted, from_env,
            "{name}: GetSecretValue must cover exactly its *_SECRET_ARN variables"
        );
    }
}

#[test]
fn schedules_send_payloads_the_handlers_know() {
    const TASKS: [&str; 7] = [
        "lms-users",
        "lms-groups",
        "lms-courses",
        "lms-enrollments",
        "crm-partners",
        "crm-contacts",
        "crm-push",
    ];
    // Tasks with a daily run only (no incremental form).
    const DAILY_TASKS: [&str; 1] = ["lms-recert"];
    let t = template();
    let mut seen_sync = BTreeSet::new();
    let mut seen_jobs = BTreeSet::new();
    // Sync requests are scheduled on the sync's state machine, which
    // invokes the function (and again while a run checkpoints).
    let mut scheduled = resources_of_type(&t, "AWS::Serverless::Function");
    scheduled.extend(resources_of_type(&t, "AWS::Serverless::StateMachine"));
    for (name, f) in scheduled {
        let Some(events) = f["Properties"]["Events"].as_object() else {
            continue;
        };
        for (event, e) in events.iter().filter(|(_, e)| e["Type"] == "Schedule") {
            let param = e["Properties"]["Schedule"]["Ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}.{event}: schedule must be a parameter"));
            let default = t["Parameters"][param]["Default"].as_str().unwrap();
            assert!(
                default.starts_with("rate(") || default.starts_with("cron("),
                "{param}: {default}"
            );
            let input: Value =
                serde_json::from_str(e["Properties"]["Input"].as_str().unwrap()).unwrap();
            if let Some(task) = input["task"].as_str() {
                assert_eq!(name, "SyncStateMachine", "{event}");
                assert!(
                    TASKS.contains(&task) || DAILY_TASKS.contains(&task),
                    "{event}: unknown task {task}"
                );
                let mode = input["mode"].as_str().unwrap();
                assert!(mode == "incremental" || mode == "full", "{event}: {mode}");
                seen_sync.insert((task.to_string(), mode.to_string()));
            } else {
                assert_eq!(name, "RemindersFunction", "{event}");
                seen_jobs.insert(input["job"].as_str().unwrap().to_string());
            }
        }
    }
    for task in TASKS {
        for mode in ["incremental", "full"] {
            assert!(
                seen_sync.contains(&(task.to_string(), mode.to_string())),
                "no {mode} schedule for {task}"
            );
        }
    }
    for task in DAILY_TASKS {
        assert!(
            seen_sync.contains(&(task.to_string(), "full".to_string())),
            "no daily schedule for {task}"
        );
        assert!(
            !seen_sync.contains(&(task.to_string(), "incremental".to_string())),
            "{task} has no incremental form"
        );
    }
    assert_eq!(
        seen_jobs,
        BTreeSet::from(["reminders".to_string(), "pam-digest".to_string()])
    );
}

/// Set by the template but not read by `Config`: `RUST_LOG` belongs to
/// tracing-subscriber. Every other variable must be in `ENV_VARS`.
const AWAITING_CONFIG: [&str; 1] = ["RUST_LOG"];

#[test]
fn environment_matches_config() {
    let t = template();
    let known: Vec<(&str, &str)> = portal_core::config::ENV_VARS
        .iter()
        .map(|(name, default, _)| (*name, *default))
        .collect();
    let mut scopes = vec![("Globals", &t["Globals"]["Function"])];
    let functions = resources_of_type(&t, "AWS::Serverless::Function");
    scopes.extend(functions.iter().map(|(n, f)| (*n, &f["Properties"])));
    let mut set_anywhere = BTreeSet::new();
    for (scope, props) in scopes {
        let vars = props["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (var, value) in vars {
            let listed = known.iter().find(|(n, _)| *n == var);
            assert!(
                listed.is_some() || AWAITING_CONFIG.contains(&var.as_str()),
                "{scope}: {var} is not a variable portal_core::config reads"
            );
            // A parameter standing for a setting with a default starts at
            // that same default, so a deployed stack behaves like local runs.
            if let (Some((_, default)), Some(param)) = (listed, value["Ref"].as_str()) {
                if let Some(p) = t["Parameters"].get(param) {
                    if !default.is_empty() && !default.starts_with('(') {
                        let d = match &p["Default"] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        assert_eq!(&d, default, "{param} (for {var})");
                    }
                }
            }
            set_anywhere.insert(var);
        }
    }
    assert!(set_anywhere.contains("PORTAL_TABLE"));
    // Every secret the code can take by reference reaches some function.
    for (name, _) in &known {
        if name.ends_with("_SECRET_ARN") {
            assert!(
                set_anywhere.contains(*name),
                "{name} is never passed to a function"
            );
        }
    }
}
