//! Self-signed certificates for 127.0.0.1 / localhost, written as PEM files for a test.

use std::path::{Path, PathBuf};

pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A fresh self-signed certificate (it is its own CA) valid for 127.0.0.1 and localhost.
pub fn self_signed(dir: &Path, name: &str) -> CertFiles {
    std::fs::create_dir_all(dir).unwrap();
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let files = CertFiles {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&files.cert, ck.cert.pem()).unwrap();
    std::fs::write(&files.key, ck.key_pair.serialize_pem()).unwrap();
    files
}
