//! `/metrics` (Prometheus text) and `/healthz` on the daemon's tokio runtime.

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;

use crate::metrics::Metrics;

/// Healthy while the detection stage loops (its heartbeat is under 10 s old).
pub fn healthy(m: &Metrics) -> bool {
    !m.detection_stalled()
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let m1 = metrics.clone();
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = m1.clone();
                async move { m.render() }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let m = metrics.clone();
                async move {
                    let h = m.health();
                    let code = if h.status == "ok" {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    let body = serde_json::to_string(&h).unwrap_or_default();
                    (code, [(header::CONTENT_TYPE, "application/json")], body)
                }
            }),
        );
    if let Ok(bind) = listener.local_addr() {
        tracing::info!(%bind, "metrics and health endpoint listening");
    }
    axum::serve(listener, app).await
}
