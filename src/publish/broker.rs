//! The embedded default broker: a private Mosquitto on loopback, started and stopped with the daemon,
//! so `facestream run` works with no external service and `mosquitto_sub` can watch.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct EmbeddedBroker {
    child: Child,
    pub port: u16,
}

impl EmbeddedBroker {
    pub fn start(port: u16) -> std::io::Result<Self> {
        // Its own process group: a Ctrl-C meant for the daemon must not kill the broker before the
        // daemon has flushed its events.
        let child = Command::new("mosquitto")
            .args(["-p", &port.to_string()])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot start mosquitto (run scripts/setup.sh): {e}"),
                )
            })?;
        let mut b = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = b.child.try_wait() {
                return Err(std::io::Error::other(format!(
                    "mosquitto exited at start ({status}); is port {port} in use?"
                )));
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "mosquitto did not listen on 127.0.0.1:{port} within 5 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(b)
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
