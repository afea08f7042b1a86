//! `tier-at-risk` and `/api/partners/{id}/forecast` over the `small` data
//! set synced through the real sync, against NPCU recomputed by the
//! independent reference model (`portal_e2e::reference`) from the
//! simulators' raw data at the window's end and on the drop dates.
//!
//! The window of `days=N` runs from now to the last instant of the date N
//! days after today (UTC). The simulators' data has no organisation
//! certifications and nothing completes in the future, so without renewals
//! NPCU only falls: a partner meeting its tier now is below it at some date
//! of the window exactly when it is below it at the window's end.

mod reports_support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use reports_support::{world, World, ADMIN};
use serde_json::{json, Value};

/// The last instant of `date`.
fn end_of(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0).unwrap().and_utc() + Duration::days(1) - Duration::milliseconds(1)
}

/// Partner id → (NPCU now, NPCU at the window's end, requirement), for the
/// tracked partners whose tier has a documented requirement.
fn reference_window(w: &World, days: i64) -> BTreeMap<String, (u32, u32, u32)> {
    let r = &w.reference;
    let end = end_of(w.env.now.date_naive() + Duration::days(days));
    r.tracked()
        .filter_map(|p| {
            let req = r.required(p)?;
            let now = r.partner_numbers(p, w.env.now).npcu;
            let later = r.partner_numbers(p, end).npcu;
            Some((p.id.clone(), (now, later, req)))
        })
        .collect()
}

/// NPCU of `pid` at `t`, by the reference model.
fn reference_npcu(w: &World, pid: &str, t: DateTime<Utc>) -> u32 {
    w.reference
        .partner_numbers(&w.reference.partners[pid], t)
        .npcu
}

/// NPCU values of `pid`'s certifications that count now and expire by
/// `end` (reference model), largest first.
fn ending_values(w: &World, pid: &str, end: DateTime<Utc>) -> Vec<u32> {
    let r = &w.reference;
    let now = w.env.now;
    let mut v: Vec<u32> = r.partners[pid]
        .members
        .iter()
        .flat_map(|u| {
            r.records
                .range((u.clone(), String::new())..)
                .take_while(move |((uu, _), _)| uu == u)
        })
        .filter_map(|(_, rec)| {
            let c = r.courses.get(&rec.course_id)?;
            let e = r.expiry(rec)?;
            let counted = matches!(
                r.status(rec, now),
                portal_e2e::reference::Status::Active | portal_e2e::reference::Status::Expiring
            );
            (c.npcu > 0 && counted && e <= end).then_some(c.npcu)
        })
        .collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v
}

