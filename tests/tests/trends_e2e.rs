//! `trends`, `recent-certifications`, `popular-courses` and the membership
//! reports over several simulated days: the sources change from day to
//! day (a member completes a certification, another renews one), the clock
//! (`PORTAL_NOW` and the simulators' clock) moves a day between syncs, and
//! the reports served as of the last day are checked against numbers
//! computed independently from the simulators' raw data by the reference
//! model (`portal_e2e::reference`, none of `portal-core`'s rules).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, Months, Utc};
use portal_core::config::Secret;
use portal_e2e::reference::{Progress, Reference};
use portal_e2e::{TestEnv, TestEnvOptions};
use portal_infra::sim::Mutation;
use portal_reports::local::spawn;
use portal_reports::AppState;
use portal_sync::{Deps, Mode, RunStatus};
use serde_json::Value;

const ADMIN: &str = "trends-admin-token-0123456789abcdef";

fn deps_at(env: &TestEnv, at: DateTime<Utc>) -> Deps {
    Deps {
        config: env
            .config_with(&[("PORTAL_NOW", &at.to_rfc3339())])
            .expect("config"),
        ..env.deps.clone()
    }
}

async fn sync_day(env: &TestEnv, at: DateTime<Utc>, mode: Mode) {
    env.sims.set_clock(at);
    for r in portal_sync::run_all(&deps_at(env, at), mode, None).await {
        assert_eq!(r.status, RunStatus::Succeeded, "{r:#?}");
    }
}

/// One dated event of the reference: a completion or an expiry that has
/// happened by `now`, of a certification (NPCU > 0) of a tracked
/// partner's member, with the course's category and NPCU.
struct Event {
    at: DateTime<Utc>,
    new: bool,
    category: String,
    npcu: u32,
}

fn events(r: &Reference, now: DateTime<Utc>) -> Vec<Event> {
    let mut out = Vec::new();
    for p in r.tracked() {
        for u in &p.members {
            for ((_, _), rec) in r
                .records
                .range((u.clone(), String::new())..)
                .take_while(|((uu, _), _)| uu == u)
            {
                let Some(c) = r.courses.get(&rec.course_id) else {
                    continue;
                };
                if c.npcu == 0 || rec.progress != Progress::Completed {
                    continue;
                }
                let category = c
                    .category
                    .clone()
                    .unwrap_or_else(|| "Uncategorized".to_string());
                for (at, new) in [(rec.completed_at, true), (r.expiry(rec), false)] {
                    if let Some(at) = at.filter(|t| *t <= now) {
                        out.push(Event {
                            at,
                            new,
                            category: category.clone(),
                            npcu: c.npcu,
                        });
                    }
                }
            }
        }
    }
    out
}

/// The period label of an instant, and of the instant a year later (the
/// period whose "year before" columns it counts in).
fn label(by: &str, t: DateTime<Utc>) -> String {
    let d = t.date_naive();
    match by {
        "month" => format!("{:04}-{:02}", d.year(), d.month()),
        _ => {
            let w = d.iso_week();
            format!("{:04}-W{:02}", w.year(), w.week())
        }
    }
}
fn label_year_later(by: &str, t: DateTime<Utc>) -> String {
    match by {
        "month" => label(by, t + Months::new(12)),
        _ => label(by, t + Duration::days(364)),
    }
}

#[derive(Default, Debug, PartialEq, Clone, Copy)]
struct Tally {
    new: u64,
    new_npcu: u64,
    expired: u64,
    expired_npcu: u64,
    new_before: u64,
    expired_before: u64,
    net_before: i64,
}

