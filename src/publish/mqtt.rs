//! MQTT sink (rumqttc, QoS 1). Every event stays in this sink's own bounded buffer until the broker
//! acknowledges it: rumqttc forgets unacknowledged messages when a restarted broker has no session,
//! so redelivery after a reconnect is done here (at least once). Overflow drops the oldest, counted.
//! With `mqtt.spool_dir` every event is also journaled on disk until acknowledged (journal.rs).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{Client, Connection, Event as MqttEvent, LastWill, MqttOptions, Packet, QoS};

use super::journal::Journal;
use super::outbox::{Backoff, Message, Outbox};
use super::Sink;
use crate::base::clock::Clock;
use crate::base::error::{ErrorKind, Problem};
use crate::config::MqttConfig;
use crossbeam_channel::Sender;

use crate::analyze::liveness::Request;
use crate::messages::{Event, LiveRequestMsg};
use crate::metrics::{EventsOverflowed, Metrics};

/// The cameras a daemon watches, with their face sets (kept current by the daemon).
pub type HeldCameras = Arc<std::sync::RwLock<std::collections::HashMap<String, Vec<String>>>>;
/// A pool's whole camera list after its last round (`None` outside a pool or before a round).
pub type SiteCameras = Arc<std::sync::RwLock<Option<std::collections::BTreeSet<String>>>>;

/// Why the MQTT sink could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("event journal in {dir} (mqtt.spool_dir): {source}")]
    Journal {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
}

pub struct MqttSink {
    client: Client,
    connection: Connection,
    prefix: String,
    /// Waiting and unacknowledged events (the no-loss rules, outbox.rs).
    outbox: Outbox,
    /// The brokers to use in turn (`mqtt.hosts`), the one in use, and its failures in a row.
    brokers: Vec<(String, u16)>,
    broker: usize,
    failures: u32,
    cfg: MqttConfig,
    connected: bool,
    backoff: Backoff,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    flush_timeout: Duration,
    /// Liveness challenges received on `<prefix>/+/liveness/request`.
    live_requests: Option<Sender<LiveRequestMsg>>,
    /// In a pool: the cameras this daemon holds; challenges for others are left to their holder.
    only_cameras: Option<HeldCameras>,
    /// Larger liveness requests are answered with FRS.0611 unread.
    max_request_bytes: usize,
    /// On-disk journal of every undelivered event (`mqtt.spool_dir`).
    journal: Option<Journal>,
    journal_failed: bool,
    /// Home Assistant discovery and entity states, for the cameras this daemon watches.
    home_assistant: Option<(super::homeassistant::HomeAssistant, HeldCameras)>,
    /// A pool's camera list, for removing the entities of cameras removed from the pool.
    site_cameras: Option<SiteCameras>,
}

/// The largest event the client sends (snapshots included).
const MAX_OUTGOING_BYTES: usize = 16 * 1024 * 1024;

/// Messages handed to the client but not yet acknowledged.
const WINDOW: usize = 16;

/// The client options for one broker.
fn options(cfg: &MqttConfig, host: &str, port: u16) -> Result<MqttOptions, PublishError> {
    let mut opts = MqttOptions::new(cfg.client_id.clone(), host.to_string(), port);
    opts.set_keep_alive(Duration::from_secs(5));
    // rumqttc's default 10 KB limit dropped the link on any larger message (a 20 KB liveness
    // request made it flap). Requests up to 1 MiB are read and answered (too large: FRS.0611);
    // events with snapshots may be large too.
    opts.set_max_packet_size(crate::config::MQTT_MAX_INCOMING_BYTES, MAX_OUTGOING_BYTES);
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
    Ok(opts)
}

