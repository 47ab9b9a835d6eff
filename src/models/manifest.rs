//! `models/manifest.toml`: one entry per model (role, file, sha256, licence, origin, contract).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Detector,
    Embedder,
    EmbedderDlib,
    Landmarks,
    Mask,
    AgeGender,
    AntispoofV2,
    AntispoofV1se,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelEntry {
    pub role: Role,
    pub file: String,
    pub sha256: String,
    pub license: String,
    pub origin: String,
    pub input: String,
    pub output: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
    #[serde(skip)]
    path: PathBuf,
}

impl Manifest {
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join("manifest.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut m: Manifest = toml::from_str(&text).map_err(|e| ModelError::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        m.path = path;
        Ok(m)
    }

    pub fn entry(&self, role: Role) -> Result<&ModelEntry, ModelError> {
        self.models
            .iter()
            .find(|e| e.role == role)
            .ok_or_else(|| ModelError::Manifest {
                path: self.path.clone(),
                message: format!("no entry for role {role:?}"),
            })
    }
}

impl ModelEntry {
    pub fn verify(&self, path: &Path) -> Result<(), ModelError> {
        let got = sha256_file(path).map_err(|_| ModelError::Missing {
            path: path.to_path_buf(),
        })?;
        if got != self.sha256 {
            return Err(ModelError::Checksum {
                path: path.to_path_buf(),
                got,
                want: self.sha256.clone(),
            });
        }
        Ok(())
    }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
