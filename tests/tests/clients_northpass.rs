//! The real Northpass client against the real Northpass simulator:
//! paging, incremental filter, auth fail-fast, faults and rate limiting.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::NaiveDate;
use futures::StreamExt;
use portal_core::sources::wire::parse_datetime_lenient;
use portal_core::sources::{NorthpassClient, NorthpassConfig, SourceError};
use portal_infra::datagen::{self, Dataset, DatasetSize, GenOptions};
use portal_infra::sim::{
    FaultAction, Mutation, ScriptedFault, Server, ServerOptions, SimConfig, Sims,
};

fn dataset() -> Dataset {
    datagen::generate(&GenOptions {
        size: DatasetSize::Small,
        seed: 7,
        as_of: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
    })
}

async fn start(np: ServerOptions) -> Sims {
    let mut cfg = SimConfig::new(dataset());
    cfg.northpass = np;
    Sims::start(cfg).await.expect("simulators start")
}

/// Fast retries so fault tests take seconds, not minutes; the policy is
/// the production one otherwise.
fn config(sims: &Sims) -> NorthpassConfig {
    NorthpassConfig {
        rate_limit_per_sec: 1000.0,
        max_retries: 10,
        retry_base_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(200),
        ..NorthpassConfig::new(sims.northpass_url(), sims.northpass_key())
    }
}

fn client(cfg: NorthpassConfig) -> NorthpassClient {
    NorthpassClient::new(cfg).expect("client")
}

fn ids<'a>(it: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut v: Vec<String> = it.into_iter().cloned().collect();
    v.sort();
    v
}

fn assert_unique(v: &[String]) {
    let set: BTreeSet<&String> = v.iter().collect();
    assert_eq!(set.len(), v.len(), "duplicates in {} ids", v.len());
}

#[tokio::test]
async fn paging_fetches_every_record_exactly_once() {
    let sims = start(ServerOptions::default()).await;
    let data = sims.dataset_snapshot();
    // An odd page size, so the last page is partial.
    let np = client(NorthpassConfig {
        page_limit: 37,
        ..config(&sims)
    });

    let people = np.people(None).await.unwrap();
    let got = ids(people.iter().map(|p| &p.id));
    assert_unique(&got);
    assert_eq!(got, ids(data.people.iter().map(|p| &p.id)));
    // One request per page, nothing more.
    let pages = data.people.len().div_ceil(37) as u64;
    assert_eq!(np.stats().requests, pages);
    assert_eq!(sims.stats().northpass.count("GET /v2/people"), pages);

    let groups = np.groups(None).await.unwrap();
    assert_eq!(
        ids(groups.iter().map(|g| &g.id)),
        ids(data.groups.iter().map(|g| &g.id))
    );
    assert!(groups.iter().all(|g| !g.name.is_empty()));

    let courses = np.courses(None).await.unwrap();
    assert_eq!(
        ids(courses.iter().map(|c| &c.id)),
        ids(data.courses.iter().map(|c| &c.id))
    );
    // `title`-only (older) records still get their name.
    for (c, d) in courses.iter().zip(&data.courses) {
        assert_eq!(c.id, d.id);
        assert_eq!(c.name, d.display_name());
    }

    let props = np.course_properties().await.unwrap();
    assert_eq!(props.len(), data.properties.len());
    assert!(props.iter().all(|p| p.npcu <= 2));
    assert!(props.iter().any(|p| p.npcu > 0), "some courses carry NPCU");

    // Streaming variant: same records, page by page, bounded page size.
    let mut streamed = Vec::new();
    let mut pages = np.people_pages(None);
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        assert!(page.len() <= 37);
        streamed.extend(page.into_iter().map(|p| p.id));
    }
    streamed.sort();
    assert_eq!(streamed, got);
}