fn reference_trends(
    r: &Reference,
    now: DateTime<Utc>,
    by: &str,
) -> BTreeMap<(String, String), Tally> {
    let mut m: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for e in events(r, now) {
        let t = m.entry((label(by, e.at), e.category.clone())).or_default();
        if e.new {
            t.new += 1;
            t.new_npcu += u64::from(e.npcu);
        } else {
            t.expired += 1;
            t.expired_npcu += u64::from(e.npcu);
        }
        let y = m
            .entry((label_year_later(by, e.at), e.category))
            .or_default();
        if e.new {
            y.new_before += 1;
            y.net_before += i64::from(e.npcu);
        } else {
            y.expired_before += 1;
            y.net_before -= i64::from(e.npcu);
        }
    }
    m
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trends_and_the_missing_reports_follow_the_sources_day_by_day() {
    let env = TestEnv::start(TestEnvOptions {
        accounts: Some(6),
        ..Default::default()
    })
    .await
    .expect("test env");
    let day0 = env.now + Duration::hours(6);
    let days: Vec<DateTime<Utc>> = (0..3).map(|k| day0 + Duration::days(k)).collect();
    sync_day(&env, days[0], Mode::Full).await;
    let r0 = env.reference();

    // A member of a tracked partner without some certification (day 1
    // completes it), and a member holding one (day 2 renews it).
    let cert_courses: Vec<&str> = r0
        .courses
        .values()
        .filter(|c| c.npcu > 0)
        .map(|c| c.id.as_str())
        .collect();
    let completed = |u: &str, c: &str| {
        r0.records
            .get(&(u.to_string(), c.to_string()))
            .is_some_and(|rec| rec.progress == Progress::Completed)
    };
    let (learner, course, renewer, renewed) = r0
        .tracked()
        .find_map(|p| {
            let (l, c) = p.members.iter().find_map(|u| {
                cert_courses
                    .iter()
                    .find(|c| !completed(u, c))
                    .map(|c| (u.clone(), c.to_string()))
            })?;
            let (ru, rc) = p.members.iter().filter(|u| **u != l).find_map(|u| {
                cert_courses
                    .iter()
                    .find(|c| completed(u, c))
                    .map(|c| (u.clone(), c.to_string()))
            })?;
            Some((l, c, ru, rc))
        })
        .expect("a partner with a learner and a certified member");

    env.sims.set_clock(days[1]);
    env.sims
        .mutate(Mutation::CompleteCourse {
            person_id: learner.clone(),
            course_id: course.clone(),
            at: None,
        })
        .unwrap();
    sync_day(&env, days[1], Mode::Incremental).await;
    env.sims.set_clock(days[2]);
    env.sims
        .mutate(Mutation::RenewCourse {
            person_id: renewer.clone(),
            course_id: renewed.clone(),
            at: None,
        })
        .unwrap();
    sync_day(&env, days[2], Mode::Incremental).await;
    let r = env.reference();
    let now = days[2];

    let cfg = env
        .config_with(&[("PORTAL_NOW", &now.to_rfc3339())])
        .unwrap();
    let state = AppState::new(&cfg, env.store.clone())
        .with_admin_token(ADMIN)
        .with_link_key(Secret::new("trends-link-key"));
    let server = spawn(state, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("server");
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", server.url());
        async move { http.get(url).bearer_auth(ADMIN).send().await.unwrap() }
    };
    let json = |path: String| async move {
        let resp = get(path.clone()).await;
        assert_eq!(resp.status(), 200, "{path}");
        resp.json::<Value>().await.unwrap()
    };

    // Trends by month and by week, per category, against the reference.
    for (by, periods) in [("month", 14u64), ("week", 10)] {
        let want = reference_trends(&r, now, by);
        let got = json(format!(
            "/api/reports/trends?by={by}&group=category&periods={periods}&limit=1000"
        ))
        .await;
        let rows = got["data"].as_array().unwrap();
        let labels: BTreeSet<&str> = rows.iter().map(|x| x["period"].as_str().unwrap()).collect();
        assert_eq!(labels.len() as u64, periods, "{by}");
        assert_eq!(labels.last().copied(), Some(label(by, now).as_str()));
        let mut new_total = 0;
        for row in rows {
            let key = (
                row["period"].as_str().unwrap().to_string(),
                row["group"].as_str().unwrap().to_string(),
            );
            let w = want.get(&key).copied().unwrap_or_default();
            assert_eq!(u(&row["new_certifications"]), w.new, "{by} {row}");
            assert_eq!(u(&row["new_npcu"]), w.new_npcu, "{by} {row}");
            assert_eq!(u(&row["expirations"]), w.expired, "{by} {row}");
            assert_eq!(u(&row["expired_npcu"]), w.expired_npcu, "{by} {row}");
            assert_eq!(
                row["net_npcu"].as_i64().unwrap(),
                w.new_npcu as i64 - w.expired_npcu as i64,
                "{by} {row}"
            );
            assert_eq!(
                u(&row["new_certifications_year_before"]),
                w.new_before,
                "{by} {row}"
            );
            assert_eq!(
                u(&row["expirations_year_before"]),
                w.expired_before,
                "{by} {row}"
            );
            assert_eq!(
                row["net_npcu_year_before"].as_i64().unwrap(),
                w.net_before,
                "{by} {row}"
            );
            new_total += w.new;
        }
        // Every completion of the shown periods is in some row.
        let shown_new: u64 = want
            .iter()
            .filter(|((p, _), _)| labels.contains(p.as_str()))
            .map(|(_, t)| t.new)
            .sum();
        assert_eq!(new_total, shown_new, "{by}");
        assert!(shown_new > 0, "{by}: the comparison is not vacuous");
    }
    // This month has the day-1 completion and the day-2 renewal.
    let this_month = json("/api/reports/trends?periods=1".into()).await;
    let row = &this_month["data"][0];
    assert_eq!(row["group"], "all");
    assert!(u(&row["new_certifications"]) >= 2, "{row}");

    // recent-certifications?days=2: exactly the reference's completions
    // of the last two days.
    let since = now - Duration::days(2);
    let mut want: BTreeSet<(String, String, String)> = BTreeSet::new();
    for p in r.tracked() {
        for u in &p.members {
            for c in &cert_courses {
                if let Some(rec) = r.records.get(&(u.clone(), c.to_string())) {
                    if rec.progress == Progress::Completed
                        && rec.completed_at.is_some_and(|t| t > since && t <= now)
                    {
                        want.insert((p.id.clone(), u.clone(), c.to_string()));
                    }
                }
            }
        }
    }
    assert!(want.iter().any(|(_, u, c)| *u == learner && *c == course));
    assert!(want.iter().any(|(_, u, c)| *u == renewer && *c == renewed));
    let got = json("/api/reports/recent-certifications?days=2&limit=1000".into()).await;
    let got: BTreeSet<(String, String, String)> = got["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["partner_id"].as_str().unwrap().to_string(),
                x["user_id"].as_str().unwrap().to_string(),
                x["course_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);

    // popular-courses: completions and distinct users per course.
    let mut per_course: BTreeMap<String, (u64, BTreeSet<String>)> = BTreeMap::new();
    for p in r.tracked() {
        for u in &p.members {
            for c in &cert_courses {
                if r.records
                    .get(&(u.clone(), c.to_string()))
                    .is_some_and(|rec| rec.progress == Progress::Completed)
                {
                    let e = per_course.entry(c.to_string()).or_default();
                    e.0 += 1;
                    e.1.insert(u.clone());
                }
            }
        }
    }
    let got = json("/api/reports/popular-courses?limit=1000".into()).await;
    let mut seen = BTreeSet::new();
    let mut last = u64::MAX;
    for row in got["data"].as_array().unwrap() {
        let id = row["course_id"].as_str().unwrap();
        let completions = u(&row["completions"]);
        let (n, users) = per_course.get(id).cloned().unwrap_or_default();
        assert_eq!(completions, n, "{row}");
        assert_eq!(u(&row["distinct_users"]), users.len() as u64, "{row}");
        assert!(completions <= last, "most completions first");
        last = completions;
        if n > 0 {
            seen.insert(id.to_string());
        }
    }
    assert_eq!(seen, per_course.keys().cloned().collect());

    // lms-users-not-in-crm: group members of tracked partners with no
    // active contact of that e-mail.
    let contact_emails: BTreeSet<String> = r
        .contacts
        .iter()
        .filter(|c| c.active)
        .map(|c| c.email.trim().to_lowercase())
        .collect();
    let mut want: BTreeSet<(String, String)> = BTreeSet::new();
    let mut groups_of_user: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in r.tracked() {
        let Some((_, members)) = p.group_id.as_ref().and_then(|g| r.groups.get(g)) else {
            continue;
        };
        for uid in members {
            let Some(user) = r.users.get(uid).filter(|x| x.active) else {
                continue;
            };
            groups_of_user
                .entry(uid.clone())
                .or_default()
                .insert(p.id.clone());
            if !contact_emails.contains(&user.email.trim().to_lowercase()) {
                want.insert((p.id.clone(), uid.clone()));
            }
        }
    }
    let ids = |v: &Value| -> BTreeSet<(String, String)> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["partner_id"].as_str().unwrap().to_string(),
                    x["user_id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let got = json("/api/reports/lms-users-not-in-crm?limit=1000".into()).await;
    assert_eq!(ids(&got), want);

    // group-audit: the users in several partner groups, each under every
    // one of those partners.
    let got = json("/api/reports/group-audit?limit=1000".into()).await;
    let several: BTreeSet<(String, String)> = got["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["finding"] == "in several partner groups")
        .map(|x| {
            (
                x["partner_id"].as_str().unwrap().to_string(),
                x["user_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = groups_of_user
        .iter()
        .filter(|(_, ps)| ps.len() > 1)
        .flat_map(|(u, ps)| ps.iter().map(move |p| (p.clone(), u.clone())))
        .collect();
    assert_eq!(several, want);

    // inactive-users: every row is a member whose last activity is before
    // the window (or never); a longer window lists no more users.
    let d30 = json("/api/reports/inactive-users?days=30&limit=1000".into()).await;
    let d365 = json("/api/reports/inactive-users?days=365&limit=1000".into()).await;
    let cutoff = now - Duration::days(30);
    for row in d30["data"].as_array().unwrap() {
        let pid = row["partner_id"].as_str().unwrap();
        let uid = row["user_id"].as_str().unwrap();
        assert!(r.partners[pid].members.contains(uid), "{row}");
        if let Some(t) = row["last_active_at"].as_str() {
            let t: DateTime<Utc> = t.parse().unwrap();
            assert!(t <= cutoff, "{row}");
        }
    }
    assert!(ids(&d365).is_subset(&ids(&d30)));

    // Exports: the same rows as a CSV file with the report's columns.
    let csv = get("/api/reports/trends?by=week&group=tier&format=csv".into()).await;
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    assert!(
        text.starts_with("period,period_start,group,new_certifications"),
        "{}",
        &text[..text.len().min(200)]
    );

    // The learner's partner's own dashboard: its chart's past now comes
    // from the three stored days (and is rebuilt before them), and it
    // links its certification list, which has the day-1 completion.
    let pid = r
        .tracked()
        .find(|p| p.members.contains(&learner))
        .map(|p| p.id.clone())
        .unwrap();
    let resp = http
        .post(format!("{}/api/admin/tokens", server.url()))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"kind": "partner_link", "partner_id": pid}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let link: Value = resp.json().await.unwrap();
    let link = link["token"].as_str().unwrap().to_string();
    let page = get(format!("/p/{link}")).await.text().await.unwrap();
    assert!(
        page.contains("from the daily history the portal stored; before it, reconstructed"),
        "{page}"
    );
    assert!(page.contains("id=\"download-csv\""));
    let csv = get(format!("/p/{link}/certifications.csv")).await;
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    assert!(
        csv.lines()
            .any(|l| l.contains(&learner) && l.contains(&course)),
        "{csv}"
    );

    // Bad input is a 400 naming the parameter.
    for (q, param) in [
        ("trends?by=day", "by"),
        ("trends?group=country", "group"),
        ("trends?periods=0", "periods"),
        ("trends?days=3", "days"),
        ("recent-certifications?days=x", "days"),
        ("inactive-users?by=week", "by"),
        ("group-audit?sort=bogus", "sort"),
    ] {
        let resp = get(format!("/api/reports/{q}")).await;
        assert_eq!(resp.status(), 400, "{q}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["parameter"], param, "{q}");
    }
}
