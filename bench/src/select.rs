//! `portal-bench run --only reads,hooks`: which measurements a run makes.
//! A partial run re-measures some sections (at `ref` without the whole
//! run's hour) and keeps the others from the previous results file
//! (`results::Results::merged_with`).

use std::collections::BTreeSet;
use std::fmt;

/// One selectable measurement and the sections it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// §1: the transcript fetch vs the replaced program.
    Enroll,
    /// §2 + §3: the whole sync, the incremental and unchanged re-syncs.
    Sync,
    /// §4 + §4i: reads per report route, dashboard and reminder run; the
    /// largest item per entity.
    Reads,
    /// §4b: domain compute time.
    Compute,
    /// §5: Lambda artefacts and cold starts.
    Artefacts,
    /// §6: the monthly cost (needs `sync` and `reads`).
    Cost,
    /// §7: history snapshot storage, tier-at-risk and trends reads (issue 15).
    History,
    /// §8: webhook freshness and the next incremental run (issue 20).
    Hooks,
}

impl Part {
    pub const ALL: [Part; 8] = [
        Part::Enroll,
        Part::Sync,
        Part::Reads,
        Part::Compute,
        Part::Artefacts,
        Part::Cost,
        Part::History,
        Part::Hooks,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::Enroll => "enroll",
            Part::Sync => "sync",
            Part::Reads => "reads",
            Part::Compute => "compute",
            Part::Artefacts => "artefacts",
            Part::Cost => "cost",
            Part::History => "history",
            Part::Hooks => "hooks",
        }
    }

    /// Parts whose measurements this one is computed from.
    fn needs(self) -> &'static [Part] {
        match self {
            Part::Cost => &[Part::Sync, Part::Reads],
            _ => &[],
        }
    }

    /// Whether it reads a table the full sync filled (which then runs
    /// first, whether or not `sync`'s own sections are written).
    fn needs_synced_table(self) -> bool {
        !matches!(self, Part::Enroll | Part::Artefacts)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("--only: unknown section {0:?} (known: {known})", known = known())]
    Unknown(String),
    #[error("--only: no section named")]
    Empty,
}

fn known() -> String {
    Part::ALL.map(Part::name).join(", ")
}

/// The parts a run measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    parts: BTreeSet<Part>,
    /// The list as given, when partial.
    only: Option<String>,
}

impl Selection {
    pub fn all() -> Selection {
        Selection {
            parts: Part::ALL.into_iter().collect(),
            only: None,
        }
    }

    /// `None` = everything; else a comma-separated list of [`Part::name`]s
    /// (plus what they need: `cost` brings `sync` and `reads`).
    pub fn parse(only: Option<&str>) -> Result<Selection, SelectError> {
        let Some(list) = only else {
            return Ok(Selection::all());
        };
        let mut parts = BTreeSet::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let p = Part::ALL
                .into_iter()
                .find(|p| p.name() == name)
                .ok_or_else(|| SelectError::Unknown(name.to_string()))?;
            parts.insert(p);
            parts.extend(p.needs().iter().copied());
        }
        if parts.is_empty() {
            return Err(SelectError::Empty);
        }
        let partial = parts.len() < Part::ALL.len();
        Ok(Selection {
            only: partial.then(|| parts.iter().map(|p| p.name()).collect::<Vec<_>>().join(",")),
            parts,
        })
    }

    pub fn has(&self, p: Part) -> bool {
        self.parts.contains(&p)
    }

    /// The parts measured, when not all of them.
    pub fn partial(&self) -> Option<&str> {
        self.only.as_deref()
    }

    pub fn needs_synced_table(&self) -> bool {
        self.parts.iter().any(|p| p.needs_synced_table())
    }

    /// Whether the simulators and the emulator are needed after §1.
    pub fn needs_world(&self) -> bool {
        self.parts.iter().any(|p| *p != Part::Enroll)
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.only.as_deref().unwrap_or("all"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_list_is_everything() {
        let s = Selection::parse(None).unwrap();
        assert!(Part::ALL.iter().all(|p| s.has(*p)));
        assert_eq!(s.partial(), None);
        let listed = Selection::parse(Some(&known())).unwrap();
        assert_eq!(listed.partial(), None, "naming every part is a whole run");
    }

    #[test]
    fn a_list_selects_those_and_what_they_need() {
        let s = Selection::parse(Some("history, hooks")).unwrap();
        assert!(s.has(Part::History) && s.has(Part::Hooks));
        assert!(!s.has(Part::Sync) && !s.has(Part::Enroll));
        assert!(s.needs_synced_table());
        assert_eq!(s.partial(), Some("history,hooks"));
        let c = Selection::parse(Some("cost")).unwrap();
        assert!(c.has(Part::Sync) && c.has(Part::Reads));
        let e = Selection::parse(Some("enroll")).unwrap();
        assert!(!e.needs_world() && !e.needs_synced_table());
        let a = Selection::parse(Some("artefacts")).unwrap();
        assert!(a.needs_world() && !a.needs_synced_table());
    }

    #[test]
    fn unknown_or_empty_lists_are_refused() {
        assert_eq!(
            Selection::parse(Some("reads,hook")),
            Err(SelectError::Unknown("hook".into()))
        );
        assert_eq!(Selection::parse(Some(" , ")), Err(SelectError::Empty));
    }
}
