//! `lms-enrollments`: transcripts of partner users only (active members of
//! a partner's group or reached through a partner contact's e-mail).
//!
//! Incremental runs fetch a user's transcript when it was never fetched,
//! when the user was active since (their `last_active_at` moved — Northpass
//! stamps course activity there), when they were newly added to a partner
//! group (`lms-groups` marks them), or when the last fetch is older than
//! `SyncOptions::transcript_max_age`. Full runs fetch every partner user.
//! The fetch state is one small marker item per user (`USER#<id>` /
//! `TRANSCRIPT`, type index `TFETCH`), listed with one paginated Query.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::future::OptionFuture;
use futures::StreamExt;
use portal_core::model::Enrollment;
use portal_core::rules::renewal::dedup_records;
use portal_core::sources::{NorthpassClient, SourceError, TranscriptEntry};
use portal_core::store::entities::enrollment_item;
use portal_core::store::{keys, ItemKey, Store};
use portal_core::tasks::{Budget, Mode, TaskRun};

use super::{Cursor, Fetched, Phase};
use crate::convert;
use crate::deps::Deps;
use crate::error::SyncError;
use crate::markers::{marker_item, FetchMarker, MARKER_ENTITY};
use crate::recompute::Touched;
use crate::snapshot::{EnrollmentCache, Snapshot};
use crate::write::put_counted;

/// Records kept in memory for the recompute (≈ 250 B each: ≤ ~50 MB, the
/// whole reference data set of 150,000 transcripts).
const CACHE_CAP: usize = 200_000;

pub async fn fetch(
    deps: &Deps,
    run: &mut TaskRun,
    cursor: &Cursor,
    budget: &Budget,
    now: DateTime<Utc>,
    cache: &mut EnrollmentCache,
) -> Result<Fetched, SyncError> {
    let np = deps.northpass()?;
    let store = &deps.store;
    let snap = Snapshot::load(store).await?;
    let partner_users: BTreeMap<String, BTreeSet<String>> = snap.partner_users();
    let markers: HashMap<String, FetchMarker> = store
        .query_type_as::<FetchMarker>(MARKER_ENTITY)
        .await?
        .into_iter()
        .map(|m| (m.user_id.clone(), m))
        .collect();
    let max_age = deps.options.transcript_max_age;

    let due = |uid: &str| -> bool {
        if run.mode == Mode::Full {
            return true;
        }
        let Some(m) = markers.get(uid) else {
            return true;
        };
        let active = snap.users.get(uid).and_then(|u| u.last_active_at);
        // Activity a webhook refresh already covered needs no fetch.
        let moved = active != m.last_active_at && !m.covers_activity(active);
        m.stale || moved || m.fetched_at.is_none_or(|f| f < now - max_age)
    };
    let ids: Vec<String> = partner_users
        .keys()
        .filter(|id| cursor.after.as_deref().is_none_or(|a| id.as_str() > a))
        .filter(|id| due(id))
        .cloned()
        .collect();
    tracing::info!(users = ids.len(), partner_users = partner_users.len(), mode = %run.mode, "transcripts to fetch");

    let mut w = ChunkWriter {
        store,
        snap: &snap,
        partner_users: &partner_users,
        markers: &markers,
        now,
        max_age,
        cache,
        cache_len: 0,
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
        run.counts.failed += fetched.failed;
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
    if run.mode == Mode::Full {
        // The full run is the safety net: every partner's numbers are
        // recomputed (writes only where something differs).
        return Ok(Fetched::Done(Touched::All));
    }
    Ok(Fetched::Done(w.touched))
}

/// One chunk's transcripts as fetched.
struct ChunkFetch {
    got: Vec<(String, Vec<TranscriptEntry>)>,
    /// Users whose transcript failed after the client's retries.
    failed: u64,
    /// A wrong key fails every request: the task stops at once.
    auth: Option<SourceError>,
}

/// Fetches one chunk's transcripts. It borrows only the Northpass client so
/// it can run while the previous chunk is written.
async fn fetch_chunk(np: &NorthpassClient, batch: &[String], concurrency: usize) -> ChunkFetch {
    let mut results = Box::pin(np.fetch_all_transcripts(batch.to_vec(), concurrency));
    let mut out = ChunkFetch {
        got: Vec::with_capacity(batch.len()),
        failed: 0,
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
                out.failed += 1;
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
    snap: &'a Snapshot,
    partner_users: &'a BTreeMap<String, BTreeSet<String>>,
    markers: &'a HashMap<String, FetchMarker>,
    now: DateTime<Utc>,
    max_age: chrono::Duration,
    cache: &'a mut EnrollmentCache,
    cache_len: usize,
    touched: Touched,
    /// Per user, the webhook event time a fetch covers (`hooks.rs`).
    hook_at: HashMap<String, DateTime<Utc>>,
}

impl<'a> ChunkWriter<'a> {
    pub(crate) fn new(
        store: &'a Store,
        snap: &'a Snapshot,
        partner_users: &'a BTreeMap<String, BTreeSet<String>>,
        markers: &'a HashMap<String, FetchMarker>,
        now: DateTime<Utc>,
        max_age: chrono::Duration,
        cache: &'a mut EnrollmentCache,
    ) -> Self {
        ChunkWriter {
            store,
            snap,
            partner_users,
            markers,
            now,
            max_age,
            cache,
            cache_len: 0,
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
                last_active_at: self.snap.users.get(&uid).and_then(|u| u.last_active_at),
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
        for (uid, records) in by_user {
            if changed.contains(&uid) {
                self.touched
                    .add(self.partner_users.get(&uid).cloned().unwrap_or_default());
            }
            // Bounded: past the cap the recompute reads from the store.
            if self.cache_len + records.len() <= CACHE_CAP {
                self.cache_len += records.len();
                self.cache.insert(uid, records);
            }
        }
        Ok(())
    }
}
