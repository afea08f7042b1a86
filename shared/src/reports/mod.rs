//! Report rows and their query language, as pure functions (no I/O).
//!
//! | module | what |
//! |---|---|
//! | [`params`] | query parameters → [`params::ReportQuery`]; a bad one names itself |
//! | [`table`] | the [`table::ReportRow`] trait: columns, sort by any column, paging |
//! | [`rows`] | the rows of each report, built from partner summaries etc. |
//! | [`dashboard`] | one partner's dashboard view (JSON and HTML share it) |
//! | [`forecast`] | the tier-at-risk report and one partner's forecast |
//! | [`history`] | one partner's daily history (stored or reconstructed) |
//! | [`trends`] | trends per period, recent certifications, popular courses |
//! | [`audit`] | inactive users, LMS users not in the CRM, the group audit |
//! | [`recert`] | recertification enrolments and their outcome |
//!
//! The HTTP function (`functions/reports`) reads the store, calls these, and
//! encodes the result (JSON / CSV / XLSX); keeping the logic here makes every
//! number unit-testable without DynamoDB.

pub mod audit;
pub mod dashboard;
pub mod forecast;
pub mod history;
pub mod params;
pub mod recert;
pub mod rows;
pub mod table;
pub mod tracking;
pub mod trends;

pub use params::{Format, ParamError, ReportQuery, SortKey};
pub use table::{Page, ReportRow};
