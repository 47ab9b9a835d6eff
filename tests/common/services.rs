//! Real services the streaming tests start themselves on 127.0.0.1: Mosquitto, a GStreamer RTSP
//! server serving a real face video, and an MQTT subscriber that records what arrives.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
            let mut opts = rumqttc::MqttOptions::new(format!("test-sub-{port}"), "127.0.0.1", port);
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
