//! `/metrics` (Prometheus text) and `/healthz` on the daemon's tokio runtime.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::messages::wall_ms;
use crate::metrics::Metrics;

/// Healthy while the detection stage loops (its heartbeat is under 10 s old).
pub fn healthy(m: &Metrics) -> bool {
    wall_ms().saturating_sub(m.heartbeat_ms.load(Ordering::Relaxed)) < 10_000
}

pub async fn serve(bind: String, metrics: Arc<Metrics>) -> std::io::Result<()> {
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
                    if healthy(&m) {
                        (axum::http::StatusCode::OK, "ok\n")
                    } else {
                        (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "detection stage stalled\n",
                        )
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    tracing::info!(%bind, "metrics and health endpoint listening");
    axum::serve(listener, app).await
}
