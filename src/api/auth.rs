//! API authentication and limits: `X-Auth-Token` keys, AK/SK request signing in the seeds' HMAC-SHA256
//! style (with a date skew window and replay refusal), and a token bucket per key (429 + Retry-After).
//!
//! Replays (docs/api.md, "Signatures and replays"): a signature covers the method, path, query,
//! body and the signed headers, so re-sending it unchanged repeats the very same request. Two
//! identical legitimate requests in one second sign identically, so identical repeats are allowed
//! inside the window (as Huawei and Tencent do) unless the client signs a nonce header
//! (`x-sdk-nonce`), which makes each signature good once. What a signature does *not* cover may
//! not change: a TC3 signature that leaves `X-TC-Action` unsigned is bound to the action it was
//! first seen with, so a captured request cannot be re-aimed at another action.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Why a request is refused.
#[derive(Debug, PartialEq)]
pub enum AuthError {
    Missing,
    Invalid(String),
    Expired,
    Replayed,
    RateLimited { retry_after_s: u64 },
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

pub fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    hex(&m.finalize().into_bytes())
}

/// `YYYYMMDDTHHMMSSZ` → seconds since the Unix epoch.
pub fn parse_sdk_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(4..6)?,
        n(6..8)?,
        n(9..11)?,
        n(11..13)?,
        n(13..15)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400 + h * 3600 + mi * 60 + se)
}

/// The canonical request of the seeds' SDK-HMAC-SHA256 scheme.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    signed: &[String],
    body: &[u8],
) -> String {
    canonical_request_with(method, path, query, headers, signed, body, false)
}

/// As [`canonical_request`]; `lower_values` lower-cases the signed headers' values, as Tencent's
/// API 3.0 signature documentation does (`x-tc-action:creategroup`).
pub fn canonical_request_with(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    signed: &[String],
    body: &[u8],
    lower_values: bool,
) -> String {
    let mut path = path.to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    let mut q: Vec<&str> = query.split('&').filter(|s| !s.is_empty()).collect();
    q.sort_unstable();
    let canon_headers: String = signed
        .iter()
        .map(|name| {
            let v = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
                .unwrap_or("");
            if lower_values {
                format!("{}:{}\n", name.to_ascii_lowercase(), v.to_ascii_lowercase())
            } else {
                format!("{}:{}\n", name.to_ascii_lowercase(), v)
            }
        })
        .collect();
    format!(
        "{method}\n{path}\n{}\n{canon_headers}\n{}\n{}",
        q.join("&"),
        signed.join(";"),
        sha256_hex(body)
    )
}

pub fn string_to_sign(date: &str, canonical: &str) -> String {
    format!(
        "SDK-HMAC-SHA256\n{date}\n{}",
        sha256_hex(canonical.as_bytes())
    )
}

/// Parses `SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=…`.
pub fn parse_authorization(h: &str) -> Option<(String, Vec<String>, String)> {
    let rest = h.strip_prefix("SDK-HMAC-SHA256")?.trim();
    let (mut ak, mut sh, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Access" => ak = Some(v.to_string()),
            "SignedHeaders" => sh = Some(v.split(';').map(str::to_ascii_lowercase).collect()),
            "Signature" => sig = Some(v.to_string()),
            _ => {}
        }
    }
    Some((ak?, sh?, sig?))
}

fn hmac_raw(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// Equal without an early exit (signature comparison must not leak timing).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Tencent Cloud's TC3-HMAC-SHA256 `Authorization` header.
#[derive(Debug, PartialEq)]
pub struct Tc3 {
    pub secret_id: String,
    /// `YYYY-MM-DD` (UTC) of the request's timestamp.
    pub date: String,
    pub service: String,
    pub signed: Vec<String>,
    pub signature: String,
}

/// Parses `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b, Signature=…`.
pub fn parse_tc3(h: &str) -> Option<Tc3> {
    let rest = h.strip_prefix("TC3-HMAC-SHA256")?.trim();
    let (mut cred, mut sh, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => cred = Some(v.to_string()),
            "SignedHeaders" => sh = Some(v.split(';').map(str::to_ascii_lowercase).collect()),
            "Signature" => sig = Some(v.to_string()),
            _ => {}
        }
    }
    let cred = cred?;
    let mut c = cred.split('/');
    let (id, date, service, term) = (c.next()?, c.next()?, c.next()?, c.next()?);
    (term == "tc3_request" && c.next().is_none()).then(|| Tc3 {
        secret_id: id.into(),
        date: date.into(),
        service: service.into(),
        signed: sh.unwrap_or_default(),
        signature: sig.unwrap_or_default(),
    })
}

