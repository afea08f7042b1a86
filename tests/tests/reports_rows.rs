//! Every report's rows and totals against the reference model of the
//! generator's data (`portal_e2e::reference`), plus filters, sort, paging,
//! bad parameters, and CSV/XLSX read back to the same rows.

mod reports_support;

use std::collections::{BTreeMap, BTreeSet};

use calamine::{Data, Reader, Xlsx};
use portal_e2e::reference::Status;
use reports_support::{world, World, ADMIN};
use serde_json::Value;

fn ids(rows: &Value) -> BTreeSet<String> {
    rows["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["partner_id"].as_str().unwrap().to_string())
        .collect()
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn check_partner_reports(w: &World) {
    let now = w.env.now;
    let r = &w.reference;
    let numbers = r.numbers(now);
    let tracked: Vec<_> = r.tracked().collect();
    assert!(tracked.len() > 3, "small data set has partners");
    // The requirement of partners whose tier has a configured one (a blank
    // tier requires 0); the others are "tier not configured".
    let required: BTreeMap<&str, u32> = tracked
        .iter()
        .filter_map(|p| r.required(p).map(|req| (p.id.as_str(), req)))
        .collect();
    assert!(required.len() * 2 > tracked.len(), "most tiers are known");

    // Leaderboard: every tracked partner once, NPCU/requirement as computed.
    let lb = w.admin_json("/api/reports/leaderboard?limit=1000").await;
    assert_eq!(lb["meta"]["total"], tracked.len());
    assert_eq!(lb["meta"]["limit"], 1000);
    assert_eq!(ids(&lb), tracked.iter().map(|p| p.id.clone()).collect());
    let rows = lb["data"].as_array().unwrap();
    for row in rows {
        let id = row["partner_id"].as_str().unwrap();
        assert_eq!(row["npcu"], numbers[id].npcu, "{row}");
        if let Some(req) = required.get(id) {
            assert_eq!(row["required_npcu"], *req, "{row}");
            assert_eq!(row["meets_requirement"], numbers[id].npcu >= *req, "{row}");
        } else {
            assert_eq!(row["standing"], "tier not configured", "{row}");
            assert_eq!(row["meets_requirement"], false, "{row}");
            assert!(row["required_npcu"].is_null(), "{row}");
        }
        for f in ["partner_id", "name", "tier", "npcu", "required_npcu"] {
            assert!(row.get(f).is_some(), "{f} missing");
        }
    }
    let npcus: Vec<u64> = rows.iter().map(|r| r["npcu"].as_u64().unwrap()).collect();
    assert!(npcus.windows(2).all(|w| w[0] >= w[1]), "ranked by NPCU");
    assert_eq!(rows[0]["rank"], 1);

    // Overview totals.
    let ov = w.admin_json("/api/reports/overview").await;
    let o = &ov["data"][0];
    let tn: Vec<_> = tracked.iter().map(|p| &numbers[&p.id]).collect();
    assert_eq!(o["active_partners"], tracked.len());
    assert_eq!(o["total_npcu"], tn.iter().map(|n| n.npcu).sum::<u32>());
    assert_eq!(
        o["certified_users"],
        tn.iter().map(|n| n.certified_users).sum::<u32>()
    );
    assert_eq!(
        o["certifications"],
        tn.iter().map(|n| n.certifications).sum::<u32>()
    );
    let meeting_known = required
        .iter()
        .filter(|(id, req)| numbers[**id].npcu >= **req)
        .count();
    let unknown = tracked.len() - required.len();
    assert!(
        unknown > 0,
        "small data set has a tier the defaults do not list"
    );
    assert_eq!(o["partners_meeting_tier"], meeting_known, "{o}");
    assert_eq!(
        o["partners_below_tier"],
        required.len() - meeting_known,
        "{o}"
    );
    assert_eq!(o["partners_tier_not_configured"], unknown, "{o}");

    // Gaps: exactly the partners below requirement, with the shortfall,
    // then those whose tier is not configured.
    let gaps = w.admin_json("/api/reports/gaps?limit=1000").await;
    let want: BTreeSet<String> = required
        .iter()
        .filter(|(id, req)| numbers[**id].npcu < **req)
        .map(|(id, _)| id.to_string())
        .collect();
    assert!(!want.is_empty(), "small data set has gaps");
    let got: BTreeSet<String> = ids(&gaps)
        .into_iter()
        .filter(|id| required.contains_key(id.as_str()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(gaps["meta"]["total"], want.len() + unknown);
    for row in gaps["data"].as_array().unwrap() {
        let id = row["partner_id"].as_str().unwrap();
        if let Some(req) = required.get(id) {
            assert_eq!(row["gap"], req - numbers[id].npcu, "{row}");
            assert!(row["gap"].as_u64().unwrap() > 0, "{row}");
            assert_eq!(row["standing"], "below", "{row}");
        } else {
            assert!(row["gap"].is_null(), "{row}");
            assert_eq!(row["standing"], "tier not configured", "{row}");
        }
    }

    // Partners without groups.
    let wg = w
        .admin_json("/api/reports/partners-without-groups?limit=1000")
        .await;
    let want: BTreeSet<String> = tracked
        .iter()
        .filter(|p| p.group_id.is_none())
        .map(|p| p.id.clone())
        .collect();
    assert!(
        !want.is_empty(),
        "small data set has partners without group"
    );
    assert_eq!(ids(&wg), want);

    // Owners: every partner under its PAM.
    let ow = w.admin_json("/api/reports/owners?limit=1000").await;
    assert_eq!(ow["meta"]["total"], tracked.len());
}

async fn check_filters_sort_paging(w: &World) {
    // tier filter
    let premier: BTreeSet<String> = w
        .reference
        .tracked()
        .filter(|p| {
            p.tier
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("premier"))
        })
        .map(|p| p.id.clone())
        .collect();
    assert!(!premier.is_empty(), "small data set has Premier partners");
    let r = w
        .admin_json("/api/reports/leaderboard?tier=premier&limit=1000")
        .await;
    assert_eq!(ids(&r), premier);
    // region and owner filters match what the summaries hold.
    let sums = w.summaries().await;
    let regions: BTreeSet<String> = sums.iter().filter_map(|s| s.region.clone()).collect();
    assert!(regions.len() > 1, "small data set has regions: {regions:?}");
    let region = regions.iter().next().unwrap();
    let want: BTreeSet<String> = sums
        .iter()
        .filter(|s| s.region.as_deref() == Some(region.as_str()))
        .map(|s| s.partner_id.clone())
        .collect();
    assert!(want.len() < sums.len(), "the filter filters");
    let r = w
        .admin_json(&format!(
            "/api/reports/leaderboard?limit=1000&region={}",
            region.to_lowercase().replace(' ', "%20")
        ))
        .await;
    assert_eq!(ids(&r), want);
    let owner = sums
        .iter()
        .find_map(|s| s.owner_email.clone())
        .expect("owners in data");
    let want: BTreeSet<String> = sums
        .iter()
        .filter(|s| s.owner_email.as_deref() == Some(&owner))
        .map(|s| s.partner_id.clone())
        .collect();
    let r = w
        .admin_json(&format!(
            "/api/reports/owners?limit=1000&owner={}",
            owner.to_uppercase()
        ))
        .await;
    assert_eq!(ids(&r), want);

    // sort by name ascending / descending, then paging slices the sorted list.
    let all = w
        .admin_json("/api/reports/leaderboard?sort=name&limit=1000")
        .await;
    let names: Vec<String> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_lowercase())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let desc = w
        .admin_json("/api/reports/leaderboard?sort=-required_npcu,name&limit=1000")
        .await;
    // Empty cells ("tier not configured") sort last in both directions.
    let req: Vec<Option<u64>> = desc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["required_npcu"].as_u64())
        .collect();
    assert!(req.windows(2).all(|w| match (w[0], w[1]) {
        (Some(a), Some(b)) => a >= b,
        (_, None) => true,
        (None, Some(_)) => false,
    }));
    let p2 = w
        .admin_json("/api/reports/leaderboard?sort=name&limit=3&page=2")
        .await;
    assert_eq!(p2["meta"]["page"], 2);
    assert_eq!(p2["meta"]["total"], w.reference.tracked().count());
    assert_eq!(
        p2["data"].as_array().unwrap().as_slice(),
        &all["data"].as_array().unwrap()[3..6]
    );

    // Bad parameters: 400 naming the parameter.
    for (q, param) in [
        ("/api/reports/leaderboard?limit=1001", "limit"),
        ("/api/reports/leaderboard?page=0", "page"),
        ("/api/reports/leaderboard?sort=-bogus", "sort"),
        ("/api/reports/leaderboard?format=pdf", "format"),
        ("/api/reports/leaderboard?status=active", "status"),
        ("/api/reports/expiring?days=abc", "days"),
        ("/api/reports/user-certifications?status=done", "status"),
        ("/api/reports/gaps?colour=red", "colour"),
        ("/api/reports/orphans?tier=Premier", "tier"),
    ] {
        let r = w.get(q, Some(ADMIN)).await;
        assert_eq!(r.status(), 400, "{q}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["parameter"], param, "{q}: {b}");
        assert!(b["error"].as_str().unwrap().contains(param), "{b}");
    }
}

async fn check_cert_reports(w: &World) {
    let now = w.env.now;
    let tracked: BTreeSet<&str> = w.reference.tracked().map(|p| p.id.as_str()).collect();
    let statuses: BTreeMap<(String, String, String), Status> = w
        .reference
        .statuses(now)
        .into_iter()
        .filter(|((p, _, _), _)| tracked.contains(p.as_str()))
        .collect();
    let uc = w
        .admin_json("/api/reports/user-certifications?limit=1000&page=1")
        .await;
    assert_eq!(uc["meta"]["total"], statuses.len());
    let mut total = 0;
    let mut page = 1;
    loop {
        let r = w
            .admin_json(&format!(
                "/api/reports/user-certifications?limit=1000&page={page}"
            ))
            .await;
        let rows = r["data"].as_array().unwrap();
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let key = (
                cell(&row["partner_id"]),
                cell(&row["user_id"]),
                cell(&row["course_id"]),
            );
            let want = statuses
                .get(&key)
                .unwrap_or_else(|| panic!("unexpected row {row}"));
            assert_eq!(row["status"], want.as_str(), "{row}");
            total += 1;
        }
        page += 1;
    }
    assert_eq!(total, statuses.len());
    let n_expiring = statuses
        .values()
        .filter(|s| **s == Status::Expiring)
        .count();
    assert!(n_expiring > 0, "small data has expiring certifications");
    let ex = w
        .admin_json("/api/reports/user-certifications?status=expiring&limit=1000&page=1")
        .await;
    assert_eq!(ex["meta"]["total"], n_expiring);

    // Expiring in the next 90 days = exactly the `expiring` records (the
    // warning window is 90 days, inclusive).
    let ex = w
        .admin_json("/api/reports/expiring?days=90&limit=1000&page=1")
        .await;
    assert_eq!(ex["meta"]["total"], n_expiring);
    let days: Vec<i64> = ex["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["days_left"].as_i64().unwrap())
        .collect();
    assert!(days.windows(2).all(|w| w[0] <= w[1]), "soonest first");
    assert!(days.iter().all(|d| (0..=90).contains(d)));
    // Expiring within 30 days: the expiring records whose expiry is at most
    // 30 days away.
    let want30 = statuses
        .iter()
        .filter(|(_, s)| **s == Status::Expiring)
        .filter(|((_, u, c), _)| {
            let r = &w.reference.records[&(u.clone(), c.clone())];
            w.reference
                .expiry(r)
                .is_some_and(|e| e - now <= chrono::TimeDelta::days(30))
        })
        .count();
    let ex30 = w
        .admin_json("/api/reports/expiring?days=30&limit=1000&page=1")
        .await;
    assert_eq!(ex30["meta"]["total"].as_u64().unwrap() as usize, want30);
    assert!(want30 < n_expiring, "30 days is a narrower window");

    // Category and partner filters.
    let cat = uc["data"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| r["category"].as_str())
        .expect("rows with a category");
    let want_cat = statuses
        .keys()
        .filter(|(_, _, c)| w.reference.courses[c].category.as_deref() == Some(cat))
        .count();
    let r = w
        .admin_json(&format!(
            "/api/reports/user-certifications?limit=1000&page=1&category={}",
            cat.replace(' ', "%20")
        ))
        .await;
    assert!(r["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["category"] == cat));
    assert_eq!(r["meta"]["total"].as_u64().unwrap() as usize, want_cat);
    let pid = &uc["data"][0]["partner_id"];
    let r = w
        .admin_json(&format!(
            "/api/reports/user-certifications?limit=1000&page=1&partner={}",
            pid.as_str().unwrap()
        ))
        .await;
    let want = statuses
        .keys()
        .filter(|(p, _, _)| p == pid.as_str().unwrap())
        .count();
    assert_eq!(r["meta"]["total"], want);
}

async fn check_people_reports(w: &World) {
    let t = &w.reference;
    // Orphans: active users counted by no tracked partner.
    let members: BTreeSet<&String> = t.tracked().flat_map(|p| p.members.iter()).collect();
    let want: BTreeSet<String> = t
        .users
        .values()
        .filter(|u| u.active && !members.contains(&u.id))
        .map(|u| u.id.clone())
        .collect();
    assert!(!want.is_empty(), "small data set has orphans");
    let r = w.admin_json("/api/reports/orphans?limit=1000").await;
    let got: BTreeSet<String> = r["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| cell(&x["user_id"]))
        .collect();
    assert_eq!(got, want);

    // Contacts not in LMS: active contacts of tracked partners whose e-mail
    // has no LMS user.
    let emails: BTreeSet<&str> = t.users.values().map(|u| u.email.as_str()).collect();
    let tracked: BTreeSet<&str> = t.tracked().map(|p| p.id.as_str()).collect();
    let want: BTreeSet<String> = t
        .contacts
        .iter()
        .filter(|c| c.counts && c.account_id.as_deref().is_some_and(|a| tracked.contains(a)))
        .filter(|c| !emails.contains(c.email.as_str()))
        .map(|c| c.id.clone())
        .collect();
    assert!(
        !want.is_empty(),
        "small data set has contacts not in the LMS"
    );
    let r = w
        .admin_json("/api/reports/contacts-not-in-lms?limit=1000&page=1")
        .await;
    let got: BTreeSet<String> = r["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| cell(&x["contact_id"]))
        .collect();
    assert_eq!(got, want);
}

async fn check_exports(w: &World) {
    for report in [
        "leaderboard",
        "gaps",
        "user-certifications",
        "expiring",
        "owners",
        "overview",
    ] {
        // Sorted by a column with ties, so row order must survive encoding.
        let sort = if report == "overview" {
            ""
        } else {
            "&sort=-npcu"
        };
        let json = w
            .admin_json(&format!("/api/reports/{report}?limit=1000{sort}"))
            .await;
        let rows = json["data"].as_array().unwrap();
        let cols: Vec<String> = rows
            .first()
            .map(|r| r.as_object().unwrap().keys().cloned().collect())
            .unwrap_or_default();

        // CSV
        let r = w
            .get(
                &format!("/api/reports/{report}?limit=1000{sort}&format=csv"),
                Some(ADMIN),
            )
            .await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        assert!(r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("{report}.csv")));
        let text = r.text().await.unwrap();
        let mut rd = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
        let csv_rows: Vec<Vec<String>> = rd
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        assert_eq!(csv_rows.len(), rows.len(), "{report}");
        for (c, j) in csv_rows.iter().zip(rows) {
            for (h, v) in header.iter().zip(c) {
                assert_eq!(*v, cell(&j[h]), "{report}.{h}");
            }
        }
        let mut sorted_cols = cols.clone();
        sorted_cols.sort();
        let mut sorted_header = header.clone();
        sorted_header.sort();
        if !rows.is_empty() {
            assert_eq!(sorted_header, sorted_cols, "{report}: same columns");
        }

        // XLSX
        let r = w
            .get(
                &format!("/api/reports/{report}?limit=1000{sort}&format=xlsx"),
                Some(ADMIN),
            )
            .await;
        assert_eq!(r.status(), 200);
        let bytes = r.bytes().await.unwrap();
        let mut wb: Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let range = wb.worksheet_range(report).unwrap();
        let mut it = range.rows();
        let head: Vec<String> = it.next().unwrap().iter().map(|c| c.to_string()).collect();
        // Readable titles for people, same columns in the same order.
        let titles: Vec<String> = header
            .iter()
            .map(|h| portal_reports::export::column_title(h))
            .collect();
        assert_eq!(head, titles, "{report}: xlsx header");
        let x_rows: Vec<&[Data]> = it.collect();
        assert_eq!(x_rows.len(), rows.len(), "{report}");
        for (x, j) in x_rows.iter().zip(rows) {
            for (h, d) in header.iter().zip(x.iter()) {
                let got = match d {
                    // Dates are date cells: compare the instant.
                    Data::DateTime(d) => {
                        let want: chrono::DateTime<chrono::Utc> =
                            cell(&j[h]).parse().expect("a date in the JSON");
                        let base = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)
                            .unwrap()
                            .and_hms_opt(0, 0, 0)
                            .unwrap();
                        let got = (base
                            + chrono::Duration::milliseconds(
                                (d.as_f64() * 86_400_000.0).round() as i64
                            ))
                        .and_utc();
                        assert_eq!(got, want, "{report}.{h}");
                        continue;
                    }
                    Data::Empty => String::new(),
                    Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
                    Data::Float(f) => f.to_string(),
                    Data::Int(i) => i.to_string(),
                    Data::Bool(b) => b.to_string(),
                    Data::String(s) => s.clone(),
                    other => other.to_string(),
                };
                assert_eq!(got, cell(&j[h]), "{report}.{h}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_match_the_generated_data() {
    let w = world().await;
    check_partner_reports(&w).await;
    check_filters_sort_paging(&w).await;
    check_cert_reports(&w).await;
    check_people_reports(&w).await;
    check_exports(&w).await;
}
