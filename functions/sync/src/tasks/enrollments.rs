//! `lms-enrollments`: transcripts of partner users only (active members of
//! a partner's group or reached through a partner contact's e-mail).
//!
//! Incremental runs look only at the users something points at (issue 17:
//! reads in proportion to the change): the due queue that `lms-users`
//! (activity: `last_active_at` moved — Northpass stamps course activity
//! there), `lms-groups` and `crm-contacts` (joined a partner) fill, and the
//! fetch markers older than `SyncOptions::transcript_max_age`. Of those,
//! partner users are fetched when never fetched, joined, active since the
//! last fetch (unless a webhook refresh covered it) or aged. Full runs
//! fetch every partner user. The bookkeeping is in `markers.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::future::OptionFuture;
use futures::StreamExt;
use portal_core::model::Enrollment;
use portal_core::model::LmsUser;
use portal_core::recompute::affected::{self, ChangedUser};
use portal_core::rules::renewal::dedup_records;
use portal_core::sources::{NorthpassClient, SourceError, TranscriptEntry};
use portal_core::store::entities::enrollment_item;
use portal_core::store::{keys, ItemKey, Store, StoreError};
use portal_core::task_run::{Budget, Mode, TaskRun};

use super::{Cursor, Fetched, Phase};
use crate::convert;
use crate::deps::Deps;
use crate::error::SyncError;
use crate::markers::{self, marker_item, DueItem, FetchMarker, MARKER_ENTITY, MARKER_SK};
use crate::refresh::Touched;
use crate::snapshot::Snapshot;
use crate::write::put_counted;

pub async fn fetch(
    deps: &Deps,
    run: &mut TaskRun,
    cursor: &Cursor,
    budget: &Budget,
    now: DateTime<Utc>,
) -> Result<Fetched, SyncError> {
    let np = deps.northpass()?;
    let store = &deps.store;
    let max_age = deps.options.transcript_max_age;
    let plan = match run.mode {
        Mode::Full => Plan::full(store).await?,
        Mode::Incremental => Plan::incremental(store, now, max_age).await?,
    };
    let ids: Vec<String> = plan
        .due
        .iter()
        .filter(|id| cursor.after.as_deref().is_none_or(|a| id.as_str() > a))
        .cloned()
        .collect();
    tracing::info!(users = ids.len(), partner_users = plan.partner_users.len(), mode = %run.mode, "transcripts to fetch");

    let mut failed_users: HashSet<String> = HashSet::new();
    let mut w = ChunkWriter {
        store,
        active_at: &plan.active_at,
        partner_users: &plan.partner_users,
        markers: &plan.markers,
        now,
        max_age,
        touched: cursor.touched.clone(),
        hook_at: HashMap::new(),
    };
    let concurrency = deps.options.concurrency;
    let mut batches = ids.chunks(concurrency.max(1) * 4);
    let mut pending = match batches.next() {
        Some(b) => Some((b, fetch_chunk(np, b, concurrency).await)),
        None => None,
    };
    while let Some((batch, fetched)) = pending.take() {
        run.counts.failed += fetched.failed.len() as u64;
        failed_users.extend(fetched.failed.iter().cloned());
        if let Some(e) = fetched.auth {
            return Ok(Fetched::Failed(w.touched, e.into()));
        }
        // The next chunk is fetched while this one is written, so the
        // Northpass rate budget is not left idle during the DynamoDB
        // writes. Out of time, nothing more is started.
        let next = if budget.exhausted() {
            None
        } else {
            batches.next()
        };
        let (written, next_fetched) = futures::join!(
            w.write(run, fetched.got),
            OptionFuture::from(next.map(|b| fetch_chunk(np, b, concurrency))),
        );
        written?;
        run.heartbeat().await?;
        if (next.is_some() || batches.len() > 0) && budget.exhausted() {
            // The cursor only moves past written users: a chunk fetched
            // meanwhile is dropped and fetched again by the continuation.
            return Ok(Fetched::Checkpoint(Cursor {
                phase: Phase::Fetch,
                after: batch.last().cloned(),
                touched: w.touched,
            }));
        }
        pending = next.zip(next_fetched);
    }
    // Handled: queued before this run began (one queued since waits), and
    // not failed (the next run tries those again).
    let handled: Vec<DueItem> = plan
        .queued
        .into_iter()
        .filter(|d| !failed_users.contains(&d.user_id))
        .collect();
    markers::unqueue(store, &handled, run.business_start).await?;
    if run.mode == Mode::Full {
        // The full run is the safety net: every partner's numbers are
        // recomputed (writes only where something differs).
        return Ok(Fetched::Done(Touched::All));
    }
    Ok(Fetched::Done(w.touched))
}

