//! Daily history of each partner's numbers: one item per partner per
//! calendar month (`HISTORY#<partner>` / `MONTH#<YYYY-MM>`), its days'
//! [`HistoryPoint`]s in a list, plus one marker item saying which day was
//! snapshotted last (so the sync's check is one GetItem).
//!
//! Why per partner per month: the history route reads one partner's range
//! (one Query, ≤ 25 items for two years), and the sync adds a day with one
//! UpdateItem per partner. One item per day for the whole program would be
//! cheaper to write but make a partner's year a read of 365 items holding
//! every partner. A month is at most 31 points of ~60–150 bytes: ≈ 2–5 KB,
//! far below the 400 KB item limit.
//!
//! The append is conditional on the item's last day being earlier than
//! the new one, so two syncs on the same day (or a retry) add it once.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::keys::{self, entity};
use super::{cap, capacity, schema, sdk_err, OpStats, QuerySpec, Result, SkCondition, Store};
use crate::rules::history::HistoryPoint;

/// The marker: the last day every tracked partner's point was written.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
struct Marker {
    last: Option<NaiveDate>,
}

/// One stored month (as read back).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
struct Month {
    points: Vec<HistoryPoint>,
}

fn month_of(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

impl Store {
    /// Appends `point` to its month of `partner_id`'s history. `false`
    /// when that day (or a later one) is there already.
    pub async fn append_history(&self, partner_id: &str, point: &HistoryPoint) -> Result<bool> {
        let p: AttributeValue = serde_dynamo::to_attribute_value(point)?;
        let day = AttributeValue::S(point.date.to_string());
        let key = super::ItemKey::new(
            keys::history_pk(partner_id),
            keys::history_sk(&month_of(point.date)),
        );
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key.to_attrs()))
            .update_expression(
                "SET #et = :et, #pid = :pid, #last = :d, #pts = list_append(if_not_exists(#pts, :empty), :p)",
            )
            .condition_expression("attribute_not_exists(#last) OR #last < :d")
            .expression_attribute_names("#et", schema::ENTITY)
            .expression_attribute_names("#pid", "partner_id")
            .expression_attribute_names("#last", "last")
            .expression_attribute_names("#pts", "points")
            .expression_attribute_values(":et", AttributeValue::S(entity::HISTORY.into()))
            .expression_attribute_values(":pid", AttributeValue::S(partner_id.into()))
            .expression_attribute_values(":d", day)
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":p", AttributeValue::L(vec![p]))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match out {
            Ok(out) => {
                self.record(
                    "UpdateItem",
                    OpStats {
                        requests: 1,
                        items_written: 1,
                        capacity_units: cap(out.consumed_capacity()),
                        // Billed on the item's size after the update; a
                        // month holds up to 31 points (see the module docs).
                        write_units: capacity::write_units(2048),
                        ..Default::default()
                    },
                );
                self.record_written([entity::HISTORY]);
                Ok(true)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                self.record(
                    "UpdateItem",
                    OpStats {
                        requests: 1,
                        conditional_failures: 1,
                        write_units: 1.0,
                        ..Default::default()
                    },
                );
                Ok(false)
            }
            Err(e) => Err(sdk_err("UpdateItem", e)),
        }
    }

    /// `partner_id`'s stored points from `from` to `to` (inclusive), by
    /// date: one Query over the months they fall in.
    pub async fn history(
        &self,
        partner_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<HistoryPoint>> {
        if to < from {
            return Ok(Vec::new());
        }
        let items = self
            .query(
                &QuerySpec::partition(keys::history_pk(partner_id)).sk(SkCondition::Between(
                    keys::history_sk(&month_of(from)),
                    keys::history_sk(&month_of(to)),
                )),
            )
            .await?;
        let mut points: Vec<HistoryPoint> = Vec::new();
        for item in items {
            let m: Month = serde_dynamo::from_item(item)?;
            points.extend(
                m.points
                    .into_iter()
                    .filter(|p| p.date >= from && p.date <= to),
            );
        }
        points.sort_by_key(|p| p.date);
        points.dedup_by_key(|p| p.date);
        Ok(points)
    }

    /// The last day whose snapshot finished for every tracked partner.
    pub async fn history_marker(&self) -> Result<Option<NaiveDate>> {
        let m: Option<Marker> = self
            .get_as(keys::HISTORY_MARKER_PK, keys::HISTORY_MARKER_SK)
            .await?;
        Ok(m.and_then(|m| m.last))
    }

    pub async fn set_history_marker(&self, day: NaiveDate) -> Result<()> {
        self.put(super::StoreItem::new(
            super::Keys::new(
                keys::HISTORY_MARKER_PK,
                keys::HISTORY_MARKER_SK,
                entity::HISTORY,
            ),
            &Marker { last: Some(day) },
        )?)
        .await
    }
}
