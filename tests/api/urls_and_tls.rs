//! HTTPS serving, TLS settings, and http(s) image_url fetching.

use super::*;

/// One HTTPS request with rustls trusting `ca`; the status and JSON body, or the TLS error.
fn https_call(port: u16, ca: &std::path::Path, path: &str) -> Result<(u16, Value), String> {
    use tokio_rustls::rustls;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in facestream::tls::certificates(ca).unwrap() {
        roots.add(c).unwrap();
    }
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).unwrap();
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Auth-Token: {KEY_A}\r\n\r\n");
    tls.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    match tls.read_to_end(&mut resp) {
        Ok(_) => {}
        // Servers may close without close_notify; what was read is still the answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !resp.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let (status, _, body) = parse_response(&resp);
    Ok((status, body))
}

#[test]
fn https_when_a_certificate_is_configured() {
    let dir = common::Scratch::new("fs-api-tls");
    let cert = common::tls::self_signed(&dir, "api");
    let other = common::tls::self_signed(&dir, "other");
    let srv = start(&format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.cert.display(),
        cert.key.display()
    ));
    let p = srv.port;
    let (s, v) = https_call(p, &cert.cert, "/v2/p/face-sets").unwrap();
    assert_eq!((s, &v["face_sets_info"]), (200, &json!([])), "{v}");
    // A client that does not trust this certificate fails the handshake.
    let e = https_call(p, &other.cert, "/v2/p/face-sets").unwrap_err();
    println!("untrusted client: {e}");
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    // Plain HTTP on the TLS port gets no HTTP answer, and the server keeps serving.
    let (s, _) = call(p, "GET", "/v2/p/face-sets", Some(KEY_A), None);
    assert_eq!(s, 0, "plain HTTP must not be served on the TLS port");
    assert_eq!(https_call(p, &cert.cert, "/openapi.json").unwrap().0, 200);
}

#[test]
fn bad_tls_settings_fail_the_start_naming_the_key() {
    let dir = common::Scratch::new("fs-api-tls-bad");
    let cert = common::tls::self_signed(&dir, "half");
    let run = |api: &str| {
        let cfg = dir.join("bad.toml");
        std::fs::write(
            &cfg,
            format!("[mqtt]\nenabled = false\n[http]\nbind = \"\"\n[api]\nbind = \"127.0.0.1:{}\"\n{api}\n", free_port()),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_facestream"))
            .args(["--config", cfg.to_str().unwrap(), "run"])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, err) = run(&format!("tls_cert = \"{}\"", cert.cert.display()));
    assert!(
        !ok && err.contains("api.tls_cert") && err.contains("tls_key"),
        "{err}"
    );
    // The key file given as the certificate: no certificate in it.
    let (ok, err) = run(&format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.key.display(),
        cert.key.display()
    ));
    assert!(
        !ok && err.contains("api.tls_cert") && err.contains("half.key"),
        "{err}"
    );
    // A certificate with someone else's key.
    let other = common::tls::self_signed(&dir, "other");
    let (ok, err) = run(&format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.cert.display(),
        other.key.display()
    ));
    assert!(!ok && err.contains("api.tls_cert"), "{err}");
    // A CA file for image URLs that holds no certificate.
    let (ok, err) = run(&format!("image_url_ca_file = \"{}\"", cert.key.display()));
    assert!(!ok && err.contains("api.image_url_ca_file"), "{err}");
}

/// A tiny HTTP server on 127.0.0.1 for image_url tests: `/ok.jpg` a real photo, `/redirect` a 302 to
/// it, `/slow` answers after 3 s, anything else 404.
fn photo_server(photo: Vec<u8>) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let photo = photo.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                let head = |code: &str, extra: &str, len: usize| {
                    format!("HTTP/1.1 {code}\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n")
                };
                let _ = match path.as_str() {
                    "/ok.jpg" => {
                        let _ = s.write_all(
                            head("200 OK", "Content-Type: image/jpeg\r\n", photo.len()).as_bytes(),
                        );
                        s.write_all(&photo)
                    }
                    "/redirect" => {
                        s.write_all(head("302 Found", "Location: /ok.jpg\r\n", 0).as_bytes())
                    }
                    "/slow" => {
                        std::thread::sleep(Duration::from_secs(3));
                        s.write_all(head("200 OK", "", 0).as_bytes())
                    }
                    _ => s.write_all(head("404 Not Found", "", 0).as_bytes()),
                };
            });
        }
    });
    port
}