/// The TC3 signature of a canonical request (same canonical form as [`canonical_request`]).
pub fn tc3_signature(
    secret_key: &str,
    timestamp: i64,
    date: &str,
    service: &str,
    canonical: &str,
) -> String {
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let k_date = hmac_raw(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_raw(&k_date, service.as_bytes());
    let k_signing = hmac_raw(&k_service, b"tc3_request");
    hmac_hex(&k_signing, to_sign.as_bytes())
}

/// Signatures accepted recently (signature → what it is bound to), and in arrival order (unix s,
/// signature) to forget them.
type SeenSignatures = (HashMap<String, String>, VecDeque<(i64, String)>);

/// Signatures seen within the skew window and the per-key buckets.
pub struct Guard {
    pub skew_s: i64,
    pub rate_per_s: f64,
    pub burst: f64,
    seen: Mutex<SeenSignatures>,
    /// key → (tokens, when last filled on the API's clock)
    buckets: Mutex<HashMap<String, (f64, Duration)>>,
}

/// At most this many signatures are remembered (about 20 MB); older ones are forgotten first. A
/// forgotten one is still inside its date window only under a flood far over any rate limit.
const MAX_SEEN: usize = 100_000;

impl Guard {
    pub fn new(skew_s: i64, rate_per_s: f64, burst: f64) -> Self {
        Self {
            skew_s,
            rate_per_s,
            burst,
            seen: Mutex::new(Default::default()),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Checks the date window.
    pub fn in_window(&self, date_s: i64, now_s: i64) -> Result<(), AuthError> {
        if (now_s - date_s).abs() > self.skew_s {
            return Err(AuthError::Expired);
        }
        Ok(())
    }

    /// Checks the date window and refuses a signature seen before.
    pub fn fresh(&self, date_s: i64, now_s: i64, signature: &str) -> Result<(), AuthError> {
        self.in_window(date_s, now_s)?;
        let mut g = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.forget_old(&mut g, now_s);
        let (set, order) = &mut *g;
        if set.contains_key(signature) {
            return Err(AuthError::Replayed);
        }
        set.insert(signature.to_string(), String::new());
        order.push_back((date_s, signature.to_string()));
        Ok(())
    }

    /// Checks the date window and binds the signature to `binding` (what it does not cover, such
    /// as an unsigned action): the same signature with the same binding passes again, with another
    /// it is refused as a replay.
    pub fn bound(
        &self,
        date_s: i64,
        now_s: i64,
        signature: &str,
        binding: &str,
    ) -> Result<(), AuthError> {
        self.in_window(date_s, now_s)?;
        let mut g = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.forget_old(&mut g, now_s);
        let (set, order) = &mut *g;
        match set.get(signature) {
            Some(b) if b == binding => Ok(()),
            Some(_) => Err(AuthError::Replayed),
            None => {
                set.insert(signature.to_string(), binding.to_string());
                order.push_back((date_s, signature.to_string()));
                Ok(())
            }
        }
    }

    fn forget_old(&self, g: &mut SeenSignatures, now_s: i64) {
        let (set, order) = g;
        while order
            .front()
            .is_some_and(|(t, _)| *t < now_s - self.skew_s || order.len() > MAX_SEEN)
        {
            if let Some((_, s)) = order.pop_front() {
                set.remove(&s);
            }
        }
    }

    /// Takes one token from the key's bucket at `now` (the API's monotonic clock).
    pub fn admit(&self, key: &str, now: Duration) -> Result<(), AuthError> {
        if self.rate_per_s <= 0.0 {
            return Ok(());
        }
        let mut b = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = b.entry(key.to_string()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.saturating_sub(*last).as_secs_f64() * self.rate_per_s).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(AuthError::RateLimited {
                retry_after_s: ((1.0 - *tokens) / self.rate_per_s).ceil().max(1.0) as u64,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_signatures_replay_and_buckets() {
        assert_eq!(parse_sdk_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_sdk_date("20261122T063000Z"), Some(1_795_329_000));
        assert_eq!(parse_sdk_date("2026-11-22"), None);
        let c = canonical_request(
            "POST",
            "/v2/p/face-sets",
            "b=2&a=1",
            &[
                ("Host".into(), "x".into()),
                ("X-Sdk-Date".into(), "d".into()),
            ],
            &["host".into(), "x-sdk-date".into()],
            b"{}",
        );
        assert_eq!(
            c,
            format!(
                "POST\n/v2/p/face-sets/\na=1&b=2\nhost:x\nx-sdk-date:d\n\nhost;x-sdk-date\n{}",
                sha256_hex(b"{}")
            )
        );
        assert_eq!(
            parse_authorization(
                "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=ab"
            ),
            Some((
                "AK1".into(),
                vec!["host".into(), "x-sdk-date".into()],
                "ab".into()
            ))
        );
        let g = Guard::new(900, 2.0, 2.0);
        assert_eq!(g.fresh(1000, 1000, "s1"), Ok(()));
        assert_eq!(g.fresh(1000, 1001, "s1"), Err(AuthError::Replayed));
        assert_eq!(g.fresh(0, 1000, "s2"), Err(AuthError::Expired));
        assert_eq!(g.bound(1000, 1000, "t1", "getgrouplist"), Ok(()));
        assert_eq!(
            g.bound(1000, 1001, "t1", "getgrouplist"),
            Ok(()),
            "identical request"
        );
        assert_eq!(
            g.bound(1000, 1001, "t1", "deletegroup"),
            Err(AuthError::Replayed),
            "re-aimed at another action"
        );
        let t0 = Duration::from_secs(100);
        assert!(g.admit("k", t0).is_ok() && g.admit("k", t0).is_ok());
        assert!(matches!(
            g.admit("k", t0),
            Err(AuthError::RateLimited { retry_after_s: 1 })
        ));
        assert!(g.admit("other", t0).is_ok(), "buckets are per key");
        // 2 tokens per second: half a second later one more request passes, then none.
        let later = t0 + Duration::from_millis(500);
        assert!(g.admit("k", later).is_ok());
        assert!(g.admit("k", later).is_err());
        // A long pause refills only up to the burst.
        let much_later = later + Duration::from_secs(60);
        assert!(g.admit("k", much_later).is_ok() && g.admit("k", much_later).is_ok());
        assert!(g.admit("k", much_later).is_err());
    }

    #[test]
    fn tc3_header_and_signature() {
        let t = parse_tc3("TC3-HMAC-SHA256 Credential=AKIDx/2026-11-22/iai/tc3_request, SignedHeaders=content-type;host, Signature=ff").unwrap();
        assert_eq!(
            (t.secret_id.as_str(), t.date.as_str(), t.service.as_str()),
            ("AKIDx", "2026-11-22", "iai")
        );
        assert_eq!(t.signed, ["content-type", "host"]);
        assert!(
            parse_tc3("TC3-HMAC-SHA256 Credential=AKIDx/2026-11-22/iai/other, Signature=ff")
                .is_none()
        );
        // The chain HMAC("TC3"+key, date) → service → "tc3_request" → string to sign, computed by hand.
        let canonical = "POST\n/\n\nhost:x\n\nhost\n".to_string() + &sha256_hex(b"{}");
        let to_sign = format!(
            "TC3-HMAC-SHA256\n1700000000\n2023-11-14/iai/tc3_request\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let k = hmac_raw(
            &hmac_raw(&hmac_raw(b"TC3sk", b"2023-11-14"), b"iai"),
            b"tc3_request",
        );
        assert_eq!(
            tc3_signature("sk", 1_700_000_000, "2023-11-14", "iai", &canonical),
            hmac_hex(&k, to_sign.as_bytes())
        );
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
