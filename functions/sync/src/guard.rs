//! The mass-untrack guard: a full CRM run that would untrack or deactivate
//! a large share of what is stored is far more likely a bad read (an empty
//! listing, a changed wire format, a broken filter) than a real change, so
//! it changes nothing and fails with what it saw. An admin who knows the
//! change is real re-runs the task with `force`.

use crate::error::SyncError;

/// Fewer drops than this never trip the guard: in a table of five, one
/// partner leaving is 20 % but plainly real.
const MIN_DROPS: usize = 2;

/// What a full run would do to one kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drops<'a> {
    /// `"partners"` / `"contacts"`.
    pub kind: &'a str,
    /// Records of the kind stored as tracked/active before the run.
    pub stored_active: usize,
    /// Records the source listed in this run.
    pub read: usize,
    /// Stored tracked/active records this run would untrack/deactivate.
    pub dropping: usize,
}

/// `Err` with a message for the run record when `d` is over `percent`
/// of the stored records and `force` is off.
pub fn check(task: &str, d: Drops<'_>, percent: u32, force: bool) -> Result<(), SyncError> {
    if force || d.dropping < MIN_DROPS || d.stored_active == 0 {
        return Ok(());
    }
    // Integer comparison: dropping / stored > percent / 100.
    if (d.dropping as u128) * 100 <= (percent as u128) * (d.stored_active as u128) {
        return Ok(());
    }
    let share = d.dropping * 100 / d.stored_active;
    Err(SyncError::Guard(format!(
        "{task}: refusing to untrack {dropping} of {stored} stored {kind} ({share} % > the \
         {percent} % allowed by PORTAL_UNTRACK_GUARD_PERCENT); the CRM listed {read} {kind}. \
         Nothing was changed. If the CRM really lost them, re-run {task} with force=true",
        dropping = d.dropping,
        stored = d.stored_active,
        kind = d.kind,
        read = d.read,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(stored: usize, read: usize, dropping: usize) -> Drops<'static> {
        Drops {
            kind: "partners",
            stored_active: stored,
            read,
            dropping,
        }
    }

    #[test]
    fn trips_above_the_share_only() {
        assert!(check("t", d(100, 80, 20), 20, false).is_ok());
        let e = check("t", d(100, 79, 21), 20, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("21 of 100"), "{e}");
        assert!(e.contains("force=true"), "{e}");
        assert!(check("t", d(100, 79, 21), 20, true).is_ok());
    }

    #[test]
    fn zero_read_over_a_full_table_trips() {
        let e = check("crm-partners", d(42, 0, 42), 20, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("listed 0 partners"), "{e}");
    }

    #[test]
    fn tiny_tables_and_single_drops_pass() {
        assert!(check("t", d(3, 2, 1), 20, false).is_ok());
        assert!(check("t", d(0, 0, 0), 20, false).is_ok());
        assert!(check("t", d(10, 10, 0), 0, false).is_ok());
    }
}