/// Whose transcripts a run fetches, and what the writer needs of them.
struct Plan {
    /// Users to fetch, in id order (a checkpoint is a user id).
    due: Vec<String>,
    /// Partner users among those looked at → their partners.
    partner_users: BTreeMap<String, BTreeSet<String>>,
    /// `last_active_at` of the users looked at.
    active_at: HashMap<String, Option<DateTime<Utc>>>,
    markers: HashMap<String, FetchMarker>,
    /// Due items read (removed when the run is done).
    queued: Vec<DueItem>,
}

impl Plan {
    /// Every partner user: the full run may read the whole picture.
    async fn full(store: &Store) -> Result<Plan, SyncError> {
        let snap = Snapshot::load(store).await?;
        let partner_users = snap.partner_users();
        let markers = store
            .query_type_as::<FetchMarker>(MARKER_ENTITY)
            .await?
            .into_iter()
            .map(|m| (m.user_id.clone(), m))
            .collect();
        let active_at = partner_users
            .keys()
            .map(|id| {
                (
                    id.clone(),
                    snap.users.get(id).and_then(|u| u.last_active_at),
                )
            })
            .collect();
        Ok(Plan {
            due: partner_users.keys().cloned().collect(),
            partner_users,
            active_at,
            markers,
            queued: markers::queued(store).await?,
        })
    }

    /// Only the users something points at: the due queue and the markers
    /// older than `max_age` — reads in proportion to the change.
    async fn incremental(
        store: &Store,
        now: DateTime<Utc>,
        max_age: chrono::Duration,
    ) -> Result<Plan, SyncError> {
        let queued = markers::queued(store).await?;
        let aged = markers::aged_markers(store, now - max_age).await?;
        let joined: HashSet<&str> = queued
            .iter()
            .filter(|d| d.joined)
            .map(|d| d.user_id.as_str())
            .collect();
        let ids: BTreeSet<String> = queued
            .iter()
            .map(|d| d.user_id.clone())
            .chain(aged.iter().map(|m| m.user_id.clone()))
            .collect();
        let looked = people_of(store, &ids).await?;
        let due = ids
            .iter()
            .filter(|id| looked.partner_users.contains_key(*id))
            .filter(|id| {
                let active = looked.active_at.get(*id).copied().flatten();
                match looked.markers.get(*id) {
                    None => true,
                    Some(m) => {
                        joined.contains(id.as_str())
                            || m.stale
                            || m.fetched_at.is_none_or(|f| f < now - max_age)
                            // Activity a webhook refresh already covered
                            // needs no fetch.
                            || (active != m.last_active_at && !m.covers_activity(active))
                    }
                }
            })
            .cloned()
            .collect();
        Ok(Plan {
            due,
            partner_users: looked.partner_users,
            active_at: looked.active_at,
            markers: looked.markers,
            queued,
        })
    }
}

/// What the writer needs of some users, from keyed reads: their profiles
/// and fetch markers (one BatchGetItem per 50 users) and the partners they
/// belong to ([`affected::partners_by_user`]). Deactivated users and users
/// of no partner are not partner users.
pub(crate) struct Looked {
    pub partner_users: BTreeMap<String, BTreeSet<String>>,
    pub active_at: HashMap<String, Option<DateTime<Utc>>>,
    pub markers: HashMap<String, FetchMarker>,
}

