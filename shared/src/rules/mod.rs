//! Business rules of the certification program, as pure functions over the
//! plain data of [`crate::model`]. Every rule that depends on time takes the
//! instant as an argument (see [`crate::clock::Clock`] for where it comes
//! from), so the same inputs always give the same answer.
//!
//! | module | rule |
//! |---|---|
//! | [`expiry`] | effective expiry (LMS value, else completion + validity months) |
//! | [`status`] | record status at an instant (enrolled … expired) |
//! | [`npcu`] | NPCU property parsing, user NPCU |
//! | [`renewal`] | one record per user × course, the newer wins |
//! | [`members`] | who belongs to a partner (group ∪ contact e-mails, once) |
//! | [`tier`] | tier requirement and gap |
//! | [`matching`] | partner ↔ LMS group matching |
//! | [`category`] | course → product category |
//! | [`filters`] | sync filters: tracked partners, skipped contacts |
//! | [`summary`] | per-partner summary and its view at an instant |
//! | [`rows`] | dashboard certification rows |
//! | [`history`] | a day's numbers: snapshot of a view, or reconstructed from dates |
//! | [`programs`] | multi-course certifications, manual statuses and their precedence |
//! | [`recert`] | when a recertification enrolment is due, and its outcome |
//! | [`forecast`] | NPCU on future dates, the drop below tier, the renewals that prevent it |

pub mod category;
pub mod expiry;
pub mod filters;
pub mod forecast;
pub mod history;
pub mod matching;
pub mod members;
pub mod npcu;
pub mod programs;
pub mod recert;
pub mod renewal;
pub mod rows;
pub mod status;
pub mod summary;
pub mod tier;

#[cfg(test)]
mod tests;
