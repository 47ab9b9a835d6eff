//! What operators read about a camera: its URI with the password masked, and a GStreamer error
//! reduced to its cause ("connection refused to 10.0.0.5:554") instead of element paths and
//! source file names.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The URI with any password replaced by `***` (`rtsp://admin:***@10.0.0.5/stream`).
pub fn mask_uri(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => uri.to_string(),
    }
}

/// A GStreamer error (`message`, `debug`) on the camera at `uri`, reduced to its cause.
pub fn reduce(uri: &str, message: &str, debug: &str) -> String {
    let all = format!("{message} {debug}").to_ascii_lowercase();
    let endpoint = url::Url::parse(uri).ok().and_then(|u| {
        let host = u.host_str()?.to_string();
        let port = u.port_or_known_default().or(match u.scheme() {
            "rtsp" | "rtsps" => Some(554),
            _ => None,
        })?;
        Some((host, port))
    });
    if all.contains("401") || all.contains("unauthorized") {
        let at = endpoint
            .map(|(h, p)| format!(" at {h}:{p}"))
            .unwrap_or_default();
        return format!("authentication refused{at} (check the user and password in the URI)");
    }
    if all.contains("404") || all.contains("not found") && endpoint.is_some() {
        return format!("stream not found: {}", mask_uri(uri));
    }
    if let Some((host, port)) = &endpoint {
        if all.contains("could not open resource")
            || all.contains("failed to connect")
            || all.contains("could not connect")
            || all.contains("timeout")
        {
            return probe(host, *port);
        }
    }
    // Otherwise the first sentence of the message, without element paths or source lines.
    let first = message.split(['(', '\n']).next().unwrap_or(message).trim();
    let first = first.trim_end_matches('.');
    if first.is_empty() {
        "stream error".to_string()
    } else {
        first.to_string()
    }
}

/// Why `host:port` cannot be reached, found by trying it (GStreamer only says "failed to
/// connect").
fn probe(host: &str, port: u16) -> String {
    let addrs: Vec<_> = match (host, port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(_) => return format!("cannot resolve host {host}"),
    };
    let Some(addr) = addrs.first() else {
        return format!("cannot resolve host {host}");
    };
    match TcpStream::connect_timeout(addr, Duration::from_secs(2)) {
        Ok(_) => format!("{host}:{port} accepts connections but the stream did not start"),
        Err(e) => match e.kind() {
            std::io::ErrorKind::ConnectionRefused => format!("connection refused to {host}:{port}"),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                format!("connection to {host}:{port} timed out")
            }
            _ => format!("cannot connect to {host}:{port}: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_errors_reduced_to_their_cause() {
        assert_eq!(
            mask_uri("rtsp://admin:s3cret@10.0.0.5:554/stream"),
            "rtsp://admin:***@10.0.0.5:554/stream"
        );
        assert_eq!(mask_uri("rtsp://10.0.0.5/s"), "rtsp://10.0.0.5/s");
        assert_eq!(mask_uri("/videos/a.mp4"), "/videos/a.mp4");
        // A closed port on loopback: refused, found by probing.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let uri = format!("rtsp://admin:s3cret@127.0.0.1:{port}/live");
        let cause = reduce(
            &uri,
            "Could not open resource for reading and writing.",
            "../gst/rtsp/gstrtspsrc.c(8001): gst_rtspsrc_retrieve_sdp (): /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0:\nFailed to connect. (Generic error)",
        );
        assert_eq!(cause, format!("connection refused to 127.0.0.1:{port}"));
        assert!(reduce(&uri, "Unauthorized", "").contains("authentication refused"));
        assert!(!reduce(&uri, "Not Found", "").contains("s3cret"));
        assert_eq!(
            reduce(
                "file:///x.mp4",
                "Internal data stream error.",
                "../libs/gst/base/gstbasesrc.c(3132): gst_base_src_loop ()"
            ),
            "Internal data stream error"
        );
    }
}