pub(crate) async fn people_of(store: &Store, ids: &BTreeSet<String>) -> Result<Looked, SyncError> {
    let mut keys = Vec::with_capacity(ids.len() * 2);
    for id in ids {
        keys.push(ItemKey::new(keys::user_pk(id), keys::PROFILE));
        keys.push(ItemKey::new(keys::user_pk(id), MARKER_SK));
    }
    let mut users: HashMap<String, LmsUser> = HashMap::new();
    let mut found: HashMap<String, FetchMarker> = HashMap::new();
    for item in store.get_items(&keys).await? {
        let key = ItemKey::of(&item)?;
        let Some(id) = key.pk.strip_prefix("USER#").map(str::to_string) else {
            continue;
        };
        if key.sk == MARKER_SK {
            found.insert(id, serde_dynamo::from_item(item).map_err(StoreError::from)?);
        } else {
            users.insert(id, serde_dynamo::from_item(item).map_err(StoreError::from)?);
        }
    }
    let changed: Vec<ChangedUser> = users
        .values()
        .filter(|u| u.is_active())
        .map(|u| ChangedUser {
            id: u.id.clone(),
            emails: vec![u.email.clone()],
        })
        .collect();
    let partner_users = affected::partners_by_user(store, &changed)
        .await?
        .into_iter()
        .filter(|(_, ps)| !ps.is_empty())
        .collect();
    Ok(Looked {
        partner_users,
        active_at: users
            .into_iter()
            .map(|(id, u)| (id, u.last_active_at))
            .collect(),
        markers: found,
    })
}

/// One chunk's transcripts as fetched.
struct ChunkFetch {
    got: Vec<(String, Vec<TranscriptEntry>)>,
    /// Users whose transcript failed after the client's retries.
    failed: Vec<String>,
    /// A wrong key fails every request: the task stops at once.
    auth: Option<SourceError>,
}

/// Fetches one chunk's transcripts. It borrows only the Northpass client so
/// it can run while the previous chunk is written.
async fn fetch_chunk(np: &NorthpassClient, batch: &[String], concurrency: usize) -> ChunkFetch {
    let mut results = Box::pin(np.fetch_all_transcripts(batch.to_vec(), concurrency));
    let mut out = ChunkFetch {
        got: Vec::with_capacity(batch.len()),
        failed: Vec::new(),
        auth: None,
    };
    while let Some((uid, r)) = results.next().await {
        match r {
            Ok(entries) => out.got.push((uid, entries)),
            Err(e) if e.is_auth() => {
                out.auth = Some(e);
                break;
            }
            Err(e) => {
                // One user's transcript failed after the client's retries:
                // keep going; the marker is not refreshed so the next run
                // fetches it again, and this run reports failure once the
                // others are written.
                tracing::warn!(user = %uid, error = %e, "transcript fetch failed");
                out.failed.push(uid);
            }
        }
    }
    out
}

/// Writes fetched chunks and keeps what the recompute needs: the partners
/// touched and (up to [`CACHE_CAP`]) the records. The webhook consumer
/// (`hooks.rs`) writes a learner's transcript with it too.
pub(crate) struct ChunkWriter<'a> {
    store: &'a Store,
    active_at: &'a HashMap<String, Option<DateTime<Utc>>>,
    partner_users: &'a BTreeMap<String, BTreeSet<String>>,
    markers: &'a HashMap<String, FetchMarker>,
    now: DateTime<Utc>,
    max_age: chrono::Duration,
    touched: Touched,
    /// Per user, the webhook event time a fetch covers (`hooks.rs`).
    hook_at: HashMap<String, DateTime<Utc>>,
}

