//! The web console in a real browser (Debian's chromium over WebDriver) against a running daemon
//! with a looping-file camera, Home Assistant discovery read back from a real Mosquitto, and the
//! console's security checks over plain HTTP. Screenshots of each page are saved in the test's
//! temporary folder (printed) to look at.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::services::{free_port, wait_until, Mosquitto, Subscriber};
use fantoccini::{ClientBuilder, Locator};
use serde_json::{json, Value};

const ADMIN_KEY: &str = "console-admin-key-0123456789abcdef";
const OTHER_KEY: &str = "console-tenant-b-key-0123456789ab";

/// A person on camera for 4 s, then 2 s of nobody, at 640x360 10 fps: looped, every pass is a
/// new track of the same person.
fn passing_person(dir: &Path) -> PathBuf {
    let out = dir.join("passing.mp4");
    let src = common::media().join("video/liveportrait_s18.mp4");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src)
        .args([
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=640x360:r=10:d=2",
            "-filter_complex",
            "[0:v]trim=0:4,setpts=PTS-STARTPTS,scale=640:360,fps=10,format=yuv420p[a];[1:v]format=yuv420p[b];[a][b]concat=n=2:v=1[v]",
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .arg(&out)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ffmpeg built the test video");
    out
}

struct Daemon {
    child: Child,
    port: u16,
    data: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(dir: &Path, broker: u16, video: &Path, extra: &str) -> Daemon {
    let port = free_port();
    let data = dir.join("data");
    // The set the console names strangers into, and that the camera searches.
    facestream::search::FaceSets::open(&data)
        .unwrap()
        .create_set(
            "people",
            1000,
            Default::default(),
            facestream::config::EmbedderKind::Mobilefacenet,
        )
        .unwrap();
    let cfg = dir.join("facestream.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[mqtt]
host = "127.0.0.1"
port = {broker}
topic_prefix = "fs"
client_id = "console-test-{port}"
[http]
bind = ""
[storage]
dir = "{}"
[api]
bind = "127.0.0.1:{port}"
[[api.keys]]
key = "{ADMIN_KEY}"
tenant = "admin"
[[api.keys]]
key = "{OTHER_KEY}"
tenant = "b"
[console]
enabled = true
live_fps = 2.0
default_face_set = "people"
{extra}
[[cameras]]
id = "door"
uri = "{}"
loop = true
detect_fps = 5.0
face_sets = ["people"]
"#,
            data.display(),
            video.display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("daemon.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "the daemon's API did not start"
    );
    Daemon { child, port, data }
}

/// A raw HTTP/1.1 exchange: (status, headers, body).
fn http(port: u16, request: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "{request}\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = vec![];
    s.read_to_end(&mut out).unwrap();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, out[(split + 4).min(out.len())..].to_vec())
}

/// Signs in over HTTP; the session cookie.
fn sign_in(port: u16, key: &str) -> String {
    let body = format!("key={key}");
    let (status, head, _) = http(
        port,
        "POST /console/login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
        body.as_bytes(),
    );
    assert_eq!(status, 303, "{head}");
    head.lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .map(String::from)
        .unwrap_or_else(|| panic!("no cookie: {head}"))
}

fn page(port: u16, cookie: &str, path: &str) -> (u16, String) {
    let (s, _, b) = http(
        port,
        &format!("GET {path} HTTP/1.1\r\nCookie: {cookie}"),
        b"",
    );
    (s, String::from_utf8_lossy(&b).to_string())
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..at + 64].to_string()
}

fn events(sub: &Subscriber, kind: &str) -> Vec<Value> {
    sub.on("fs/door/match")
        .into_iter()
        .filter(|m| m["event"] == kind)
        .collect()
}

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (scripts/setup.sh --with-test-tools installs chromium-driver)");
    assert!(wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    Driver { child, port }
}

async fn shot(c: &fantoccini::Client, dir: &Path, name: &str) {
    // Page weight (HTML, and pictures the page loaded) and the browser's own load time.
    let m = c
        .execute(
            "const n = performance.getEntriesByType('navigation')[0] || {}; \
             const r = performance.getEntriesByType('resource').reduce((a, e) => a + (e.transferSize || 0), 0); \
             return [n.transferSize || 0, r, n.duration || 0, document.documentElement.outerHTML.length];",
            vec![],
        )
        .await
        .unwrap_or(Value::Null);
    println!(
        "page {name}: html {} B transferred ({} B of markup), pictures {} B, load {:.0} ms",
        m[0],
        m[3],
        m[1],
        m[2].as_f64().unwrap_or(0.0)
    );
    let png = c.screenshot().await.unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

/// Reloads `url` until `css` matches, up to `secs`.
async fn wait_for(c: &fantoccini::Client, url: &str, css: &str, secs: u64) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        c.goto(url).await.unwrap();
        if c.find(Locator::Css(css)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    false
}

#[test]
fn the_console_names_a_stranger_corrects_a_match_and_deletes_a_person() {
    // Its screenshots stay with FACESTREAM_KEEP_TEST_FILES set.
    let dir = common::Scratch::new("fs-console");
    let video = passing_person(&dir);
    let broker = Mosquitto::start(free_port());
    let sub = Subscriber::start(broker.port, "fs/#");
    let d = start_daemon(&dir, broker.port, &video, "");
    let driver = chromedriver();
    let base = format!("http://127.0.0.1:{}", d.port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=412,915"]}),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a WebDriver session with headless chromium");
        // Not signed in: the console sends the browser to the sign-in page.
        c.goto(&format!("{base}/console/events")).await.unwrap();
        assert!(c.current_url().await.unwrap().as_str().ends_with("/console/login"));
        shot(&c, &dir, "1-login").await;
        c.find(Locator::Id("key")).await.unwrap().send_keys(ADMIN_KEY).await.unwrap();
        let t0 = Instant::now();
        c.find(Locator::Id("signin")).await.unwrap().click().await.unwrap();
        // The cameras page lists the camera and its live view shows a frame.
        c.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("div.camera[data-camera='door']"))
            .await
            .expect("the cameras page lists the camera");
        let mut live = false;
        for _ in 0..60 {
            let w = c
                .execute("return document.querySelector('img.live').naturalWidth", vec![])
                .await
                .unwrap_or(Value::Null);
            if w.as_i64().unwrap_or(0) > 0 {
                live = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        println!("cameras page and live view in {:?}", t0.elapsed());
        assert!(live, "the live view never showed a frame");
        shot(&c, &dir, "2-cameras").await;

        // The stranger's first pass ends unknown, with its crop in the timeline.
        let events_url = format!("{base}/console/events");
        assert!(
            wait_for(&c, &events_url, "div.event.unknown img", 90).await,
            "no unknown event with a crop in the timeline"
        );
        let unknown = events(&sub, "unknown");
        let id = unknown[0]["unknown_id"].as_str().expect("unknown events carry a lasting id").to_string();
        assert!(id.starts_with("unknown-"), "{id}");
        shot(&c, &dir, "3-events-unknown").await;
        // Name it: the next pass of that person is a match.
        let form = c
            .find(Locator::Css(&format!("div.event.unknown[data-person='{id}'] form.name")))
            .await
            .unwrap();
        form.find(Locator::Css("input[name=person]")).await.unwrap().send_keys("Alice").await.unwrap();
        form.find(Locator::Css("button")).await.unwrap().click().await.unwrap();
        let named_at = facestream::base::time::wall_ms();
        let matched = wait_until(Duration::from_secs(60), || {
            events(&sub, "match").iter().any(|m| m["user_id"] == "Alice")
        });
        assert!(matched, "naming the stranger did not make the next track a match");
        println!("named at {named_at}; first match after {} ms", events(&sub, "match")[0]["wall_time_ms"].as_u64().unwrap_or(0).saturating_sub(named_at));
        assert!(
            wait_for(&c, &events_url, "div.event.match[data-person='Alice']", 20).await,
            "the match is in the timeline"
        );
        // The timeline now names the stranger's earlier events after the person.
        assert!(c.find(Locator::Css(&format!("div.event.unknown[data-person='{id}']"))).await.is_err());
        shot(&c, &dir, "4-events-match").await;

        // "Not this person": later passes stop matching Alice.
        c.find(Locator::Css("div.event.match[data-person='Alice'] form.reject button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let rejected_at = facestream::base::time::wall_ms();
        let after = |kind: &str, t: u64| -> Vec<Value> {
            events(&sub, kind)
                .into_iter()
                .filter(|m| m["wall_time_ms"].as_u64().unwrap_or(0) > t)
                .collect()
        };
        assert!(
            wait_until(Duration::from_secs(60), || after("unknown", rejected_at).len() >= 2),
            "no unknown tracks after the rejection"
        );
        let first_unknown = after("unknown", rejected_at)[0]["wall_time_ms"].as_u64().unwrap();
        assert!(
            after("match", first_unknown).is_empty(),
            "a track still matched Alice after 'not this person': {:?}",
            after("match", first_unknown)
        );

        // The library lists Alice; deleting her removes her.
        c.goto(&format!("{base}/console/library/people")).await.unwrap();
        assert!(c.find(Locator::Css("tr.person[data-person='Alice']")).await.is_ok());
        shot(&c, &dir, "5-library").await;
        c.find(Locator::Css("tr.person[data-person='Alice'] form.delete button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // (The click returns before the next page has loaded: look until Alice is gone.)
        let mut gone = false;
        for _ in 0..50 {
            if c.find(Locator::Css("tr.person[data-person='Alice']")).await.is_err() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(gone, "Alice is still listed after Delete");
        shot(&c, &dir, "6-library-deleted").await;
        c.close().await.unwrap();
    });
    let sets = facestream::search::FaceSets::open(&d.data).unwrap();
    assert!(sets
        .user_faces("people", "Alice")
        .map(|f| f.is_empty())
        .unwrap_or(true));
    // The CLI reads the same history.
    let out = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(["--config"])
        .arg(dir.join("facestream.toml"))
        .args(["events", "--kind", "match", "--limit", "5"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first: Value = serde_json::from_str(text.lines().next().unwrap_or("{}")).unwrap();
    assert_eq!(first["person"], "Alice", "{text}");
    assert_eq!(first["kind"], "match");
}

/// Nothing of the console without a session; no change without its CSRF token or from another
/// site; another tenant sees neither the site's strangers nor their pictures.
#[test]
fn the_console_needs_a_session_a_csrf_token_and_scopes_tenants() {
    let dir = common::Scratch::new("fs-console-sec");
    let video = passing_person(&dir);
    let broker = Mosquitto::start(free_port());
    let sub = Subscriber::start(broker.port, "fs/#");
    let d = start_daemon(&dir, broker.port, &video, "");
    let p = d.port;
    for path in [
        "/console/",
        "/console/events",
        "/console/library",
        "/console/events/x/snapshot.jpg",
        "/console/cameras/door/live.jpg",
    ] {
        let (s, head, _) = http(p, &format!("GET {path} HTTP/1.1"), b"");
        assert_eq!(s, 303, "{path}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("location: /console/login"),
            "{head}"
        );
    }
    let (s, _, _) = http(p, "GET /console/api/cameras HTTP/1.1", b"");
    assert_eq!(s, 401);
    let (s, _, body) = http(
        p,
        "POST /console/login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
        b"key=not-a-key",
    );
    assert_eq!(s, 401, "{}", String::from_utf8_lossy(&body));
    let admin = sign_in(p, ADMIN_KEY);
    let (s, cams) = page(p, &admin, "/console/api/cameras");
    assert_eq!(s, 200);
    let cams: Value = serde_json::from_str(&cams).unwrap();
    assert_eq!(cams["cameras"][0]["id"], "door", "{cams}");
    assert!(
        wait_until(Duration::from_secs(90), || !events(&sub, "unknown")
            .is_empty()),
        "no unknown event"
    );
    let stranger = events(&sub, "unknown")[0]["unknown_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The history keeps events in batches (within ~0.5 s of their publication).
    let mut html = String::new();
    let seen = wait_until(Duration::from_secs(10), || {
        let (s, h) = page(p, &admin, "/console/events?kind=unknown");
        html = h;
        s == 200 && html.contains(&stranger)
    });
    assert!(seen, "the admin sees the stranger: {html}");
    let csrf = csrf_of(&html);
    let name = |extra: &str, body: &str| {
        http(
            p,
            &format!("POST /console/strangers/{stranger}/name HTTP/1.1\r\nCookie: {admin}\r\nContent-Type: application/x-www-form-urlencoded{extra}"),
            body.as_bytes(),
        )
    };
    let (s, _, b) = name("", "person=Mallory");
    assert_eq!(s, 403, "no CSRF token: {}", String::from_utf8_lossy(&b));
    let (s, _, _) = name("", &format!("person=Mallory&csrf={}", "0".repeat(64)));
    assert_eq!(s, 403, "a wrong CSRF token");
    let (s, _, _) = name(
        "\r\nOrigin: https://evil.example",
        &format!("person=Mallory&csrf={csrf}"),
    );
    assert_eq!(s, 403, "another site's form");
    let (s, _, b) = http(
        p,
        &format!("POST /console/strangers/unknown-99999/name HTTP/1.1\r\nCookie: {admin}\r\nContent-Type: application/x-www-form-urlencoded"),
        format!("person=Mallory&csrf={csrf}").as_bytes(),
    );
    assert_eq!(s, 404, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("FRS.0802"));
    let sets = facestream::search::FaceSets::open(&d.data).unwrap();
    assert!(
        sets.user_faces("people", "Mallory")
            .map(|f| f.is_empty())
            .unwrap_or(true),
        "nothing was named"
    );
    // Tenant b sees none of the site's strangers, nor their pictures, in the console or the API.
    let b = sign_in(p, OTHER_KEY);
    let (_, html) = page(p, &b, "/console/events?kind=unknown");
    assert!(!html.contains(&stranger), "tenant b sees the stranger");
    let ev: Vec<Value> = sub.on("fs/door/match");
    let eid = ev.iter().find(|e| e["event"] == "unknown").unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _, _) = http(
        p,
        &format!("GET /console/events/{eid}/snapshot.jpg HTTP/1.1\r\nCookie: {b}"),
        b"",
    );
    assert_eq!(s, 404);
    let (s, _, jpeg) = http(
        p,
        &format!("GET /console/events/{eid}/snapshot.jpg HTTP/1.1\r\nCookie: {admin}"),
        b"",
    );
    assert_eq!(s, 200);
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");
    let api = |key: &str| {
        let (s, _, body) = http(
            p,
            &format!("GET /facestream/v1/events?kind=unknown HTTP/1.1\r\nX-Auth-Token: {key}"),
            b"",
        );
        assert_eq!(s, 200);
        serde_json::from_slice::<Value>(&body).unwrap()["events"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert!(api(ADMIN_KEY) >= 1);
    assert_eq!(api(OTHER_KEY), 0);
    let (s, _, _) = http(p, "GET /facestream/v1/events HTTP/1.1", b"");
    assert_eq!(s, 401, "the events API needs a key");
    // The library: add a photo of a person, then rename them.
    let photo = std::fs::read(
        common::media().join("gallery/Barack_Obama/face_recognition_obama_small.jpg"),
    )
    .unwrap();
    let boundary = "fsconsoleboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"person\"\r\n\r\nBarack\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"o.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&photo);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (s, _, out) = http(
        p,
        &format!("POST /console/library/people/people HTTP/1.1\r\nCookie: {admin}\r\nContent-Type: multipart/form-data; boundary={boundary}"),
        &body,
    );
    assert_eq!(s, 303, "{}", String::from_utf8_lossy(&out));
    assert_eq!(sets.user_faces("people", "Barack").unwrap().len(), 1);
    let (s, _, _) = http(
        p,
        &format!("POST /console/library/people/people/Barack/rename HTTP/1.1\r\nCookie: {admin}\r\nContent-Type: application/x-www-form-urlencoded"),
        format!("to=Barack_Obama&csrf={csrf}").as_bytes(),
    );
    assert_eq!(s, 303);
    sets.refresh().unwrap();
    assert_eq!(sets.user_faces("people", "Barack_Obama").unwrap().len(), 1);
    assert!(sets
        .user_faces("people", "Barack")
        .map(|f| f.is_empty())
        .unwrap_or(true));
    // Tenant b cannot reach the site's set "people" (its names mean its own sets).
    let (s, _) = page(p, &b, "/console/library/people");
    assert_eq!(s, 404);
    // Signing out ends the session.
    let (s, _, _) = http(
        p,
        &format!("POST /console/logout HTTP/1.1\r\nCookie: {admin}\r\nContent-Type: application/x-www-form-urlencoded"),
        format!("csrf={csrf}").as_bytes(),
    );
    assert_eq!(s, 303);
    let (s, _) = page(p, &admin, "/console/api/cameras");
    assert_eq!(s, 401);

    // Guessing keys: after ten failed sign-ins (one was made above) every sign-in is refused for
    // a while, even with a valid key, so a guess cannot get through; then it works again.
    let try_key = |key: &str| {
        http(
            p,
            "POST /console/login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
            format!("key={key}").as_bytes(),
        )
    };
    let wrong: Vec<u16> = (0..14).map(|i| try_key(&format!("guess-{i}")).0).collect();
    let refused = wrong.iter().take_while(|s| **s == 401).count();
    // Nine or ten left of the budget (it refills a little during the 300 ms answer to each).
    assert!((9..=11).contains(&refused), "{wrong:?}");
    assert!(wrong[refused..].iter().all(|s| *s == 429), "{wrong:?}");
    let (s, head, body) = try_key(ADMIN_KEY);
    assert_eq!(s, 429, "a valid key during the lockout: {head}");
    assert!(String::from_utf8_lossy(&body).contains("FRS.0429"));
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    std::thread::sleep(Duration::from_secs(7));
    let _ = sign_in(p, ADMIN_KEY);
}

/// Home Assistant discovery over a real Mosquitto: the retained configs name the documented
/// fields; states follow the tracks; discovery comes again on Home Assistant's birth message; a
/// camera removed by a reload has its entities removed.
#[test]
fn home_assistant_discovers_a_camera_device_and_forgets_a_removed_one() {
    let dir = common::Scratch::new("fs-ha");
    let video = passing_person(&dir);
    let broker = Mosquitto::start(free_port());
    let d = start_daemon(
        &dir,
        broker.port,
        &video,
        "[homeassistant]\nenabled = true\n",
    );
    let ha = Subscriber::start(broker.port, "homeassistant/#");
    let config = |object: &str, component: &str| -> Option<Value> {
        ha.on(&format!(
            "homeassistant/{component}/facestream_door/{object}/config"
        ))
        .pop()
    };
    assert!(
        wait_until(Duration::from_secs(20), || config("face", "image")
            .is_some()),
        "no discovery"
    );
    let device = json!({"identifiers": ["facestream_door"], "name": "facestream door", "manufacturer": "facestream", "model": "camera", "sw_version": env!("CARGO_PKG_VERSION")});
    for (component, object, topic_key) in [
        ("sensor", "last_person", "state_topic"),
        ("sensor", "faces", "state_topic"),
        ("binary_sensor", "face_present", "state_topic"),
        ("image", "face", "image_topic"),
    ] {
        let c = config(object, component).unwrap();
        assert_eq!(c["device"], device, "{c}");
        assert_eq!(c["availability_topic"], "fs/available");
        assert_eq!(c["unique_id"], format!("facestream_door_{object}"));
        assert_eq!(c[topic_key], format!("fs/door/ha/{object}"), "{c}");
        assert!(c["name"].as_str().is_some_and(|n| !n.is_empty()));
    }
    assert_eq!(config("face", "image").unwrap()["image_encoding"], "b64");
    assert_eq!(
        config("last_person", "sensor").unwrap()["json_attributes_topic"],
        "fs/door/ha/last_person/attributes"
    );
    // States: a face comes into view, then the latest face's picture.
    let states = Subscriber::start(broker.port, "fs/door/ha/#");
    assert!(wait_until(Duration::from_secs(60), || states
        .raw("fs/door/ha/face_present")
        .iter()
        .any(|s| s == "ON")));
    assert!(wait_until(Duration::from_secs(60), || states
        .raw("fs/door/ha/face_present")
        .iter()
        .any(|s| s == "OFF")));
    assert!(states.raw("fs/door/ha/faces").iter().any(|s| s == "1"));
    assert!(wait_until(Duration::from_secs(30), || !states
        .raw("fs/door/ha/face")
        .is_empty()));
    use base64::Engine;
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(states.raw("fs/door/ha/face")[0].trim())
        .unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    // Home Assistant restarts and announces itself: discovery comes again.
    let before = ha
        .raw("homeassistant/image/facestream_door/face/config")
        .len();
    common::services::publish(broker.port, "homeassistant/status", "online");
    assert!(wait_until(Duration::from_secs(10), || ha
        .raw("homeassistant/image/facestream_door/face/config")
        .len()
        > before));
    // The camera leaves the configuration: its entities are removed (empty retained configs).
    let cfg_path = dir.join("facestream.toml");
    let text = std::fs::read_to_string(&cfg_path).unwrap();
    // (A file with no camera at all is refused on reload unless it says `cameras = []`.)
    let without = format!(
        "{}[[cameras]]\nid = \"yard\"\nuri = \"{}\"\nloop = true\ndetect_fps = 1.0\n",
        &text[..text.find("[[cameras]]").unwrap()],
        video.display()
    );
    std::fs::write(&cfg_path, without).unwrap();
    Command::new("kill")
        .args(["-HUP", &d.child.id().to_string()])
        .status()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || ha
            .raw("homeassistant/image/facestream_door/face/config")
            .last()
            .is_some_and(String::is_empty)),
        "the removed camera's entities stay"
    );
    let fresh = Subscriber::start(broker.port, "homeassistant/#");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        fresh
            .messages
            .lock()
            .unwrap()
            .iter()
            .all(|(t, _)| !t.contains("facestream_door")),
        "retained configs are cleared"
    );
}
