//! The error codes of each API family, chosen from the domain's `ErrorKind` in one table per
//! family. Every table is a `match` without a catch-all: a new kind does not compile until each
//! family has decided its code. FRS codes are also facestream's own vocabulary — the CLI prints
//! them and MQTT liveness answers carry them — so the tables sit in the contracts layer, below
//! `publish` and `api`, and above every domain stage (which knows only kinds).
//!
//! docs/errors.md lists the codes; the tests below pin every table so a changed code is a
//! deliberate, visible edit.

pub mod baidu;
pub mod ctyun;
pub mod frs;
pub mod tencent;

pub use crate::base::error::{ErrorKind, Problem};

#[cfg(test)]
mod tests {
    use super::*;

    /// The table in docs/errors.md, as the four tables give it.
    fn markdown() -> String {
        let mut out = String::from(
            "| kind | class | FRS code | HTTP | Baidu | Tencent | CTyun |\n|---|---|---|---|---|---|---|\n",
        );
        for &k in ErrorKind::ALL {
            let f = frs::of(k);
            out += &format!(
                "| {k:?} | {:?} | {} | {} | {} | {} | {} |\n",
                k.class(),
                f.code,
                f.status,
                baidu::of(k),
                tencent::of(k),
                ctyun::of(k)
            );
        }
        out
    }

    /// Every code of every family is pinned by docs/errors.md: changing a mapping fails here
    /// until the documentation says so too.
    #[test]
    fn docs_list_every_mapping() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md"))
            .unwrap_or_default();
        let start = "<!-- codes table: start -->\n";
        let end = "<!-- codes table: end -->";
        let got = doc
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once(end))
            .map(|(t, _)| t)
            .unwrap_or_default();
        assert_eq!(
            got,
            markdown(),
            "docs/errors.md's table between the markers must be:\n{}",
            markdown()
        );
    }
}
