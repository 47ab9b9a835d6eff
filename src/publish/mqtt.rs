//! MQTT sink (rumqttc, QoS 1). Every event stays in this sink's own bounded buffer until the broker
//! acknowledges it: rumqttc forgets unacknowledged messages when a restarted broker has no session,
//! so redelivery after a reconnect is done here (at least once). Overflow drops the oldest, counted.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{Client, Connection, Event as MqttEvent, LastWill, MqttOptions, Packet, QoS};

use super::Sink;
use crate::config::MqttConfig;
use crossbeam_channel::Sender;

use crate::analyze::liveness::Request;
use crate::messages::{Event, LiveRequestMsg};
use crate::metrics::{EventsOverflowed, Metrics};

struct Message {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

pub struct MqttSink {
    client: Client,
    connection: Connection,
    prefix: String,
    capacity: usize,
    buffer: VecDeque<Message>,
    unacked: VecDeque<Message>,
    connected: bool,
    backoff: Duration,
    next_attempt: Instant,
    metrics: Arc<Metrics>,
    flush_timeout: Duration,
    /// Liveness challenges received on `<prefix>/+/liveness/request`.
    live_requests: Option<Sender<LiveRequestMsg>>,
    spool: Option<std::path::PathBuf>,
}

/// Messages handed to the client but not yet acknowledged.
const WINDOW: usize = 16;

impl MqttSink {
    pub fn new(
        cfg: &MqttConfig,
        metrics: Arc<Metrics>,
        live_requests: Option<Sender<LiveRequestMsg>>,
    ) -> Result<Self, crate::tls::TlsError> {
        let mut opts = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
        opts.set_keep_alive(Duration::from_secs(5));
        opts.set_clean_session(true);
        opts.set_last_will(LastWill::new(
            format!("{}/available", cfg.topic_prefix),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
            opts.set_credentials(u.clone(), p.clone());
        }
        if cfg.tls {
            let tls = crate::tls::client_config(cfg.ca_file.as_deref(), cfg.client_pair())?;
            opts.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(Arc::new(tls)),
            ));
        }
        let (client, connection) = Client::new(opts, WINDOW * 2);
        Ok(Self {
            client,
            connection,
            prefix: cfg.topic_prefix.clone(),
            capacity: cfg.buffer_capacity,
            buffer: VecDeque::new(),
            unacked: VecDeque::new(),
            connected: false,
            backoff: Duration::from_millis(200),
            next_attempt: Instant::now(),
            metrics,
            flush_timeout: Duration::from_secs(cfg.flush_timeout_s),
            live_requests,
            spool: cfg.spool_dir.as_ref().map(|d| d.join("mqtt-pending.jsonl")),
        }
        .with_spooled())
    }

