//! A local interpreter of the Amazon States Language subset the template's
//! sync state machine uses (`SyncStateMachine` in template.yaml), so a test
//! can run the *deployed definition* against the built sync binary under
//! the Runtime API emulator ([`super::lambda_rie`]) and check the loop
//! contract end to end: the function's output decides whether the
//! execution invokes it again, ends, or fails.
//!
//! Supported, with Step Functions' semantics: `Task` on
//! `arn:aws:states:::lambda:invoke` (`InputPath`, `Parameters` with `.$`
//! paths, `ResultPath`, `OutputPath`, `Retry`, `Catch`), `Choice`
//! (`BooleanEquals`, `StringEquals`, `IsPresent` on a `Variable`), `Pass`
//! (`InputPath`, `Result`, `ResultPath`, `OutputPath`), `Succeed` and
//! `Fail` (`Error`/`Cause` or `ErrorPath`/`CausePath`); paths are `$` and
//! `$.a.b`. Anything else in a definition is refused with an error naming
//! it, so a template change beyond this subset fails its test instead of
//! being silently misread. Not modelled: waiting (`Retry` intervals, the
//! execution's `TimeoutSeconds`); `max_transitions` bounds a run instead.

use std::collections::HashMap;
use std::future::Future;

use serde_json::{json, Map, Value};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DefinitionError {
    #[error("state machine definition: {0}")]
    Unsupported(String),
}

/// A function error as Step Functions sees it: the Lambda `errorType` and
/// the error document as a JSON string (what `lambda:invoke` puts in
/// `Cause`).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

impl TaskError {
    /// From a function's error document (`errorType`, `errorMessage`).
    pub fn from_lambda(error_type: &str, message: &str) -> TaskError {
        TaskError {
            error: error_type.to_string(),
            cause: json!({ "errorType": error_type, "errorMessage": message }).to_string(),
        }
    }
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionStatus {
    Succeeded(Value),
    Failed { error: String, cause: String },
}

/// One state entered: its name, input and output (`None` for the failing
/// state of a failed execution).
#[derive(Debug, Clone)]
pub struct Transition {
    pub state: String,
    pub input: Value,
    pub output: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Execution {
    pub status: ExecutionStatus,
    pub history: Vec<Transition>,
    /// Every `Task` invocation: its payload and its result.
    pub invocations: Vec<(Value, Result<Value, TaskError>)>,
}

/// A parsed definition with its `DefinitionSubstitutions` applied.
#[derive(Debug, Clone)]
pub struct StateMachine {
    start_at: String,
    states: Map<String, Value>,
}

const TASK_KEYS: &[&str] = &[
    "Type",
    "Comment",
    "Resource",
    "InputPath",
    "Parameters",
    "ResultPath",
    "OutputPath",
    "Retry",
    "Catch",
    "Next",
    "End",
];
const CHOICE_KEYS: &[&str] = &[
    "Type",
    "Comment",
    "Choices",
    "Default",
    "InputPath",
    "OutputPath",
];
const PASS_KEYS: &[&str] = &[
    "Type",
    "Comment",
    "InputPath",
    "Result",
    "ResultPath",
    "OutputPath",
    "Next",
    "End",
];
const SUCCEED_KEYS: &[&str] = &["Type", "Comment", "InputPath", "OutputPath"];
const FAIL_KEYS: &[&str] = &[
    "Type",
    "Comment",
    "Error",
    "Cause",
    "ErrorPath",
    "CausePath",
];
const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";

impl StateMachine {
    /// `definition` as in the template (`Definition`), `${Name}` replaced
    /// by `substitutions` in every string.
    pub fn new(
        definition: &Value,
        substitutions: &HashMap<String, String>,
    ) -> Result<StateMachine, DefinitionError> {
        let def = substitute(definition, substitutions)?;
        let bad = |m: String| DefinitionError::Unsupported(m);
        let top: &[&str] = &["Comment", "StartAt", "States", "TimeoutSeconds", "Version"];
        for k in def
            .as_object()
            .ok_or_else(|| bad("not an object".into()))?
            .keys()
        {
            if !top.contains(&k.as_str()) {
                return Err(bad(format!("top-level field {k}")));
            }
        }
        let start_at = def["StartAt"]
            .as_str()
            .ok_or_else(|| bad("no StartAt".into()))?
            .to_string();
        let states = def["States"]
            .as_object()
            .ok_or_else(|| bad("no States".into()))?
            .clone();
        for (name, st) in &states {
            let allowed = match st["Type"].as_str() {
                Some("Task") => TASK_KEYS,
                Some("Choice") => CHOICE_KEYS,
                Some("Pass") => PASS_KEYS,
                Some("Succeed") => SUCCEED_KEYS,
                Some("Fail") => FAIL_KEYS,
                other => return Err(bad(format!("state {name}: type {other:?}"))),
            };
            for k in st.as_object().into_iter().flat_map(|m| m.keys()) {
                if !allowed.contains(&k.as_str()) {
                    return Err(bad(format!("state {name}: field {k}")));
                }
            }
            if st["Type"] == "Task" && st["Resource"] != LAMBDA_INVOKE {
                return Err(bad(format!("state {name}: resource {}", st["Resource"])));
            }
            for target in next_states(st) {
                if !states.contains_key(&target) {
                    return Err(bad(format!("state {name}: goes to unknown state {target}")));
                }
            }
        }
        if !states.contains_key(&start_at) {
            return Err(bad(format!("StartAt {start_at} is no state")));
        }
        Ok(StateMachine { start_at, states })
    }

