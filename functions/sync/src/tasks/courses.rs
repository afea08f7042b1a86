//! `lms-courses`: the catalog with NPCU and category from
//! `/v2/properties/courses`. Properties have no `updated_at` filter, so they
//! are always read in full (a few pages) and applied to every stored course
//! too: an NPCU edit is picked up even if the course itself was not bumped.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use portal_core::model::Course;
use portal_core::sources::wire;
use portal_core::store::entities::course_item;
use portal_core::task_run::{Mode, TaskRun};

use super::Fetched;
use crate::convert;
use crate::deps::Deps;
use crate::error::SyncError;
use crate::refresh::Touched;
use crate::write::put_counted;

pub async fn fetch(deps: &Deps, run: &mut TaskRun) -> Result<Fetched, SyncError> {
    let np = deps.northpass()?;
    let store = &deps.store;
    let validity = deps.config.default_validity_months;

    let mut props: HashMap<String, wire::CourseProperties> = HashMap::new();
    let mut pages = Box::pin(np.course_properties_pages());
    while let Some(page) = pages.next().await {
        for p in page? {
            props.insert(p.course_id.clone(), p);
        }
    }

    let since = match run.mode {
        Mode::Incremental => run.watermark,
        Mode::Full => None,
    };
    let stored: HashMap<String, Course> = store
        .all_courses()
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut out: Vec<Course> = Vec::new();
    let mut pages = Box::pin(np.courses_pages(since));
    while let Some(page) = pages.next().await {
        for c in page? {
            run.counts.processed += 1;
            seen.insert(c.id.clone());
            let mut course = convert::course(&c, props.get(&c.id), validity);
            if let Some(old) = stored.get(&c.id) {
                // Admin-set validity survives a sync.
                course.validity_months = old.validity_months;
            }
            out.push(course);
        }
    }
    let mut deactivated = 0u64;
    for (id, old) in &stored {
        if seen.contains(id) {
            continue;
        }
        let mut c = old.clone();
        match run.mode {
            // Not listed since the watermark: only its properties may have
            // changed. A deleted course keeps the NPCU it had (its
            // certifications count until they expire), so leave it alone.
            Mode::Incremental if !old.deleted => {
                let p = props.get(id);
                c.npcu = p.map(|p| p.npcu).unwrap_or(0);
                c.category = p
                    .and_then(|p| p.category.clone())
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty());
            }
            Mode::Incremental => {}
            Mode::Full => {
                if !old.deleted {
                    c.deleted = true;
                    deactivated += 1;
                }
            }
        }
        if &c != old {
            out.push(c);
        }
    }
    let items = out.iter().map(course_item).collect::<Result<Vec<_>, _>>()?;
    let before = run.counts;
    let written = put_counted(store, items, &mut run.counts).await?;
    // Marking deleted is counted as a deactivation, not an update.
    run.counts.updated -= deactivated.min(run.counts.updated - before.updated);
    run.counts.deactivated += deactivated;
    // Any course change can move every partner's numbers (NPCU, names on
    // rows, categories): recompute all, writes stay limited to real changes.
    Ok(Fetched::Done(if written.is_empty() {
        Touched::Nothing
    } else {
        Touched::All
    }))
}