#[tokio::test]
async fn memberships_and_transcripts_match_the_data() {
    let sims = start(ServerOptions::default()).await;
    let data = sims.dataset_snapshot();
    let np = client(NorthpassConfig {
        page_limit: 5,
        ..config(&sims)
    });

    let group_ids: Vec<String> = data.groups.iter().map(|g| g.id.clone()).collect();
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut s = np.fetch_all_memberships(group_ids.clone(), 4);
    while let Some((gid, r)) = s.next().await {
        let members = r.unwrap();
        assert!(members.iter().all(|m| m.group_id == gid));
        got.insert(gid, ids(members.iter().map(|m| &m.person_id)));
    }
    assert_eq!(got.len(), group_ids.len());
    for (gid, want) in &data.memberships {
        let want = ids(want.iter().map(|m| &m.relationships.person.data.id));
        assert_eq!(got[gid], want, "group {gid}");
    }

    // Transcripts of the people with the most records (paged at 5).
    let mut busiest: Vec<(&String, usize)> =
        data.transcripts.iter().map(|(p, t)| (p, t.len())).collect();
    busiest.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for (pid, _) in busiest.into_iter().take(5) {
        let got = np.transcripts(pid).await.unwrap();
        let want: Vec<_> = data.transcripts[pid]
            .iter()
            .filter(|t| t.attributes.resource_type == "course")
            .collect();
        assert_eq!(got.len(), want.len(), "person {pid}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.course_id, w.attributes.resource_id);
            assert_eq!(
                g.completed_at,
                w.attributes
                    .completed_at
                    .as_deref()
                    .and_then(parse_datetime_lenient)
            );
        }
    }
}

#[tokio::test]
async fn incremental_filter_returns_only_changed_records() {
    let sims = start(ServerOptions::default()).await;
    let data = sims.dataset_snapshot();
    let np = client(config(&sims));

    // Against the generated data: the filter matches the records' own
    // `updated_at`, compared as instants whatever their spelling.
    let mut stamps: Vec<_> = data
        .people
        .iter()
        .filter_map(|p| parse_datetime_lenient(&p.attributes.updated_at))
        .collect();
    stamps.sort();
    let since = stamps[stamps.len() * 3 / 4];
    let want: Vec<String> = ids(data
        .people
        .iter()
        .filter(|p| parse_datetime_lenient(&p.attributes.updated_at).is_some_and(|t| t >= since))
        .map(|p| &p.id));
    let got = np.people(Some(since)).await.unwrap();
    assert!(!want.is_empty() && want.len() < data.people.len());
    assert_eq!(ids(got.iter().map(|p| &p.id)), want);

    // After mutations: exactly the changed records.
    let before = sims.now();
    let person = data.people[3].id.clone();
    let group = data.groups[2].id.clone();
    sims.mutate(Mutation::ChangeEmail {
        person_id: person.clone(),
        email: "Changed.Person@Example.COM".into(),
    })
    .unwrap();
    sims.mutate(Mutation::RenameGroup {
        group_id: group.clone(),
        name: "ptr_Renamed Partner".into(),
    })
    .unwrap();
    let people = np.people(Some(before)).await.unwrap();
    assert_eq!(ids(people.iter().map(|p| &p.id)), vec![person]);
    assert_eq!(
        people[0].email.as_deref(),
        Some("Changed.Person@Example.COM")
    );
    let groups = np.groups(Some(before)).await.unwrap();
    assert_eq!(ids(groups.iter().map(|g| &g.id)), vec![group]);
    assert_eq!(groups[0].name, "ptr_Renamed Partner");
}

