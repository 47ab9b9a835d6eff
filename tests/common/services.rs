//! Real services the streaming tests start themselves on 127.0.0.1: Mosquitto, a GStreamer RTSP
//! server serving a real face video, and an MQTT subscriber that records what arrives.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

/// A port no one listens on now and that this process has not handed out before: a port is
/// free again as soon as its probe closes, so two tests starting servers at once could both get it
/// (one server then failed to bind and its test talked to the other test's server: "unknown
/// SecretId" from a server without that test's keys).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

pub struct Mosquitto {
    child: Child,
    pub port: u16,
}

impl Mosquitto {
    pub fn start(port: u16) -> Self {
        let child = Command::new("mosquitto")
            .args(["-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (scripts/setup.sh installs it)");
        assert!(
            wait_until(Duration::from_secs(5), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "mosquitto did not start on {port}"
        );
        Mosquitto { child, port }
    }

    /// A broker with a plain listener on `port` and a TLS listener on `tls_port` (certificate and
    /// key as PEM files), both on 127.0.0.1. With `client_ca`, the TLS listener demands a client
    /// certificate issued by that CA (mutual TLS).
    pub fn start_tls(
        port: u16,
        tls_port: u16,
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Self {
        let conf = std::env::temp_dir().join(format!("fs-mosquitto-{port}-{tls_port}.conf"));
        let mut text = format!(
            "allow_anonymous true\nlistener {port} 127.0.0.1\nlistener {tls_port} 127.0.0.1\ncertfile {}\nkeyfile {}\n",
            cert.display(),
            key.display(),
        );
        match client_ca {
            Some(ca) => text.push_str(&format!(
                "cafile {}\nrequire_certificate true\n",
                ca.display()
            )),
            None => text.push_str(&format!("cafile {}\n", cert.display())),
        }
        std::fs::write(&conf, text).unwrap();
        let child = Command::new("mosquitto")
            .args(["-c", conf.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (scripts/setup.sh installs it)");
        assert!(
            wait_until(Duration::from_secs(5), || [port, tls_port]
                .iter()
                .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())),
            "mosquitto did not start on {port}/{tls_port}"
        );
        // Read once at start: nothing of the test is left behind.
        let _ = std::fs::remove_file(&conf);
        Mosquitto { child, port }
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Records every message on `<prefix>/#`, resubscribing after each reconnect.
pub struct Subscriber {
    pub messages: Arc<Mutex<Vec<(String, String)>>>,
    pub subscribed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Subscriber {
    pub fn start(port: u16, filter: &str) -> Self {
        let messages = Arc::new(Mutex::new(vec![]));
        let subscribed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s, st, filter) = (
            messages.clone(),
            subscribed.clone(),
            stop.clone(),
            filter.to_string(),
        );
        let handle = std::thread::spawn(move || {
            // One client id per subscriber: two with the same id take the session from each other
            // in turn (the broker drops the older), and each reconnect replays retained messages.
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let id = format!(
                "test-sub-{}-{port}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let mut opts = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
            opts.set_keep_alive(Duration::from_secs(5));
            // Sees whatever is published, large messages included.
            opts.set_max_packet_size(16 << 20, 16 << 20);
            let (client, mut conn) = rumqttc::Client::new(opts, 100);
            while !st.load(Ordering::Relaxed) {
                match conn.recv_timeout(Duration::from_millis(50)) {
                    Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_)))) => {
                        let _ = client.try_subscribe(filter.clone(), rumqttc::QoS::AtLeastOnce);
                    }
                    Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)))) => {
                        s.store(true, Ordering::SeqCst);
                    }
                    Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) => {
                        m.lock().unwrap().push((
                            p.topic.clone(),
                            String::from_utf8_lossy(&p.payload).into_owned(),
                        ));
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => {
                        s.store(false, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(_) => {}
                }
            }
        });
        let sub = Subscriber {
            messages,
            subscribed,
            stop,
            handle: Some(handle),
        };
        assert!(
            wait_until(Duration::from_secs(10), || sub
                .subscribed
                .load(Ordering::SeqCst)),
            "subscriber never got its SubAck"
        );
        sub
    }

    pub fn on(&self, topic: &str) -> Vec<serde_json::Value> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == topic)
            .filter_map(|(_, p)| serde_json::from_str(p).ok())
            .collect()
    }

    pub fn raw(&self, topic: &str) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| p.clone())
            .collect()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// gstreamer-rtsp-server serving an MP4 (H.264) file in real time at rtsp://127.0.0.1:PORT/cam.