    /// Runs an execution on `input`. `invoke(function, payload)` performs a
    /// `lambda:invoke` (the function's output or its error). An execution
    /// that has not ended after `max_transitions` states fails with
    /// `Local.TooManyTransitions`.
    pub async fn run<F, Fut>(
        &self,
        input: Value,
        max_transitions: usize,
        mut invoke: F,
    ) -> Execution
    where
        F: FnMut(String, Value) -> Fut,
        Fut: Future<Output = Result<Value, TaskError>>,
    {
        let mut history = Vec::new();
        let mut invocations = Vec::new();
        let mut current = self.start_at.clone();
        let mut data = input;
        let failed = |error: &str, cause: String| ExecutionStatus::Failed {
            error: error.to_string(),
            cause,
        };
        for _ in 0..max_transitions {
            let st = &self.states[&current];
            let input = data.clone();
            let effective = match opt_path(&input, st.get("InputPath")) {
                Ok(v) => v,
                Err(e) => {
                    return end(
                        history,
                        invocations,
                        &current,
                        input,
                        failed("States.Runtime", e),
                    )
                }
            };
            let step: Result<(Value, Option<String>), ExecutionStatus> = match st["Type"].as_str() {
                Some("Task") => {
                    let payload = match st.get("Parameters") {
                        Some(p) => parameters(p, &effective),
                        None => Ok(effective.clone()),
                    };
                    match payload {
                        Err(e) => Err(failed("States.Runtime", e)),
                        Ok(payload) => {
                            let function =
                                payload["FunctionName"].as_str().unwrap_or("").to_string();
                            let body = payload.get("Payload").cloned().unwrap_or(Value::Null);
                            let mut attempts: HashMap<usize, u64> = HashMap::new();
                            let result = loop {
                                let r = invoke(function.clone(), body.clone()).await;
                                invocations.push((body.clone(), r.clone()));
                                match r {
                                    Ok(out) => break Ok(out),
                                    Err(e) => {
                                        if let Some(i) = matching(st.get("Retry"), &e.error) {
                                            let max =
                                                st["Retry"][i]["MaxAttempts"].as_u64().unwrap_or(3);
                                            let n = attempts.entry(i).or_default();
                                            if *n < max {
                                                *n += 1;
                                                continue;
                                            }
                                        }
                                        break Err(e);
                                    }
                                }
                            };
                            match result {
                                Ok(out) => {
                                    let result = json!({
                                        "ExecutedVersion": "$LATEST",
                                        "Payload": out,
                                        "StatusCode": 200,
                                    });
                                    shape_output(st, &input, result).map(|o| (o, next(st)))
                                }
                                Err(e) => match matching(st.get("Catch"), &e.error) {
                                    Some(i) => {
                                        let c = &st["Catch"][i];
                                        let err = json!({ "Error": e.error, "Cause": e.cause });
                                        match result_path(&input, c.get("ResultPath"), err) {
                                            Ok(o) => {
                                                Ok((o, c["Next"].as_str().map(str::to_string)))
                                            }
                                            Err(m) => Err(failed("States.Runtime", m)),
                                        }
                                    }
                                    None => Err(failed(&e.error, e.cause)),
                                },
                            }
                        }
                    }
                }
                Some("Choice") => {
                    let chosen = st["Choices"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|rule| rule_matches(rule, &effective))
                        .and_then(|rule| rule["Next"].as_str())
                        .or_else(|| st["Default"].as_str());
                    match chosen {
                        Some(n) => opt_path(&effective, st.get("OutputPath"))
                            .map(|o| (o, Some(n.to_string())))
                            .map_err(|m| failed("States.Runtime", m)),
                        None => Err(failed(
                            "States.NoChoiceMatched",
                            format!("no choice of {current} matched {effective}"),
                        )),
                    }
                }
                Some("Pass") => {
                    let result = st.get("Result").cloned().unwrap_or(effective.clone());
                    shape_output(st, &input, result).map(|o| (o, next(st)))
                }
                Some("Succeed") => opt_path(&effective, st.get("OutputPath"))
                    .map(|o| (o, None))
                    .map_err(|m| failed("States.Runtime", m)),
                Some("Fail") => {
                    let pick = |lit: &str, path: &str| -> String {
                        if let Some(s) = st[lit].as_str() {
                            return s.to_string();
                        }
                        match st[path].as_str().map(|p| select(&effective, p)) {
                            Some(Ok(Value::String(s))) => s,
                            Some(Ok(v)) => v.to_string(),
                            _ => String::new(),
                        }
                    };
                    Err(failed(
                        &pick("Error", "ErrorPath"),
                        pick("Cause", "CausePath"),
                    ))
                }
                _ => unreachable!("checked in new()"),
            };
            match step {
                Err(status) => return end(history, invocations, &current, input, status),
                Ok((output, None)) => {
                    history.push(Transition {
                        state: current,
                        input,
                        output: Some(output.clone()),
                    });
                    return Execution {
                        status: ExecutionStatus::Succeeded(output),
                        history,
                        invocations,
                    };
                }
                Ok((output, Some(n))) => {
                    history.push(Transition {
                        state: current,
                        input,
                        output: Some(output.clone()),
                    });
                    current = n;
                    data = output;
                }
            }
        }
        let status = failed(
            "Local.TooManyTransitions",
            format!("not ended after {max_transitions} states"),
        );
        end(history, invocations, &current, data, status)
    }
}

fn end(
    mut history: Vec<Transition>,
    invocations: Vec<(Value, Result<Value, TaskError>)>,
    state: &str,
    input: Value,
    status: ExecutionStatus,
) -> Execution {
    history.push(Transition {
        state: state.to_string(),
        input,
        output: None,
    });
    Execution {
        status,
        history,
        invocations,
    }
}

fn next(st: &Value) -> Option<String> {
    st["Next"].as_str().map(str::to_string)
}

fn next_states(st: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in ["Next", "Default"] {
        if let Some(n) = st[k].as_str() {
            out.push(n.to_string());
        }
    }
    for list in ["Choices", "Catch"] {
        for rule in st[list].as_array().into_iter().flatten() {
            if let Some(n) = rule["Next"].as_str() {
                out.push(n.to_string());
            }
        }
    }
    out
}

/// `ResultPath` then `OutputPath` of a Task or Pass.
fn shape_output(st: &Value, input: &Value, result: Value) -> Result<Value, ExecutionStatus> {
    let failed = |m: String| ExecutionStatus::Failed {
        error: "States.Runtime".into(),
        cause: m,
    };
    let combined = result_path(input, st.get("ResultPath"), result).map_err(failed)?;
    opt_path(&combined, st.get("OutputPath")).map_err(failed)
}

/// The index of the first retrier / catcher whose `ErrorEquals` names
/// `error` (or `States.ALL`, or `States.TaskFailed` for any function error).
fn matching(list: Option<&Value>, error: &str) -> Option<usize> {
    list?.as_array()?.iter().position(|r| {
        r["ErrorEquals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|e| {
                e == error
                    || e == "States.ALL"
                    || (e == "States.TaskFailed" && !error.starts_with("States."))
            })
    })
}

fn rule_matches(rule: &Value, input: &Value) -> bool {
    let Some(var) = rule["Variable"].as_str() else {
        return false;
    };
    let value = select(input, var).ok();
    if let Some(b) = rule.get("BooleanEquals") {
        return value.as_ref() == Some(b);
    }
    if let Some(s) = rule.get("StringEquals") {
        return value.as_ref() == Some(s);
    }
    if let Some(p) = rule["IsPresent"].as_bool() {
        return value.is_some() == p;
    }
    false
}

fn opt_path(v: &Value, path: Option<&Value>) -> Result<Value, String> {
    match path {
        None => Ok(v.clone()),
        Some(Value::Null) => Ok(json!({})),
        Some(Value::String(p)) => select(v, p),
        Some(other) => Err(format!("path {other} is not a string")),
    }
}

/// `$` or `$.a.b` of `v`; a missing field is an error, as in Step
/// Functions (`States.Runtime`).
fn select(v: &Value, path: &str) -> Result<Value, String> {
    let rest = path
        .strip_prefix('$')
        .ok_or_else(|| format!("path {path} does not start with $"))?;
    let mut cur = v;
    for part in rest.split('.').skip(1) {
        cur = cur
            .get(part)
            .ok_or_else(|| format!("path {path}: no field {part} in {v}"))?;
    }
    Ok(cur.clone())
}

fn result_path(input: &Value, path: Option<&Value>, result: Value) -> Result<Value, String> {
    match path {
        None => Ok(result),
        Some(Value::Null) => Ok(input.clone()),
        Some(Value::String(p)) if p == "$" => Ok(result),
        Some(Value::String(p)) => {
            let rest = p
                .strip_prefix("$.")
                .ok_or_else(|| format!("ResultPath {p} is not $.a.b"))?;
            let mut out = input.clone();
            let mut cur = &mut out;
            let parts: Vec<&str> = rest.split('.').collect();
            for (i, part) in parts.iter().enumerate() {
                if !cur.is_object() {
                    return Err(format!("ResultPath {p}: not an object at {part}"));
                }
                if i + 1 == parts.len() {
                    cur[*part] = result;
                    break;
                }
                if cur.get(*part).is_none() {
                    cur[*part] = json!({});
                }
                cur = &mut cur[*part];
            }
            Ok(out)
        }
        Some(other) => Err(format!("ResultPath {other}")),
    }
}

/// `Parameters`: keys ending in `.$` take the value at their path.
fn parameters(p: &Value, input: &Value) -> Result<Value, String> {
    match p {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                match k.strip_suffix(".$") {
                    Some(key) => {
                        let path = v.as_str().ok_or_else(|| format!("{k} is not a path"))?;
                        out.insert(key.to_string(), select(input, path)?);
                    }
                    None => {
                        out.insert(k.clone(), parameters(v, input)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn substitute(v: &Value, subs: &HashMap<String, String>) -> Result<Value, DefinitionError> {
    Ok(match v {
        Value::String(s) => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some((before, after)) = rest.split_once("${") {
                let (name, tail) = after
                    .split_once('}')
                    .ok_or_else(|| DefinitionError::Unsupported(format!("unclosed ${{ in {s}")))?;
                let value = subs.get(name).ok_or_else(|| {
                    DefinitionError::Unsupported(format!("no substitution for ${{{name}}}"))
                })?;
                out.push_str(before);
                out.push_str(value);
                rest = tail;
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, subs))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), substitute(x, subs)?)))
                .collect::<Result<_, DefinitionError>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn looping() -> StateMachine {
        let def = json!({
            "StartAt": "Run",
            "States": {
                "Run": {"Type": "Task", "Resource": LAMBDA_INVOKE,
                    "Parameters": {"FunctionName": "${Fn}", "Payload.$": "$"},
                    "OutputPath": "$.Payload",
                    "Retry": [{"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 2}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
                    "Next": "More?"},
                "More?": {"Type": "Choice",
                    "Choices": [{"Variable": "$.continue", "BooleanEquals": true, "Next": "Again"}],
                    "Default": "Done"},
                "Again": {"Type": "Pass", "InputPath": "$.next", "Next": "Run"},
                "Done": {"Type": "Succeed"},
                "Failed": {"Type": "Fail", "ErrorPath": "$.Error", "CausePath": "$.Cause"}
            }
        });
        let subs = HashMap::from([("Fn".to_string(), "arn:fn".to_string())]);
        StateMachine::new(&def, &subs).unwrap()
    }

    #[tokio::test]
    async fn loops_while_the_output_says_continue() {
        let sm = looping();
        let ex = sm
            .run(json!({"n": 0}), 100, |f, p| async move {
                assert_eq!(f, "arn:fn");
                let n = p["n"].as_u64().unwrap();
                Ok(if n < 3 {
                    json!({"continue": true, "next": {"n": n + 1}})
                } else {
                    json!({"continue": false, "n": n})
                })
            })
            .await;
        assert_eq!(
            ex.status,
            ExecutionStatus::Succeeded(json!({"continue": false, "n": 3}))
        );
        let inputs: Vec<Value> = ex.invocations.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(inputs, (0..4).map(|n| json!({"n": n})).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_function_error_fails_and_transient_ones_are_retried() {
        let sm = looping();
        let mut calls = 0;
        let ex = sm
            .run(json!({}), 100, |_, _| {
                calls += 1;
                let n = calls;
                async move {
                    if n == 1 {
                        Err(TaskError::from_lambda("Lambda.ServiceException", "blip"))
                    } else {
                        Err(TaskError::from_lambda("SyncError", "lms-users: run failed"))
                    }
                }
            })
            .await;
        assert_eq!(ex.invocations.len(), 2);
        match ex.status {
            ExecutionStatus::Failed { error, cause } => {
                assert_eq!(error, "SyncError");
                assert!(cause.contains("run failed"), "{cause}");
            }
            other => panic!("{other:?}"),
        }
        // A loop that never ends is cut.
        let ex = sm
            .run(json!({}), 10, |_, _| async {
                Ok(json!({"continue": true, "next": {}}))
            })
            .await;
        assert!(
            matches!(&ex.status, ExecutionStatus::Failed { error, .. } if error == "Local.TooManyTransitions"),
            "{:?}",
            ex.status
        );
    }

    #[test]
    fn unsupported_definitions_are_refused_by_name() {
        let e = StateMachine::new(
            &json!({"StartAt": "M", "States": {"M": {"Type": "Map"}}}),
            &HashMap::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("Map"), "{e}");
        let e = StateMachine::new(
            &json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "ResultSelector": {}, "End": true}}}),
            &HashMap::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("ResultSelector"), "{e}");
        let e = StateMachine::new(
            &json!({"StartAt": "T", "States": {"T": {"Type": "Pass", "Next": "Nowhere"}}}),
            &HashMap::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("Nowhere"), "{e}");
    }
}