async fn check_window(w: &World, days: i64) -> BTreeSet<String> {
    let today = w.env.now.date_naive();
    let want: BTreeMap<String, (u32, u32, u32)> = reference_window(w, days)
        .into_iter()
        .filter(|(_, (now, later, req))| now >= req && later < req)
        .collect();
    let got = w
        .admin_json(&format!("/api/reports/tier-at-risk?days={days}&limit=1000"))
        .await;
    let rows = got["data"].as_array().unwrap();
    let ids: BTreeSet<String> = rows
        .iter()
        .map(|r| r["partner_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        want.keys().cloned().collect::<BTreeSet<_>>(),
        "days={days}"
    );
    assert_eq!(got["meta"]["total"], want.len());
    let end = end_of(today + Duration::days(days));
    let mut prev = String::new();
    for row in rows {
        let pid = row["partner_id"].as_str().unwrap();
        let (now, later, req) = want[pid];
        assert_eq!(row["npcu"], now, "{row}");
        assert_eq!(row["projected_npcu"], later, "{row}");
        assert_eq!(row["required_npcu"], req, "{row}");
        let cols: Vec<&String> = row.as_object().unwrap().keys().collect();
        assert_eq!(cols.len(), 9, "{row}");
        // The drop date: below at its end, not below the day before (or
        // now, when it is today).
        let drop: NaiveDate = row["drops_below_on"].as_str().unwrap().parse().unwrap();
        assert!(
            drop >= today && drop <= today + Duration::days(days),
            "{row}"
        );
        assert!(reference_npcu(w, pid, end_of(drop)) < req, "{row}");
        let before = if drop == today {
            w.env.now
        } else {
            end_of(drop - Duration::days(1))
        };
        assert!(reference_npcu(w, pid, before) >= req, "{row}");
        // Renewals: at least the fewest of the largest certifications ending
        // in the window that cover the shortfall at its end, and at most
        // every one of them.
        let values = ending_values(w, pid, end);
        let short = req - later;
        let mut acc = 0;
        let lower = values
            .iter()
            .position(|v| {
                acc += v;
                acc >= short
            })
            .map(|i| i + 1)
            .expect("renewing everything that ends restores the tier");
        let n = row["renewals_needed"].as_u64().unwrap() as usize;
        assert!(n >= lower && n <= values.len(), "{row}: {values:?}");
        // Default order: soonest drop first.
        let d = row["drops_below_on"].as_str().unwrap().to_string();
        assert!(prev <= d, "sorted by drop date");
        prev = d;
    }
    ids
}

async fn check_forecast_route(w: &World) {
    let got = w
        .admin_json("/api/reports/tier-at-risk?days=365&limit=1000")
        .await;
    for row in got["data"].as_array().unwrap().iter().take(5) {
        let pid = row["partner_id"].as_str().unwrap();
        let f = w
            .admin_json(&format!("/api/partners/{pid}/forecast?days=365"))
            .await;
        assert_eq!(f["drops_below_on"], row["drops_below_on"], "{f}");
        assert_eq!(f["projected_npcu"], row["projected_npcu"], "{f}");
        assert_eq!(f["npcu"], row["npcu"], "{f}");
        assert_eq!(
            f["renewals"].as_array().unwrap().len() as u64,
            row["renewals_needed"].as_u64().unwrap()
        );
        assert!(f["renew_by"].is_string(), "{f}");
        // The step series: today's value first, then each change, falling.
        let steps = f["steps"].as_array().unwrap();
        assert_eq!(steps[0]["date"], w.env.now.date_naive().to_string());
        assert_eq!(steps[0]["npcu"], row["npcu"]);
        assert_eq!(steps.last().unwrap()["npcu"], row["projected_npcu"]);
        for s in steps {
            let d: NaiveDate = s["date"].as_str().unwrap().parse().unwrap();
            assert_eq!(s["npcu"], reference_npcu(w, pid, end_of(d)), "{s}");
        }
        let values: Vec<u64> = steps.iter().map(|s| s["npcu"].as_u64().unwrap()).collect();
        assert!(values.windows(2).all(|v| v[1] < v[0]), "{values:?}");
    }
    // The partner's own link sees its forecast; unknown partners are 404.
    let r = w
        .get("/api/partners/no-such-partner/forecast", Some(ADMIN))
        .await;
    assert_eq!(r.status(), 404);
}

async fn check_bad_parameters(w: &World) {
    for q in [
        "days=0",
        "days=731",
        "days=x",
        "days=1.5",
        "days=-3",
        "days=1&days=2",
    ] {
        for path in ["/api/reports/tier-at-risk", "/api/partners/any/forecast"] {
            let r = w.get(&format!("{path}?{q}"), Some(ADMIN)).await;
            assert_eq!(r.status(), 400, "{path}?{q}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["parameter"], "days", "{path}?{q}: {body}");
        }
    }
    let r = w
        .get("/api/partners/any/forecast?tier=Select", Some(ADMIN))
        .await;
    assert_eq!(r.status(), 400);
    let r = w
        .get("/api/reports/tier-at-risk?sort=-bogus", Some(ADMIN))
        .await;
    assert_eq!(r.status(), 400);
    // No credential: 401, nothing read.
    assert_eq!(w.get("/api/reports/tier-at-risk", None).await.status(), 401);
}

async fn check_scope_filters_exports(w: &World) {
    let all = w
        .admin_json("/api/reports/tier-at-risk?days=730&limit=1000")
        .await;
    let rows = all["data"].as_array().unwrap();
    // A PAM sees their partners only.
    let owner = rows
        .iter()
        .find_map(|r| r["owner_email"].as_str())
        .expect("an at-risk partner with an owner")
        .to_string();
    let (_, pam, _) = w
        .create_token(json!({"kind": "pam", "owner_email": owner}))
        .await;
    let mine = w
        .get("/api/reports/tier-at-risk?days=730&limit=1000", Some(&pam))
        .await;
    assert_eq!(mine.status(), 200);
    let mine: Value = mine.json().await.unwrap();
    let want: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["owner_email"].as_str() == Some(owner.as_str()))
        .map(|r| r["partner_id"].as_str().unwrap())
        .collect();
    let got: BTreeSet<&str> = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["partner_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, want);
    // Another owner's partner's forecast is 404 to the PAM.
    if let Some(other) = rows
        .iter()
        .find(|r| r["owner_email"].as_str() != Some(owner.as_str()))
    {
        let pid = other["partner_id"].as_str().unwrap();
        let r = w
            .get(&format!("/api/partners/{pid}/forecast"), Some(&pam))
            .await;
        assert_eq!(r.status(), 404);
    }
    // The tier filter and a sort.
    let tier = rows[0]["tier"].as_str().unwrap().to_string();
    let f = w
        .admin_json(&format!(
            "/api/reports/tier-at-risk?days=730&limit=1000&tier={tier}&sort=-npcu"
        ))
        .await;
    let f = f["data"].as_array().unwrap();
    assert!(!f.is_empty() && f.iter().all(|r| r["tier"] == tier.as_str()));
    let n: Vec<u64> = f.iter().map(|r| r["npcu"].as_u64().unwrap()).collect();
    assert!(n.windows(2).all(|v| v[0] >= v[1]), "{n:?}");
    // CSV: the same rows, the listed columns.
    let r = w
        .get("/api/reports/tier-at-risk?days=730&format=csv", Some(ADMIN))
        .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header,
        [
            "partner_id",
            "name",
            "tier",
            "owner_email",
            "required_npcu",
            "npcu",
            "projected_npcu",
            "drops_below_on",
            "renewals_needed"
        ]
    );
    let ids: Vec<String> = rd.records().map(|r| r.unwrap()[0].to_string()).collect();
    let json_ids: Vec<String> = rows
        .iter()
        .map(|r| r["partner_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, json_ids);
    let r = w
        .get(
            "/api/reports/tier-at-risk?days=730&format=xlsx",
            Some(ADMIN),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("tier-at-risk.xlsx"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_at_risk_matches_the_reference_at_the_window_end() {
    let w = world().await;
    let mut shorter = BTreeSet::new();
    for days in [1, 30, 90, 365, 730] {
        let ids = check_window(&w, days).await;
        // Whoever drops within a window drops within every longer one.
        assert!(shorter.is_subset(&ids), "days={days}");
        shorter = ids;
    }
    assert!(!shorter.is_empty(), "the data set has partners at risk");
    check_forecast_route(&w).await;
    check_bad_parameters(&w).await;
    check_scope_filters_exports(&w).await;

    // The default window is 90 days. Whether the generated data has a drop
    // inside 90 days depends on its tiers, so make one: a partner short of
    // its tier gets an organisation certification worth its gap that ends
    // in 45 days — it meets its tier now and drops inside 90 days.
    let gaps = w.admin_json("/api/reports/gaps?limit=1000").await;
    let short = gaps["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["gap"].as_u64().is_some_and(|g| g > 0))
        .expect("a partner short of its tier");
    let pid = short["partner_id"].as_str().unwrap().to_string();
    let gap = short["gap"].as_u64().unwrap();
    let day = |d: i64| {
        (w.env.now + Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
    };
    let r = w
        .send(
            reqwest::Method::POST,
            "/api/admin/awards",
            Some(ADMIN),
            Some(
                json!({"kind": "org", "partner_id": pid, "name": "Interim accreditation",
                "npcu": gap, "starts_at": day(-1), "ends_at": day(45)}),
            ),
        )
        .await;
    assert_eq!(r.status(), 201);
    let ids = |v: &Value| -> BTreeSet<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partner_id"].as_str().unwrap().to_string())
            .collect()
    };
    let a = w.admin_json("/api/reports/tier-at-risk?limit=1000").await;
    let b = w
        .admin_json("/api/reports/tier-at-risk?days=90&limit=1000")
        .await;
    assert_eq!(a["data"], b["data"]);
    assert!(ids(&a).contains(&pid), "{pid} drops in 90 days: {a}");
    // At the latest the day after the certification ends (earlier if one
    // of its own certifications ends first).
    let row = a["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["partner_id"] == pid.as_str())
        .unwrap();
    let drop = row["drops_below_on"].as_str().unwrap();
    assert!(drop <= day(46).as_str(), "{row}");
}