impl<'a> ChunkWriter<'a> {
    pub(crate) fn new(
        store: &'a Store,
        active_at: &'a HashMap<String, Option<DateTime<Utc>>>,
        partner_users: &'a BTreeMap<String, BTreeSet<String>>,
        markers: &'a HashMap<String, FetchMarker>,
        now: DateTime<Utc>,
        max_age: chrono::Duration,
    ) -> Self {
        ChunkWriter {
            store,
            active_at,
            partner_users,
            markers,
            now,
            max_age,
            touched: Touched::Nothing,
            hook_at: HashMap::new(),
        }
    }

    /// Marks the fetches of these users as made for webhook events of
    /// these times (kept on the fetch marker).
    pub(crate) fn with_hook_times(mut self, at: HashMap<String, DateTime<Utc>>) -> Self {
        self.hook_at = at;
        self
    }

    pub(crate) async fn write(
        &mut self,
        run: &mut TaskRun,
        got: Vec<(String, Vec<TranscriptEntry>)>,
    ) -> Result<(), SyncError> {
        let (now, max_age) = (self.now, self.max_age);
        let mut items = Vec::new();
        let mut stale: Vec<ItemKey> = Vec::new();
        let mut new_markers = Vec::new();
        let mut by_user: Vec<(String, Vec<Enrollment>)> = Vec::new();
        for (uid, entries) in got {
            run.counts.processed += entries.len() as u64;
            let records: Vec<Enrollment> = dedup_records(entries.iter().filter_map(|t| {
                let e = convert::enrollment(t);
                if e.is_none() {
                    tracing::warn!(user = %uid, course = %t.course_id, status = ?t.status, "unknown progress status; record ignored");
                }
                e
            }));
            let mut courses: Vec<String> = records.iter().map(|r| r.course_id.clone()).collect();
            courses.sort();
            let old = self.markers.get(&uid);
            for c in old.map(|m| m.courses.as_slice()).unwrap_or(&[]) {
                if courses.binary_search(c).is_err() {
                    stale.push(ItemKey::new(keys::user_pk(&uid), keys::enrollment_sk(c)));
                }
            }
            for r in &records {
                items.push(enrollment_item(r)?);
            }
            // A webhook refresh keeps the latest event time it covered;
            // a polling fetch covers everything and clears it.
            let hook_at = self
                .hook_at
                .get(&uid)
                .copied()
                .map(|h| old.and_then(|m| m.hook_at).map_or(h, |o| o.max(h)));
            let marker = FetchMarker {
                user_id: uid.clone(),
                fetched_at: Some(now),
                last_active_at: self.active_at.get(&uid).copied().flatten(),
                stale: false,
                courses,
                hook_at,
            };
            // Refresh the marker only when it says something new (or is
            // getting old), so an unchanged re-sync writes nothing.
            let rewrite = match old {
                None => true,
                Some(m) => {
                    m.stale
                        || m.hook_at != marker.hook_at
                        || m.last_active_at != marker.last_active_at
                        || m.courses != marker.courses
                        || m.fetched_at.is_none_or(|f| f < now - max_age / 2)
                }
            };
            if rewrite {
                new_markers.push(marker_item(&marker)?);
            }
            by_user.push((uid, records));
        }
        // One batched hash read and batched writes for the whole chunk.
        let written: HashSet<String> = put_counted(self.store, items, &mut run.counts)
            .await?
            .into_iter()
            .filter_map(|k| k.pk.strip_prefix("USER#").map(str::to_string))
            .collect();
        let mut changed: HashSet<String> = written;
        if !stale.is_empty() {
            run.counts.deactivated += stale.len() as u64;
            changed.extend(
                stale
                    .iter()
                    .filter_map(|k| k.pk.strip_prefix("USER#").map(str::to_string)),
            );
            self.store.batch_delete(stale).await?;
        }
        self.store
            .put_if_changed_known(new_markers, &HashMap::new())
            .await?;
        for (uid, _) in by_user {
            if changed.contains(&uid) {
                self.touched
                    .add(self.partner_users.get(&uid).cloned().unwrap_or_default());
            }
        }
        Ok(())
    }
}