#[tokio::test]
async fn wrong_key_fails_at_once_without_retries() {
    let sims = start(ServerOptions::default()).await;
    let np = client(NorthpassConfig {
        api_key: "wrong-key".into(),
        ..config(&sims)
    });
    let err = np.people(None).await.unwrap_err();
    assert!(
        matches!(
            err,
            SourceError::Auth {
                source_name: "northpass",
                status: 401,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("northpass"), "{err}");
    assert!(
        err.to_string().contains("NORTHPASS_API_KEY"),
        "names the key: {err}"
    );
    assert!(!err.to_string().contains("wrong-key"), "key leaked: {err}");
    assert_eq!(np.stats().requests, 1);
    assert_eq!(np.stats().retries, 0);
    assert_eq!(sims.stats().northpass.total_requests, 1);

    // Later calls of the same client (a fan-out of transcript fetches)
    // fail without reaching the server at all.
    let people: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
    let results: Vec<_> = np.fetch_all_transcripts(people, 8).collect().await;
    assert!(results
        .iter()
        .all(|(_, r)| matches!(r, Err(e) if e.is_auth())));
    assert_eq!(sims.stats().northpass.total_requests, 1);
}

/// What the simulator serves, in the shapes the client returns: courses
/// (id → name), properties (course id → NPCU) and groups (id → name).
fn catalog(data: &Dataset) -> [BTreeMap<String, String>; 3] {
    [
        data.courses
            .iter()
            .map(|c| (c.id.clone(), c.display_name().to_string()))
            .collect(),
        data.properties
            .iter()
            .map(|p| {
                let n = parse_npcu_value(p.attributes.properties.get("npcu"));
                (p.relationships.course.data.id.clone(), n.to_string())
            })
            .collect(),
        data.groups
            .iter()
            .map(|g| (g.id.clone(), g.attributes.name.clone()))
            .collect(),
    ]
}

/// The documented NPCU reading (0 unless 1 or 2), written out here so the
/// test does not lean on the client's own parser.
fn parse_npcu_value(v: Option<&serde_json::Value>) -> u8 {
    let x = match v {
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        _ => None,
    };
    x.filter(|x| [1.0, 2.0].contains(x)).map_or(0, |x| x as u8)
}

#[tokio::test]
async fn a_429_storm_is_survived_with_correct_data() {
    // The first three requests of each list answer 429 — with Retry-After
    // on courses, without it (the client backs off on its own) elsewhere —
    // and a rate-limited server meets a client that thinks it may go faster.
    let sims = start(ServerOptions {
        rate_limit: Some(20.0),
        burst: 4,
        ..Default::default()
    })
    .await;
    let storm = |route: &str, retry_after| {
        ScriptedFault::run(
            route,
            1,
            3,
            FaultAction::Status {
                code: 429,
                retry_after,
            },
        )
    };
    sims.script_faults(
        Server::Northpass,
        vec![
            storm("GET /v2/courses", Some(1)),
            storm("GET /v2/properties/courses", None),
            storm("GET /v2/groups", None),
        ],
    );
    let data = sims.dataset_snapshot();
    let np = client(NorthpassConfig {
        rate_limit_per_sec: 200.0,
        burst: 20,
        max_concurrency: 8,
        page_limit: 100,
        ..config(&sims)
    });
    // Concurrent fetches so several requests meet the empty bucket at once.
    let (courses, props, groups) =
        tokio::join!(np.courses(None), np.course_properties(), np.groups(None));
    let got: [BTreeMap<String, String>; 3] = [
        courses
            .unwrap()
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect(),
        props
            .unwrap()
            .into_iter()
            .map(|p| (p.course_id, p.npcu.to_string()))
            .collect(),
        groups
            .unwrap()
            .into_iter()
            .map(|g| (g.id, g.name))
            .collect(),
    ];
    assert_eq!(got, catalog(&data));
    let s = np.stats();
    let sim = sims.stats().northpass;
    assert!(s.rate_limited >= 9, "the scripted storm: {s:?}");
    assert_eq!(s.rate_limited, sim.rate_limited);
    assert_eq!(s.retries, s.rate_limited, "every 429 retried, nothing else");
    assert_eq!(s.requests, sim.total_requests);
}

#[tokio::test]
async fn server_errors_and_malformed_pages_are_retried_to_a_complete_result() {
    let sims = start(ServerOptions {
        p_5xx: 0.2,
        p_malformed: 0.2,
        seed: 11,
        ..Default::default()
    })
    .await;
    let data = sims.dataset_snapshot();
    let np = client(NorthpassConfig {
        page_limit: 25,
        ..config(&sims)
    });
    let people = np.people(None).await.unwrap();
    let got = ids(people.iter().map(|p| &p.id));
    assert_unique(&got);
    assert_eq!(got, ids(data.people.iter().map(|p| &p.id)));
    let s = np.stats();
    let sim = sims.stats().northpass;
    assert!(s.server_errors > 0 && s.malformed > 0, "{s:?}");
    assert_eq!(s.server_errors, sim.injected_5xx);
    assert_eq!(s.malformed, sim.malformed);
    assert_eq!(s.retries, s.server_errors + s.malformed);
}

#[tokio::test]
async fn exhausted_retries_end_in_a_typed_error() {
    let sims = start(ServerOptions {
        p_5xx: 1.0,
        ..Default::default()
    })
    .await;
    let np = client(NorthpassConfig {
        max_retries: 3,
        ..config(&sims)
    });
    let err = np.courses(None).await.unwrap_err();
    assert!(
        matches!(
            err,
            SourceError::Server {
                source_name: "northpass",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(np.stats().requests, 4);
    assert_eq!(np.stats().retries, 3);
}

#[tokio::test]
async fn a_hung_request_times_out_and_is_retried() {
    let sims = start(ServerOptions::default()).await;
    // The first groups page and the second people page hang far longer
    // than the client waits.
    let hang = || FaultAction::Hang(Duration::from_secs(20));
    sims.script_faults(
        Server::Northpass,
        vec![
            ScriptedFault::nth("GET /v2/groups", 1, hang()),
            ScriptedFault::nth("GET /v2/people", 2, hang()),
        ],
    );
    let data = sims.dataset_snapshot();
    let np = client(NorthpassConfig {
        timeout: Duration::from_millis(400),
        page_limit: 50,
        ..config(&sims)
    });
    let groups = np.groups(None).await.unwrap();
    assert_eq!(
        groups
            .iter()
            .map(|g| (g.id.clone(), g.name.clone()))
            .collect::<BTreeMap<_, _>>(),
        catalog(&data)[2]
    );
    let people = np.people(None).await.unwrap();
    let got = ids(people.iter().map(|p| &p.id));
    assert_unique(&got);
    assert_eq!(got, ids(data.people.iter().map(|p| &p.id)));
    let s = np.stats();
    assert_eq!(s.timeouts, 2, "{s:?}");
    assert_eq!(sims.stats().northpass.hangs, 2);
    assert_eq!(s.retries, 2, "{s:?}");
    assert_eq!(s.requests, sims.stats().northpass.total_requests);
}

#[tokio::test]
async fn at_the_limit_concurrent_fetches_provoke_no_429s() {
    // The documented server limit, and our limiter set to the same rate.
    let sims = start(ServerOptions::northpass_realistic()).await;
    let data = sims.dataset_snapshot();
    let np = client(NorthpassConfig {
        rate_limit_per_sec: 10.0,
        burst: 1,
        max_concurrency: 8,
        ..NorthpassConfig::new(sims.northpass_url(), sims.northpass_key())
    });
    // 40 requests from 16 concurrent tasks: without the client's limiter
    // they would empty the server's 10-token bucket at once.
    let n = 40;
    let people: Vec<String> = data.transcripts.keys().take(n).cloned().collect();
    let results: Vec<_> = np.fetch_all_transcripts(people.clone(), 16).collect().await;
    assert_eq!(results.len(), n);
    let fetched: BTreeSet<&String> = results.iter().map(|(p, _)| p).collect();
    assert_eq!(fetched, people.iter().collect(), "each person once");
    for (pid, r) in &results {
        let want = data.transcripts[pid]
            .iter()
            .filter(|t| t.attributes.resource_type == "course")
            .count();
        assert_eq!(r.as_ref().unwrap().len(), want, "person {pid}");
    }
    let sim = sims.stats().northpass;
    assert!(
        sim.rate_limited <= 1,
        "429s at the limit: {}",
        sim.rate_limited
    );
    assert_eq!(np.stats().rate_limited, sim.rate_limited);
    assert_eq!(
        sim.count("GET /v2/transcripts/{id}"),
        n as u64 + sim.rate_limited
    );
    // How close to the limit it runs is measured in the bench, not here.
}

#[tokio::test]
async fn add_and_remove_member_are_idempotent() {
    let sims = start(ServerOptions::default()).await;
    let data = sims.dataset_snapshot();
    let np = client(config(&sims));
    let group = data.groups[0].id.clone();
    let members: BTreeSet<String> = data.memberships[&group]
        .iter()
        .map(|m| m.relationships.person.data.id.clone())
        .collect();
    let outsider = data
        .people
        .iter()
        .find(|p| !members.contains(&p.id))
        .unwrap()
        .id
        .clone();

    np.add_member(&group, &outsider).await.unwrap();
    // Already a member (422) is success too.
    np.add_member(&group, &outsider).await.unwrap();
    let now: Vec<String> = np
        .group_memberships(&group)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.person_id)
        .collect();
    assert_eq!(now.iter().filter(|p| **p == outsider).count(), 1);

    np.remove_member(&group, &outsider).await.unwrap();
    // Not a member any more (404) is success too.
    np.remove_member(&group, &outsider).await.unwrap();
    let after = np.group_memberships(&group).await.unwrap();
    assert!(after.iter().all(|m| m.person_id != outsider));
    assert_eq!(after.len(), members.len());
    // Through the real member routes.
    let st = sims.stats().northpass;
    assert_eq!(st.count("POST /v2/groups/{id}/relationships/people"), 2);
    assert_eq!(st.count("DELETE /v2/groups/{id}/relationships/people"), 2);
}

#[tokio::test]
async fn properties_are_paged_until_a_short_page_without_links_next() {
    let sims = start(ServerOptions::default()).await;
    let data = sims.dataset_snapshot();
    let np = client(NorthpassConfig {
        page_limit: 7,
        ..config(&sims)
    });
    assert!(data.properties.len() > 7 * 2, "several pages");
    let props = np.course_properties().await.unwrap();
    assert_eq!(
        ids(props.iter().map(|p| &p.course_id)),
        ids(data.properties.iter().map(|p| &p.id))
    );
    // Full pages, then the short one (or an empty one after an exact fit).
    let pages = data.properties.len() / 7 + 1;
    assert_eq!(
        sims.stats().northpass.count("GET /v2/properties/courses"),
        pages as u64
    );
}

#[tokio::test]
async fn limit_and_filter_are_put_back_when_links_next_drops_them() {
    let sims = start(ServerOptions {
        next_drops_params: true,
        ..Default::default()
    })
    .await;
    let data = sims.dataset_snapshot();
    let np = client(NorthpassConfig {
        page_limit: 37,
        ..config(&sims)
    });
    let people = np.people(None).await.unwrap();
    assert_eq!(
        ids(people.iter().map(|p| &p.id)),
        ids(data.people.iter().map(|p| &p.id))
    );
    // Pages of 37, not of the server's default 25.
    assert_eq!(np.stats().requests, data.people.len().div_ceil(37) as u64);

    // The filter stays on every page: only the changed person comes back.
    let since = sims.now();
    let who = data.people[3].id.clone();
    sims.mutate(portal_infra::sim::Mutation::DeactivatePerson {
        person_id: who.clone(),
    })
    .unwrap();
    let np = client(NorthpassConfig {
        page_limit: 1,
        ..config(&sims)
    });
    let changed = np.people(Some(since)).await.unwrap();
    assert_eq!(ids(changed.iter().map(|p| &p.id)), vec![who]);
}

#[tokio::test]
async fn a_429_without_retry_after_is_backed_off_on_our_own() {
    let sims = start(ServerOptions {
        rate_limit: Some(5.0),
        burst: 2,
        omit_retry_after: true,
        ..Default::default()
    })
    .await;
    let data = sims.dataset_snapshot();
    let np = client(NorthpassConfig {
        rate_limit_per_sec: 200.0,
        burst: 20,
        max_concurrency: 4,
        page_limit: 10,
        // No Retry-After to go by: our own exponential backoff must do.
        max_retries: 10,
        retry_base_delay: std::time::Duration::from_millis(100),
        retry_max_delay: std::time::Duration::from_secs(2),
        ..config(&sims)
    });
    let (courses, groups) = tokio::join!(np.courses(None), np.groups(None));
    assert_eq!(courses.unwrap().len(), data.courses.len());
    assert_eq!(groups.unwrap().len(), data.groups.len());
    let s = np.stats();
    assert!(s.rate_limited > 0, "the server did answer 429: {s:?}");
    assert!(s.retries >= s.rate_limited);
}
