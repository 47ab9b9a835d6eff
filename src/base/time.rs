//! Wall-clock time and event ids (stages that need testable time take a `Clock` instead).

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A fresh event id (32 hex digits).
pub fn event_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
