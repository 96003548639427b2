//! The weekly report's channel figures: who was on chat and e-mail duty in
//! the week (the roster with each date's exceptions laid over it, minute
//! by minute of the local day, the way `tracking::duty::who_is_on_duty`
//! answers for one instant) and how many contacts were in each state of
//! the "which provider?" step.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};

use super::model::{DutyTime, IdentificationCount};
use crate::store::{Store, StoreError};

const DAY_MINUTES: usize = 24 * 60;

/// The minutes of a stored range, clamped to the day (and empty if a row
/// ever ended before it started), so no stored value can make a bad slice.
fn span(start: i64, end: i64) -> std::ops::Range<usize> {
    let clamp = |m: i64| usize::try_from(m.clamp(0, DAY_MINUTES as i64)).unwrap_or(0);
    let (a, b) = (clamp(start), clamp(end));
    a..b.max(a)
}

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
    for channel in ["chat", "email"] {
        for offset in 0..7 {
            let day = monday + Duration::days(offset);
            let weekday = i64::from(day.weekday().num_days_from_monday());
            let mut who: Vec<Option<i64>> = vec![None; DAY_MINUTES];
            for s in slots
                .iter()
                .filter(|s| s.channel == channel && s.weekday == weekday)
            {
                for m in who
                    .get_mut(span(s.start_minute, s.end_minute))
                    .unwrap_or_default()
                {
                    *m = Some(s.consultant_id);
                }
            }
            // In the order they were added: the latest wins, as for `now`.
            let date = day.to_string();
            for x in exceptions
                .iter()
                .filter(|x| x.channel == channel && x.day == date)
            {
                for m in who
                    .get_mut(span(x.start_minute, x.end_minute))
                    .unwrap_or_default()
                {
                    *m = x.consultant_id;
                }
            }
            for id in who.into_iter().flatten() {
                *minutes.entry((channel.to_string(), id)).or_default() += 1;
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