impl MqttSink {
    pub fn new(
        cfg: &MqttConfig,
        metrics: Arc<Metrics>,
        live_requests: Option<Sender<LiveRequestMsg>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, PublishError> {
        let brokers = cfg.brokers();
        let (host, port) = brokers
            .first()
            .cloned()
            .unwrap_or_else(|| (cfg.host.clone(), cfg.port));
        let (client, connection) = Client::new(options(cfg, &host, port)?, WINDOW * 2);
        metrics
            .mqtt_link
            .store(crate::metrics::MQTT_DOWN, Ordering::Relaxed);
        let (journal, recovered) = match &cfg.spool_dir {
            Some(dir) => {
                let (j, old) = Journal::open(dir, cfg.buffer_capacity).map_err(|source| {
                    PublishError::Journal {
                        dir: dir.clone(),
                        source,
                    }
                })?;
                if !old.is_empty() {
                    tracing::info!(
                        events = old.len(),
                        "undelivered events from the previous run will be sent first"
                    );
                }
                (Some(j), old)
            }
            None => (None, vec![]),
        };
        Ok(Self {
            client,
            connection,
            prefix: cfg.topic_prefix.clone(),
            outbox: Outbox::new(cfg.buffer_capacity, WINDOW, recovered),
            brokers,
            broker: 0,
            failures: 0,
            cfg: cfg.clone(),
            connected: false,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
            clock,
            metrics,
            flush_timeout: Duration::from_secs(cfg.flush_timeout_s),
            live_requests,
            max_request_bytes: cfg.max_request_bytes,
            only_cameras: None,
            journal,
            journal_failed: false,
            home_assistant: None,
            site_cameras: None,
        })
    }

    /// Answers liveness challenges only for the cameras in `held` (a pool member).
    /// Announces the cameras in `cameras` to Home Assistant and keeps their entities' states.
    pub fn with_home_assistant(
        mut self,
        cfg: &crate::config::HomeAssistantConfig,
        cameras: HeldCameras,
        pool: Option<SiteCameras>,
    ) -> Self {
        let ha = super::homeassistant::HomeAssistant::new(cfg, &self.prefix, pool.is_none());
        self.home_assistant = Some((ha, cameras));
        self.site_cameras = pool;
        self
    }

    /// The cameras to announce now.
    fn ha_cameras(cameras: &HeldCameras) -> std::collections::BTreeSet<String> {
        cameras
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Home Assistant's messages go out like events, but are not journaled: they are retained
    /// states, sent again at every connection.
    fn push_all(&mut self, messages: Vec<Message>) {
        for m in messages {
            let over = self.outbox.push(m);
            if over > 0 {
                EventsOverflowed { count: over as u64 }.emit(&self.metrics);
            }
        }
    }

    /// Discovery for every camera; at a new connection also the subscription to Home
    /// Assistant's status topic (only then: a retained `online` would come back at every one).
    fn announce_to_home_assistant(&mut self, subscribe: bool) {
        let Some((ha, cams)) = self.home_assistant.as_mut() else {
            return;
        };
        let msgs = ha.announce_all(&Self::ha_cameras(cams));
        let status = ha.status_topic().to_string();
        if subscribe {
            let _ = self.client.try_subscribe(status, QoS::AtLeastOnce);
        }
        self.push_all(msgs);
    }

    pub fn answering_only(mut self, held: HeldCameras) -> Self {
        self.only_cameras = Some(held);
        self
    }

    fn journal_error(&mut self, e: std::io::Error) {
        if !self.journal_failed {
            tracing::error!(error = %e, "cannot write the event journal: events are kept in memory only");
        }
        self.journal_failed = true;
    }

    /// Records acknowledgements and keeps the journal small (rate-limited unless `now`).
    fn sync_journal(&mut self, force: bool) {
        let Some(j) = self.journal.as_mut() else {
            return;
        };
        let pending = self.outbox.pending().filter(|m| m.seq > 0);
        if let Err(e) = j.sync(pending, self.outbox.len(), force, self.clock.now()) {
            self.journal_error(e);
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    fn enqueue(&mut self, mut m: Message) {
        if let Some(j) = self.journal.as_mut() {
            match j.append(&m.topic, &m.payload, m.retain) {
                Ok(seq) => m.seq = seq,
                Err(e) => self.journal_error(e),
            }
        }
        let over = self.outbox.push(m);
        if over > 0 {
            EventsOverflowed { count: over as u64 }.emit(&self.metrics);
        }
        self.count_buffered();
    }

    /// Events not yet acknowledged by the broker (kept current while it is away, too).
    fn count_buffered(&self) {
        self.metrics
            .events_buffered
            .store(self.outbox.len() as u64, Ordering::Relaxed);
    }

    fn drive(&mut self) {
        if !self.connected && !self.backoff.ready(self.clock.now()) {
            return;
        }
        for _ in 0..64 {
            match self.connection.recv_timeout(Duration::from_millis(5)) {
                Ok(Ok(MqttEvent::Incoming(Packet::ConnAck(_)))) => {
                    self.connected = true;
                    self.failures = 0;
                    self.metrics
                        .mqtt_link
                        .store(crate::metrics::MQTT_CONNECTED, Ordering::Relaxed);
                    self.backoff.reset();
                    tracing::info!("connected to the MQTT broker");
                    self.outbox.push_first(Message {
                        seq: 0,
                        topic: format!("{}/available", self.prefix),
                        payload: b"online".to_vec(),
                        retain: true,
                    });
                    self.announce_to_home_assistant(true);
                    if self.live_requests.is_some() {
                        let _ = self.client.try_subscribe(
                            format!("{}/+/liveness/request", self.prefix),
                            QoS::AtLeastOnce,
                        );
                    }
                }
                Ok(Ok(MqttEvent::Incoming(Packet::Publish(p)))) => {
                    let birth = self
                        .home_assistant
                        .as_ref()
                        .is_some_and(|(ha, _)| p.topic == ha.status_topic());
                    if birth {
                        if &p.payload[..] == b"online" {
                            tracing::info!("Home Assistant is online: discovery sent again");
                            self.announce_to_home_assistant(false);
                        }
                    } else {
                        self.on_request(&p.topic, &p.payload);
                    }
                }
                Ok(Ok(MqttEvent::Incoming(Packet::PubAck(_)))) => {
                    if let Some(m) = self.outbox.acked() {
                        if let (Some(j), true) = (self.journal.as_mut(), m.seq > 0) {
                            j.acked(m.seq);
                        }
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
                    self.metrics
                        .mqtt_link
                        .store(crate::metrics::MQTT_DOWN, Ordering::Relaxed);
                    self.metrics.mqtt_reconnects.fetch_add(1, Ordering::Relaxed);
                    self.outbox.link_lost();
                    self.backoff.failed(self.clock.now());
                    self.failures += 1;
                    if self.brokers.len() > 1 && self.failures >= self.cfg.failover_after {
                        self.next_broker();
                    }
                    return;
                }
                Err(_) => break,
            }
            self.feed();
        }
        self.feed();
        self.count_buffered();
    }

    /// Moves to the next broker of `mqtt.hosts`: a new client; what was not acknowledged is
    /// already back in the outbox and goes to the new broker first.
    fn next_broker(&mut self) {
        let from = self.broker;
        self.broker = (self.broker + 1) % self.brokers.len();
        self.failures = 0;
        let (host, port) = self.brokers[self.broker].clone();
        match options(&self.cfg, &host, port) {
            Ok(opts) => {
                let (client, connection) = Client::new(opts, WINDOW * 2);
                let _ = self.client.disconnect();
                self.client = client;
                self.connection = connection;
                self.backoff.reset();
                self.metrics.mqtt_failovers.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    from = %format!("{}:{}", self.brokers[from].0, self.brokers[from].1),
                    to = %format!("{host}:{port}"),
                    "MQTT broker unreachable: moving to the next of mqtt.hosts"
                );
            }
            Err(e) => tracing::error!(error = %e, "cannot build the MQTT client for {host}:{port}"),
        }
    }

    fn feed(&mut self) {
        while self.connected {
            let Some(m) = self.outbox.take_next() else {
                break;
            };
            match self.client.try_publish(
                m.topic.clone(),
                QoS::AtLeastOnce,
                m.retain,
                m.payload.clone(),
            ) {
                Ok(()) => self.outbox.sent(m),
                Err(_) => {
                    self.outbox.unsent(m);
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
        if let Some(held) = &self.only_cameras {
            let mine = held.read().map(|h| h.contains_key(camera)).unwrap_or(false);
            if !mine {
                return;
            }
        }
        // Still parsed (at most 1 MiB, nesting bounded by serde_json) to answer with its request_id.
        let too_large = payload.len() > self.max_request_bytes;
        let v: serde_json::Value =
            serde_json::from_slice(payload).unwrap_or(serde_json::Value::Null);
        let request_id = v["request_id"]
            .as_str()
            .map(|s| s.chars().take(128).collect::<String>())
            .unwrap_or_else(|| "missing".into());
        let request = match v["actions"].as_str() {
            _ if too_large => Err(Problem::new(
                ErrorKind::MessageTooLarge,
                format!(
                    "the request is {} bytes; at most {} are read (mqtt.max_request_bytes)",
                    payload.len(),
                    self.max_request_bytes
                ),
            )),
            _ if !v.is_object() => Err(Problem::new(
                ErrorKind::BadBody,
                "the request is not a JSON object",
            )),
            None => Err(Problem::new(ErrorKind::MissingField, "actions is required")),
            Some(actions) => Request::parse(
                actions,
                v["action_time"].as_str(),
                v["nod_threshold"].as_f64().unwrap_or(10.0) as f32,
            )
            .map_err(|e| e.problem()),
        };
        let windows_end = request
            .as_ref()
            .ok()
            .and_then(|r| r.windows.as_ref())
            .and_then(|w| w.iter().map(|x| x.1).max());
        // An explicit timeout outside the documented range is refused, not silently replaced.
        let (request, timeout_ms) = match &v["timeout_ms"] {
            serde_json::Value::Null => (request, windows_end.unwrap_or(10_000).clamp(500, 60_000)),
            t => match t.as_u64().filter(|t| (500..=60_000).contains(t)) {
                Some(t) => (request, t),
                None => (
                    request.and(Err(Problem::new(
                        ErrorKind::BadTimeout,
                        format!("timeout_ms must be an integer 500..=60000, got {t}"),
                    ))),
                    500,
                ),
            },
        };
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
            seq: 0,
            topic,
            payload: event.to_json().into_bytes(),
            retain: matches!(event, Event::Status(_)),
        });
        if let Some((ha, _)) = self.home_assistant.as_mut() {
            let msgs = ha.on_event(event);
            self.push_all(msgs);
        }
        self.drive();
        self.sync_journal(false);
    }

    fn tick(&mut self) {
        if let Some((ha, cams)) = self.home_assistant.as_mut() {
            let site = self
                .site_cameras
                .as_ref()
                .and_then(|s| s.read().ok().and_then(|s| s.clone()));
            let mut msgs = site.map(|s| ha.site_changed(&s)).unwrap_or_default();
            msgs.extend(ha.sync(&Self::ha_cameras(cams)));
            self.push_all(msgs);
        }
        self.drive();
        self.sync_journal(false);
    }

    fn finish(&mut self) {
        let deadline = self.clock.now() + self.flush_timeout;
        let never = std::sync::atomic::AtomicBool::new(false);
        while !self.outbox.is_empty() && self.clock.now() < deadline {
            self.drive();
            self.clock.sleep(Duration::from_millis(5), &never);
        }
        let left = self.outbox.len();
        self.sync_journal(true);
        if left > 0 {
            if self.journal.is_some() && !self.journal_failed {
                tracing::warn!(
                    events = left,
                    "broker unreachable at shutdown: events kept on disk for the next start"
                );
            } else {
                tracing::error!(left, "broker unreachable at shutdown: events not delivered");
            }
        }
        if self.connected {
            let _ = self.client.try_publish(
                format!("{}/available", self.prefix),
                QoS::AtLeastOnce,
                true,
                "offline",
            );
            let until = self.clock.now() + Duration::from_millis(500);
            while self.clock.now() < until {
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