pub struct RtspServer {
    pub port: u16,
    main_loop: gst::glib::MainLoop,
    server: rtsp::RTSPServer,
    ctx: gst::glib::MainContext,
    source: Option<gst::glib::SourceId>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RtspServer {
    pub fn start(video: &Path, port: u16) -> Self {
        gst::init().unwrap();
        let ctx = gst::glib::MainContext::new();
        let server = rtsp::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let factory = rtsp::RTSPMediaFactory::new();
        factory.set_launch(&format!(
            "( filesrc location=\"{}\" ! qtdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )",
            video.display()
        ));
        factory.set_shared(true);
        server.mount_points().unwrap().add_factory("/cam", factory);
        let source = server.attach(Some(&ctx)).expect("attach RTSP server");
        let main_loop = gst::glib::MainLoop::new(Some(&ctx), false);
        let (ml, c) = (main_loop.clone(), ctx.clone());
        let thread = std::thread::spawn(move || {
            c.with_thread_default(|| ml.run()).unwrap();
        });
        let port = server.bound_port() as u16;
        RtspServer {
            port,
            main_loop,
            server,
            ctx,
            source: Some(source),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }

    /// Closes every client connection and the listening socket, like a crashed server.
    pub fn kill(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.server
            .client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
        // The listening socket's source lives on this server's own context.
        if let Some(src) = self
            .source
            .take()
            .and_then(|id| self.ctx.find_source_by_id(&id))
        {
            src.destroy();
        }
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A throwaway PostgreSQL server on 127.0.0.1: `initdb` into a temporary folder, `pg_ctl start`
/// on a free port, stopped (`-m immediate`) and removed on drop. Debian keeps the server binaries
/// in /usr/lib/postgresql/<version>/bin; as root they run as the `postgres` user.
pub struct Postgres {
    pub port: u16,
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
}

impl Postgres {
    fn bin_dir() -> std::path::PathBuf {
        let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries (scripts/setup.sh --with-test-tools installs postgresql)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("pg_ctl").exists())
            .collect();
        found.sort();
        found.pop().expect("pg_ctl under /usr/lib/postgresql/*/bin")
    }

    /// Runs a server binary as the `postgres` user when we are root (initdb refuses root).
    fn run(&self, args: &str) -> std::process::Output {
        let root = is_root();
        let cmd = format!("cd /tmp && {}/{args}", self.bin.display());
        let out = if root {
            Command::new("su")
                .args(["postgres", "-s", "/bin/sh", "-c", &cmd])
                .output()
        } else {
            Command::new("sh").args(["-c", &cmd]).output()
        };
        out.expect("run a PostgreSQL server binary")
    }

    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A server that accepts TCP connections only over TLS, with `cert` and `key` (PEM).
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Self {
        Self::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&std::path::Path, &std::path::Path)>) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("fs-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres", dir.to_str().unwrap()])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown {} to postgres", dir.display());
        }
        let pg = Postgres {
            port,
            dir,
            bin: Self::bin_dir(),
        };
        let data = pg.dir.join("data");
        let out = pg.run(&format!(
            "initdb -D {} -A trust -U postgres --no-sync -E UTF8",
            data.display()
        ));
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some((cert, key)) = tls {
            for (from, to) in [(cert, "server.crt"), (key, "server.key")] {
                let to = data.join(to);
                std::fs::copy(from, &to).expect("copy the server's certificate");
                std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                    .unwrap();
                if is_root() {
                    Command::new("chown")
                        .args(["postgres:postgres", to.to_str().unwrap()])
                        .status()
                        .unwrap();
                }
            }
            let conf = data.join("postgresql.conf");
            let mut text = std::fs::read_to_string(&conf).unwrap();
            text.push_str(
                "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
            );
            std::fs::write(&conf, text).unwrap();
            // TCP only over TLS; the Unix socket (psql here) stays plain.
            let hba = data.join("pg_hba.conf");
            let text = std::fs::read_to_string(&hba).unwrap();
            let text: String = text
                .lines()
                .map(|l| match l.strip_prefix("host ") {
                    Some(rest) => format!("hostssl {rest}\n"),
                    None => format!("{l}\n"),
                })
                .collect();
            std::fs::write(&hba, text).unwrap();
        }
        pg.start_server();
        pg
    }

    fn start_server(&self) {
        let data = self.dir.join("data");
        let out = self.run(&format!(
            "pg_ctl -D {} -l {}/log -o \"-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off\" -w start",
            data.display(),
            self.dir.display(),
            self.port,
            self.dir.display()
        ));
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One server for the whole test binary (each test makes its own database): started on first
    /// use, stopped and removed by a watcher process once this test process has exited.
    pub fn shared() -> &'static Postgres {
        static PG: std::sync::OnceLock<Postgres> = std::sync::OnceLock::new();
        PG.get_or_init(|| {
            let pg = Postgres::start();
            let stop = format!(
                "{}/pg_ctl -D {}/data -m immediate -w stop",
                pg.bin.display(),
                pg.dir.display()
            );
            let stop = if is_root() {
                format!("su postgres -s /bin/sh -c '{stop}'")
            } else {
                stop
            };
            let watcher = format!(
                "while kill -0 {} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {}",
                std::process::id(),
                pg.dir.display()
            );
            let _ = Command::new("sh")
                .args(["-c", &watcher])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn();
            pg
        })
    }

    /// Stops the server at once (connections are cut) and starts it again on the same port.
    pub fn restart(&self) {
        self.stop();
        self.start_server();
    }

    pub fn stop(&self) {
        let _ = self.run(&format!(
            "pg_ctl -D {} -m immediate -w stop",
            self.dir.join("data").display()
        ));
    }

    /// A fresh database on this server; its URL.
    pub fn database(&self, name: &str) -> String {
        let out = self.run(&format!(
            "psql -h 127.0.0.1 -p {} -U postgres -c 'CREATE DATABASE {name}'",
            self.port
        ));
        assert!(
            out.status.success(),
            "create database {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Publishes one QoS 1 message and waits for the broker to acknowledge it.
pub fn publish(port: u16, topic: &str, payload: &str) {
    let mut opts = rumqttc::MqttOptions::new(
        format!("test-pub-{}", std::process::id()),
        "127.0.0.1",
        port,
    );
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut conn) = rumqttc::Client::new(opts, 10);
    client
        .publish(
            topic,
            rumqttc::QoS::AtLeastOnce,
            false,
            payload.as_bytes().to_vec(),
        )
        .unwrap();
    for _ in 0..100 {
        if let Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)))) =
            conn.recv_timeout(Duration::from_millis(100))
        {
            break;
        }
    }
}
