//! The process's rule 4: closing a protocol asks its owner to communicate
//! the completion to the client.

use super::*;

/// Rule 4: a closed protocol's owner communicates the completion. Creates
/// that task unless the protocol already has one; returns it when created.
pub async fn on_protocol_closed(
    store: &Store,
    p: &Protocol,
) -> Result<Option<Task>, TrackingError> {
    let Some(owner) = p.owner_id else {
        return Ok(None);
    };
    let mut tx = store.begin().await?;
    if store
        .protocol_has_task(&mut tx, p.id, COMMUNICATE_COMPLETION)
        .await?
    {
        return Ok(None);
    }
    let now = Utc::now().timestamp_millis();
    let record = TaskRecord {
        consultant_id: owner,
        category: COMMUNICATE_COMPLETION.into(),
        protocol_id: Some(p.id),
        title: format!("Communicate the completion of protocol {}", p.number),
        status: "planned".into(),
        planned_start_ms: Some(now),
        planned_minutes: Some(COMMUNICATE_MINUTES),
        source: "rule".into(),
        ..Default::default()
    };
    let id = store.insert_task(&mut tx, &record).await?;
    store
        .audit(
            &mut tx,
            "task",
            id,
            "created",
            None,
            Some("rule 4".into()),
            "protocall",
        )
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Some(store.get_task(id).await?))
}