    /// Loads events a previous run could not deliver; they go out first.
    fn with_spooled(mut self) -> Self {
        let Some(path) = &self.spool else { return self };
        let Ok(text) = std::fs::read_to_string(path) else {
            return self;
        };
        let mut n = 0;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            if let (Some(t), Some(p)) = (v["topic"].as_str(), v["payload"].as_str()) {
                self.buffer.push_back(Message {
                    topic: t.into(),
                    payload: p.as_bytes().to_vec(),
                    retain: v["retain"].as_bool().unwrap_or(false),
                });
                n += 1;
            }
        }
        let _ = std::fs::remove_file(path);
        tracing::info!(events = n, "events from the previous run will be delivered");
        self
    }

    /// Writes undelivered events to the spool file (at shutdown).
    fn spool_left(&mut self) -> Option<usize> {
        let path = self.spool.clone()?;
        let left: Vec<Message> = self
            .unacked
            .drain(..)
            .chain(self.buffer.drain(..))
            .filter(|m| !m.topic.ends_with("/available"))
            .collect();
        let lines: String = left
            .iter()
            .map(|m| format!("{}\n", serde_json::json!({"topic": m.topic, "payload": String::from_utf8_lossy(&m.payload), "retain": m.retain})))
            .collect();
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = path.with_extension("tmp");
        match std::fs::write(&tmp, lines).and_then(|_| std::fs::rename(&tmp, &path)) {
            Ok(()) => Some(left.len()),
            Err(e) => {
                tracing::error!(error = %e, path = %path.display(), "cannot write the event spool");
                None
            }
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    fn enqueue(&mut self, m: Message) {
        self.buffer.push_back(m);
        if self.buffer.len() > self.capacity {
            let over = self.buffer.len() - self.capacity;
            self.buffer.drain(..over);
            EventsOverflowed { count: over as u64 }.emit(&self.metrics);
        }
    }

    fn drive(&mut self) {
        if !self.connected && Instant::now() < self.next_attempt {
            return;
        }
        for _ in 0..64 {
            match self.connection.recv_timeout(Duration::from_millis(5)) {
                Ok(Ok(MqttEvent::Incoming(Packet::ConnAck(_)))) => {
                    self.connected = true;
                    self.backoff = Duration::from_millis(200);
                    tracing::info!("connected to the MQTT broker");
                    self.buffer.push_front(Message {
                        topic: format!("{}/available", self.prefix),
                        payload: b"online".to_vec(),
                        retain: true,
                    });
                    if self.live_requests.is_some() {
                        let _ = self.client.try_subscribe(
                            format!("{}/+/liveness/request", self.prefix),
                            QoS::AtLeastOnce,
                        );
                    }
                }
                Ok(Ok(MqttEvent::Incoming(Packet::Publish(p)))) => {
                    self.on_request(&p.topic, &p.payload)
                }
                Ok(Ok(MqttEvent::Incoming(Packet::PubAck(_)))) => {
                    if self.unacked.pop_front().is_some() {
                        self.metrics
                            .events_published
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    if self.connected {
                        tracing::warn!(error = %e, "MQTT connection lost; events are buffered");
                    }
                    self.connected = false;
                    self.metrics.mqtt_reconnects.fetch_add(1, Ordering::Relaxed);
                    // Unacknowledged messages go back to the front, in order, to be sent again.
                    while let Some(m) = self.unacked.pop_back() {
                        self.buffer.push_front(m);
                    }
                    self.next_attempt = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
                    return;
                }
                Err(_) => break,
            }
            self.feed();
        }
        self.feed();
        self.metrics.events_buffered.store(
            (self.buffer.len() + self.unacked.len()) as u64,
            Ordering::Relaxed,
        );
    }

    fn feed(&mut self) {
        while self.connected && self.unacked.len() < WINDOW {
            let Some(m) = self.buffer.pop_front() else {
                break;
            };
            match self.client.try_publish(
                m.topic.clone(),
                QoS::AtLeastOnce,
                m.retain,
                m.payload.clone(),
            ) {
                Ok(()) => self.unacked.push_back(m),
                Err(_) => {
                    self.buffer.push_front(m);
                    break;
                }
            }
        }
    }
}

impl MqttSink {
    /// `<prefix>/<camera>/liveness/request` with `{request_id, actions, action_time?, timeout_ms?, nod_threshold?}`.
    fn on_request(&mut self, topic: &str, payload: &[u8]) {
        let Some(tx) = &self.live_requests else {
            return;
        };
        let Some(camera) = topic
            .strip_prefix(&format!("{}/", self.prefix))
            .and_then(|t| t.strip_suffix("/liveness/request"))
        else {
            return;
        };
        let v: serde_json::Value =
            serde_json::from_slice(payload).unwrap_or(serde_json::Value::Null);
        let request_id = v["request_id"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| "missing".into());
        let request = match v["actions"].as_str() {
            None => Err(("FRS.0011", "actions is required".to_string())),
            Some(actions) => Request::parse(
                actions,
                v["action_time"].as_str(),
                v["nod_threshold"].as_f64().unwrap_or(10.0) as f32,
            )
            .map_err(|e| (e.code(), e.to_string())),
        };
        let windows_end = request
            .as_ref()
            .ok()
            .and_then(|r| r.windows.as_ref())
            .and_then(|w| w.iter().map(|x| x.1).max());
        let timeout_ms = v["timeout_ms"]
            .as_u64()
            .or(windows_end)
            .unwrap_or(10_000)
            .clamp(500, 60_000);
        if tx
            .try_send(LiveRequestMsg {
                camera: camera.to_string(),
                request_id,
                request,
                timeout_ms,
            })
            .is_err()
        {
            tracing::warn!(camera, "liveness request dropped: too many pending");
        }
    }
}

impl Sink for MqttSink {
    fn send(&mut self, event: &Event) {
        let topic = format!("{}/{}/{}", self.prefix, event.camera(), event.kind());
        self.enqueue(Message {
            topic,
            payload: event.to_json().into_bytes(),
            retain: matches!(event, Event::Status(_)),
        });
        self.drive();
    }

    fn tick(&mut self) {
        self.drive();
    }

    fn finish(&mut self) {
        let deadline = Instant::now() + self.flush_timeout;
        while (!self.buffer.is_empty() || !self.unacked.is_empty()) && Instant::now() < deadline {
            self.drive();
            std::thread::sleep(Duration::from_millis(5));
        }
        let left = self.buffer.len() + self.unacked.len();
        if left > 0 {
            match self.spool_left() {
                Some(n) => tracing::warn!(
                    events = n,
                    "broker unreachable at shutdown: events kept on disk for the next start"
                ),
                None => {
                    tracing::error!(left, "broker unreachable at shutdown: events not delivered")
                }
            }
        }
        if self.connected {
            let _ = self.client.try_publish(
                format!("{}/available", self.prefix),
                QoS::AtLeastOnce,
                true,
                "offline",
            );
            let until = Instant::now() + Duration::from_millis(500);
            while Instant::now() < until {
                if let Ok(Ok(MqttEvent::Incoming(Packet::PubAck(_)))) =
                    self.connection.recv_timeout(Duration::from_millis(20))
                {
                    break;
                }
            }
            let _ = self.client.disconnect();
            let _ = self.connection.recv_timeout(Duration::from_millis(100));
        }
    }
}
