//! Work plans (hours per category per ISO week), consultants' own working
//! hours, absences, and the tasks `protocall schedule` writes. Rows only;
//! placing the hours is `crate::tracking::schedule`'s job.

use serde::Serialize;

use super::{get, now_ms, Store, StoreError};
use crate::tracking::states::{ContactStatus, TaskSource, TaskStatus};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PlanRow {
    pub consultant_id: i64,
    /// ISO week, e.g. 2026-W49.
    pub week: String,
    pub category: String,
    pub minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Absence {
    pub id: i64,
    pub consultant_id: i64,
    /// First and last day away, inclusive (YYYY-MM-DD).
    pub first_day: String,
    pub last_day: String,
    pub reason: String,
}

/// A task `schedule` places: planned start and minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledBlock {
    pub category: String,
    pub start_ms: i64,
    pub minutes: i64,
}

impl Store {
    /// The consultant's plan for a week (every consultant's when `None`).
    pub async fn work_plan(
        &self,
        consultant: Option<i64>,
        week: &str,
    ) -> Result<Vec<PlanRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT consultant_id, iso_week, category, minutes FROM work_plans \
             WHERE iso_week = $1 AND ($2 < 0 OR consultant_id = $3) \
             ORDER BY consultant_id, category",
        )
        .bind(week.to_string())
        .bind(consultant.unwrap_or(-1))
        .bind(consultant.unwrap_or(-1))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PlanRow {
                    consultant_id: get(r, "consultant_id")?,
                    week: get(r, "iso_week")?,
                    category: get(r, "category")?,
                    minutes: get(r, "minutes")?,
                })
            })
            .collect()
    }

    /// Replaces the consultant's plan for a week.
    pub async fn set_work_plan(
        &self,
        consultant: i64,
        week: &str,
        items: &[(String, i64)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM work_plans WHERE consultant_id = $1 AND iso_week = $2")
            .bind(consultant)
            .bind(week.to_string())
            .execute(&mut *tx)
            .await?;
        for (category, minutes) in items {
            sqlx::query(
                "INSERT INTO work_plans (consultant_id, iso_week, category, minutes) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(consultant)
            .bind(week.to_string())
            .bind(category.clone())
            .bind(*minutes)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Copies plans from one week to another (one consultant's or all),
    /// replacing what the destination had. Returns the rows copied.
    pub async fn copy_work_plan(
        &self,
        consultant: Option<i64>,
        from: &str,
        to: &str,
    ) -> Result<u64, StoreError> {
        let rows = self.work_plan(consultant, from).await?;
        let mut by: std::collections::BTreeMap<i64, Vec<(String, i64)>> = Default::default();
        for r in rows {
            by.entry(r.consultant_id)
                .or_default()
                .push((r.category, r.minutes));
        }
        let mut n = 0;
        for (c, items) in by {
            n += items.len() as u64;
            self.set_work_plan(c, to, &items).await?;
        }
        Ok(n)
    }

    /// The consultant's own working hours: weekday (0 = Monday) → ranges.
    pub async fn working_hours(
        &self,
        consultant: i64,
    ) -> Result<Vec<(i64, Vec<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT weekday, ranges FROM working_hours WHERE consultant_id = $1 ORDER BY weekday",
        )
        .bind(consultant)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let ranges: String = get(r, "ranges")?;
                Ok((
                    get(r, "weekday")?,
                    ranges
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                ))
            })
            .collect()
    }

    /// Replaces the consultant's own hours for the given weekdays.
    pub async fn set_working_hours(
        &self,
        consultant: i64,
        days: &[(i64, Vec<String>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (day, ranges) in days {
            sqlx::query(
                "INSERT INTO working_hours (consultant_id, weekday, ranges) VALUES ($1, $2, $3) \
                 ON CONFLICT (consultant_id, weekday) DO UPDATE SET ranges = excluded.ranges",
            )
            .bind(consultant)
            .bind(*day)
            .bind(ranges.join(","))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn add_absence(
        &self,
        consultant: i64,
        first: &str,
        last: &str,
        reason: &str,
    ) -> Result<Absence, StoreError> {
        let r = sqlx::query(
            "INSERT INTO absences (consultant_id, first_day, last_day, reason) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(consultant)
        .bind(first.to_string())
        .bind(last.to_string())
        .bind(reason.to_string())
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::classify)?;
        Ok(Absence {
            id: get(&r, "id")?,
            consultant_id: consultant,
            first_day: first.into(),
            last_day: last.into(),
            reason: reason.into(),
        })
    }

    /// Absences touching [first, last] (days, inclusive).
    pub async fn absences(
        &self,
        consultant: Option<i64>,
        first: &str,
        last: &str,
    ) -> Result<Vec<Absence>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, consultant_id, first_day, last_day, reason FROM absences \
             WHERE last_day >= $1 AND first_day <= $2 AND ($3 < 0 OR consultant_id = $4) \
             ORDER BY consultant_id, first_day",
        )
        .bind(first.to_string())
        .bind(last.to_string())
        .bind(consultant.unwrap_or(-1))
        .bind(consultant.unwrap_or(-1))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Absence {
                    id: get(r, "id")?,
                    consultant_id: get(r, "consultant_id")?,
                    first_day: get(r, "first_day")?,
                    last_day: get(r, "last_day")?,
                    reason: get(r, "reason")?,
                })
            })
            .collect()
    }

    /// The consultant's fixed time in [from, to): scheduled or realised
    /// contacts and meetings (own or as a participant) and tasks that are
    /// not from a previous `schedule` run, as (start, end) milliseconds.
    pub async fn busy_intervals(
        &self,
        consultant: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut out = Vec::new();
        for c in self.consultant_agenda(consultant, from, to).await? {
            if c.status == ContactStatus::Cancelled {
                continue;
            }
            let s = c.planned_start.or(c.started_at);
            let e = c.planned_end.or(c.ended_at);
            if let (Some(s), Some(e)) = (s, e) {
                out.push((s.timestamp_millis(), e.timestamp_millis()));
            }
        }
        let rows = sqlx::query(
            "SELECT planned_start, planned_minutes, started_at, ended_at FROM tasks \
             WHERE consultant_id = $1 AND status <> 'cancelled' AND source <> 'schedule' \
             AND COALESCE(started_at, planned_start) < $2 \
             AND COALESCE(started_at, planned_start) >= $3 - 86400000",
        )
        .bind(consultant)
        .bind(to)
        .bind(from)
        .fetch_all(self.pool())
        .await?;
        for r in &rows {
            let started: Option<i64> = get(r, "started_at")?;
            let ended: Option<i64> = get(r, "ended_at")?;
            let planned: Option<i64> = get(r, "planned_start")?;
            let minutes: Option<i64> = get(r, "planned_minutes")?;
            let span = match (started, ended, planned, minutes) {
                (Some(s), Some(e), _, _) => Some((s, e)),
                (Some(s), None, _, _) => Some((s, now_ms().max(s + 60_000))),
                (None, _, Some(p), Some(m)) => Some((p, p + m * 60_000)),
                _ => None,
            };
            if let Some((s, e)) = span.filter(|(s, e)| *e > from && *s < to) {
                out.push((s, e));
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Replaces the planned tasks an earlier `schedule` run placed for the
    /// consultant's week with these blocks.
    pub async fn replace_scheduled(
        &self,
        consultant: i64,
        week: &str,
        blocks: &[ScheduledBlock],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM tasks WHERE consultant_id = $1 AND iso_week = $2 \
             AND source = 'schedule' AND status = 'planned'",
        )
        .bind(consultant)
        .bind(week.to_string())
        .execute(&mut *tx)
        .await?;
        for b in blocks {
            let t = super::TaskRecord {
                consultant_id: consultant,
                category: b.category.clone(),
                title: format!("Planned: {}", b.category),
                status: TaskStatus::Planned,
                planned_start_ms: Some(b.start_ms),
                planned_minutes: Some(b.minutes),
                source: TaskSource::Schedule,
                iso_week: Some(week.to_string()),
                ..Default::default()
            };
            self.insert_task(&mut tx, &t).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
