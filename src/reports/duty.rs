//! The weekly report's channel figures: who was on chat and e-mail duty in
//! the week (the roster with each date's exceptions laid over it, minute
//! by minute of the local day, the way `tracking::duty::who_is_on_duty`
//! answers for one instant) and how many contacts were in each state of
//! the "which provider?" step.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};

use super::model::{DutyTime, IdentificationCount};
use crate::store::{Store, StoreError};
use crate::tracking::duty::{minutes_of_day, DutyChannel};

/// Minutes on duty per channel and consultant in the seven local days
/// from `monday`, most first.
pub async fn duty_week(store: &Store, monday: NaiveDate) -> Result<Vec<DutyTime>, StoreError> {
    let sunday = monday + Duration::days(6);
    let mut c = store.pool().acquire().await?;
    let slots = store.duty_slots(&mut c).await?;
    let exceptions = store
        .duty_exceptions_between(&mut c, None, &monday.to_string(), &sunday.to_string())
        .await?;
    let mut minutes: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for channel in [DutyChannel::Chat, DutyChannel::Email] {
        for day in monday.iter_days().take(7) {
            let who = minutes_of_day(&slots, &exceptions, channel, day);
            for id in who.into_iter().flatten() {
                *minutes
                    .entry((channel.as_str().to_string(), id))
                    .or_default() += 1;
            }
        }
    }
    let mut out: Vec<DutyTime> = minutes
        .into_iter()
        .map(|((channel, consultant_id), minutes)| DutyTime {
            channel,
            consultant_id,
            minutes,
        })
        .collect();
    out.sort_by(|a, b| {
        (a.channel.as_str(), -a.minutes, a.consultant_id).cmp(&(
            b.channel.as_str(),
            -b.minutes,
            b.consultant_id,
        ))
    });
    Ok(out)
}

/// Contacts filed in [from, to) by "which provider?" state.
pub async fn identification(
    store: &Store,
    from: i64,
    to: i64,
) -> Result<Vec<IdentificationCount>, StoreError> {
    Ok(store
        .contacts_by_identification(from, to)
        .await?
        .into_iter()
        .map(|(state, count)| IdentificationCount { state, count })
        .collect())
}