#[test]
fn http_image_urls_only_from_allowed_hosts() {
    let media = common::media();
    let photo =
        std::fs::read(media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg")).unwrap();
    let big = std::fs::read(media.join("group/faceapi_bbt4.jpg")).unwrap();
    assert!(big.len() > photo.len());
    let web = photo_server(photo.clone());
    let big_web = photo_server(big.clone());
    let srv = start(&format!(
        "image_url_hosts = [\"127.0.0.1:{web}\", \"127.0.0.1:{big_web}\"]\nimage_url_timeout_ms = 1000\n[images]\nmax_file_bytes = {}",
        photo.len() + 10
    ));
    let p = srv.port;
    let detect = |url: String| {
        call(
            p,
            "POST",
            "/v2/p/face-detect",
            Some(KEY_A),
            Some(&json!({"image_url": url})),
        )
    };
    let (s, v) = detect(format!("http://127.0.0.1:{web}/ok.jpg"));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["faces"].as_array().map(Vec::len), Some(1));
    // Not on the list: another port, another name for the same host, credentials, other schemes.
    for url in [
        format!("http://127.0.0.1:{}/ok.jpg", free_port()),
        format!("http://localhost:{web}/ok.jpg"),
        "http://169.254.169.254/latest/meta-data".to_string(),
    ] {
        let (s, v) = detect(url.clone());
        assert_eq!(
            (s, v["error_code"].as_str()),
            (403, Some("FRS.0012")),
            "{url}: {v}"
        );
    }
    let (s, v) = detect(format!("http://user:pw@127.0.0.1:{web}/ok.jpg"));
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0012")),
        "{v}"
    );
    // Allowed host, but: a redirect (not followed), a 404, too slow, too large.
    for (path, port, why) in [
        ("/redirect", web, "HTTP 302"),
        ("/nothing", web, "HTTP 404"),
        ("/slow", web, ""),
        ("/ok.jpg", big_web, "larger than"),
    ] {
        let (s, v) = detect(format!("http://127.0.0.1:{port}{path}"));
        assert_eq!(
            (s, v["error_code"].as_str()),
            (400, Some("FRS.0016")),
            "{path}: {v}"
        );
        assert!(
            v["error_msg"].as_str().unwrap().contains(why),
            "{path}: {v}"
        );
    }
    // The same fetch works for face-set adds and Baidu's image_type URL.
    let (s, _) = call(
        p,
        "POST",
        "/v2/p/face-sets",
        Some(KEY_A),
        Some(&json!({"face_set_name": "web"})),
    );
    assert_eq!(s, 200);
    let (s, v) = call(
        p,
        "POST",
        "/v2/p/face-sets/web/faces",
        Some(KEY_A),
        Some(&json!({"image_url": format!("http://127.0.0.1:{web}/ok.jpg")})),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = call_raw(
        p,
        "POST",
        &format!("/rest/2.0/face/v3/detect?access_token={KEY_A}"),
        None,
        json!({"image": format!("http://127.0.0.1:{web}/ok.jpg"), "image_type": "URL"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!((s, v["error_code"].as_i64()), (200, Some(0)), "{v}");
}

/// An HTTPS server on 127.0.0.1 with `cert` that answers every request with `photo`.
fn https_photo_server(photo: Vec<u8>, cert: &common::tls::CertFiles) -> u16 {
    let tls = std::sync::Arc::new(facestream::tls::server_config(&cert.cert, &cert.key).unwrap());
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for sock in l.incoming().flatten() {
            let (photo, tls) = (photo.clone(), tls.clone());
            std::thread::spawn(move || {
                let conn = tokio_rustls::rustls::ServerConnection::new(tls).unwrap();
                let mut s = tokio_rustls::rustls::StreamOwned::new(conn, sock);
                let mut buf = [0u8; 4096];
                if s.read(&mut buf).unwrap_or(0) == 0 {
                    return; // the handshake failed: the client did not trust us
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    photo.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&photo);
                s.conn.send_close_notify();
                let _ = s.flush();
            });
        }
    });
    port
}

#[test]
fn https_image_urls_trust_the_configured_ca() {
    let media = common::media();
    let photo =
        std::fs::read(media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg")).unwrap();
    let dir = common::Scratch::new("fs-api-https-url");
    let cert = common::tls::self_signed(&dir, "images");
    let web = https_photo_server(photo, &cert);
    let url = format!("https://127.0.0.1:{web}/ok.jpg");
    let detect = |srv: &Server| {
        call(
            srv.port,
            "POST",
            "/v2/p/face-detect",
            Some(KEY_A),
            Some(&json!({ "image_url": url })),
        )
    };
    // The image server's private CA is trusted: the photo is fetched over TLS and analysed.
    let trusted = start(&format!(
        "image_url_hosts = [\"127.0.0.1:{web}\"]\nimage_url_ca_file = \"{}\"",
        cert.cert.display()
    ));
    let (s, v) = detect(&trusted);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["faces"].as_array().map(Vec::len), Some(1), "{v}");
    drop(trusted);
    // Without it the built-in public roots do not know that CA: the download is refused.
    let public = start(&format!("image_url_hosts = [\"127.0.0.1:{web}\"]"));
    let (s, v) = detect(&public);
    println!("untrusted image server: {v}");
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0016")),
        "{v}"
    );
    assert!(
        v["error_msg"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{v}"
    );
}
