//! ONNX Runtime sessions. One [`ModelSession`] per model and inference thread (`run` needs `&mut`).
//! The runtime library is loaded with `ort::init_from`, so a missing or too-old library is an error.

pub mod manifest;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ndarray::{ArrayD, IxDyn};
use ort::session::Session;
use ort::value::Tensor;

pub use manifest::{Manifest, ModelEntry, Role};

/// Where the set-up script puts the ONNX Runtime library.
pub const DEFAULT_ORT_PATH: &str = "/opt/onnxruntime/onnxruntime/capi/libonnxruntime.so.1.31.1";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("ONNX Runtime library not usable at {path}: {message} (run scripts/setup.sh, or set ORT_DYLIB_PATH or models.onnxruntime)")]
    Runtime { path: PathBuf, message: String },
    #[error(
        "model file {path} not found (run scripts/fetch-models.sh; origin in models/manifest.toml)"
    )]
    Missing { path: PathBuf },
    #[error("model file {path}: sha256 {got} does not match the manifest's {want}")]
    Checksum {
        path: PathBuf,
        got: String,
        want: String,
    },
    #[error("model manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("cannot load model {path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error("inference with {model} failed: {message}")]
    Run { model: String, message: String },
    #[error("model {model} returned an unexpected output: {message}")]
    Output { model: String, message: String },
}

static RUNTIME: OnceLock<Result<ort::environment::Environment, (PathBuf, String)>> =
    OnceLock::new();

/// Resolves the ONNX Runtime library path: explicit setting, then `ORT_DYLIB_PATH`, then the set-up location.
pub fn runtime_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return PathBuf::from(p);
    }
    PathBuf::from(DEFAULT_ORT_PATH)
}

/// Loads ONNX Runtime once per process. Later calls return the first outcome.
pub fn runtime(explicit: Option<&Path>) -> Result<ort::environment::Environment, ModelError> {
    let res = RUNTIME.get_or_init(|| {
        let path = runtime_path(explicit);
        if !path.is_file() {
            return Err((path, "file does not exist".into()));
        }
        // Its telemetry events off too (the binary sets ORT_DISABLE_TELEMETRY at start, which
        // alone keeps the client from starting: main.rs).
        let built = ort::init_from(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                b.with_name("facestream")
                    .with_telemetry(false)
                    .build()
                    .map_err(|e| e.to_string())
            });
        built.map_err(|m| (path, m))
    });
    match res {
        Ok(env) => Ok(env.clone()),
        Err((path, message)) => Err(ModelError::Runtime {
            path: path.clone(),
            message: message.clone(),
        }),
    }
}

/// Settings shared by every session this process opens.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub models_dir: PathBuf,
    pub onnxruntime: Option<PathBuf>,
    pub intra_threads: usize,
    pub verify_sha256: bool,
    /// Use a model's rewritten graph (`<name>.fast.onnx`) when one lies beside it.
    pub fast_graphs: bool,
    /// Use the age/gender model's int8 graph (`<name>.int8.onnx`) when it lies beside it.
    pub int8_age_gender: bool,
    /// Use the mask model's int8 graph when it lies beside it.
    pub int8_mask: bool,
}

impl SessionSettings {
    pub fn from_config(cfg: &crate::config::ModelsConfig) -> Self {
        Self {
            models_dir: cfg.dir.clone(),
            onnxruntime: cfg.onnxruntime.clone(),
            intra_threads: cfg.intra_threads,
            verify_sha256: cfg.verify_sha256,
            fast_graphs: cfg.fast_graphs,
            int8_age_gender: cfg.int8_age_gender,
            int8_mask: cfg.int8_mask,
        }
    }
}

/// The file name of `file`'s rewritten graph (`x.onnx` -> `x.fast.onnx`); which models have one
/// is scripts/optimize-models.py's choice.
pub fn fast_graph(file: &str) -> Option<String> {
    file.strip_suffix(".onnx")
        .map(|stem| format!("{stem}.fast.onnx"))
}

/// The file name of `file`'s int8 graph (`x.onnx` -> `x.int8.onnx`), written by
/// scripts/quantize-models.sh for the age/gender and mask models.
pub fn int8_graph(file: &str) -> Option<String> {
    file.strip_suffix(".onnx")
        .map(|stem| format!("{stem}.int8.onnx"))
}

/// A model opened on a thread of its own (`std::thread::scope`): opening a session is mostly one
/// core's work, so models opened side by side start in the time of the slowest, not of their sum.
/// A panic there is that model's load error.
pub fn opened_beside<T>(
    opened: std::thread::Result<Result<T, ModelError>>,
    settings: &SessionSettings,
    what: &str,
) -> Result<T, ModelError> {
    opened.unwrap_or_else(|_| {
        Err(ModelError::Load {
            path: settings.models_dir.clone(),
            message: format!("opening the {what} model panicked"),
        })
    })
}

/// The result of a model run on a thread of its own (`std::thread::scope`), a panic as an error.
pub fn joined<T>(
    run: std::thread::Result<Result<T, ModelError>>,
    model: &str,
) -> Result<T, ModelError> {
    run.unwrap_or_else(|_| {
        Err(ModelError::Output {
            model: model.into(),
            message: "the run panicked".into(),
        })
    })
}

/// The graphs derived from a model that `settings` lets `role` run, preferred first.
fn derived_graphs(settings: &SessionSettings, role: Role, file: &str) -> Vec<String> {
    let int8 = match role {
        Role::AgeGender => settings.int8_age_gender,
        Role::Mask => settings.int8_mask,
        _ => false,
    };
    [
        int8.then(|| int8_graph(file)).flatten(),
        settings.fast_graphs.then(|| fast_graph(file)).flatten(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

thread_local! {
    static OPENED_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One ONNX session for one model role.
pub struct ModelSession {
    name: String,
    session: Session,
    /// Time spent inside ONNX Runtime's `run` (for the wrapper-overhead benchmark).
    run_time: std::time::Duration,
}

impl ModelSession {
    pub fn open(settings: &SessionSettings, role: Role) -> Result<Self, ModelError> {
        let (path, name) = Self::graph(settings, role)?;
        Self::open_graph(settings, path, name)
    }

    /// The graph `open` would run for `role` under `settings` (its path and file name), checked
    /// but not loaded: a caller that needs two variants of one model can tell whether they are
    /// the same file before paying for a second session.
    pub fn graph(settings: &SessionSettings, role: Role) -> Result<(PathBuf, String), ModelError> {
        let manifest = Manifest::load(&settings.models_dir)?;
        let entry = manifest.entry(role)?;
        let path = settings.models_dir.join(&entry.file);
        if !path.is_file() {
            return Err(ModelError::Missing { path });
        }
        if settings.verify_sha256 {
            entry.verify(&path)?;
        }
        // A graph derived from the model: the same arithmetic ONNX Runtime runs faster
        // (scripts/optimize-models.py), or int8 weights and activations (scripts/quantize-models.sh).
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let shipped = modified(&path);
        let mut chosen = (path.clone(), entry.file.clone());
        for derived in derived_graphs(settings, role, &entry.file) {
            let derived_path = settings.models_dir.join(&derived);
            match (modified(&derived_path), shipped) {
                (Some(d), Some(o)) if d >= o => {
                    chosen = (derived_path, derived);
                    break;
                }
                // Derived from an earlier copy of the model: not what the model is now.
                (Some(_), _) => tracing::warn!(
                    model = %entry.file,
                    graph = %derived,
                    "a graph derived from it is older than the model and is not run (scripts/setup.sh writes the rewritten graphs again, scripts/quantize-models.sh the int8 one)"
                ),
                _ => {}
            }
        }
        Ok(chosen)
    }

    /// Opens a graph `graph` resolved, without resolving it again.
    pub fn open_graph(
        settings: &SessionSettings,
        path: PathBuf,
        name: String,
    ) -> Result<Self, ModelError> {
        OPENED_HERE.with(|n| n.set(n.get() + 1));
        let env = runtime(settings.onnxruntime.as_deref())?;
        let load = |m: String| ModelError::Load {
            path: path.clone(),
            message: m,
        };
        let session = Session::builder(&env)
            .map_err(|e| load(e.to_string()))?
            .with_intra_threads(settings.intra_threads)
            .map_err(|e| load(e.to_string()))?
            .with_intra_op_spinning(false)
            .map_err(|e| load(e.to_string()))?
            .with_inter_op_spinning(false)
            .map_err(|e| load(e.to_string()))?
            .commit_from_file(&path)
            .map_err(|e| load(e.to_string()))?;
        Ok(Self {
            name,
            session,
            run_time: Default::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many sessions this thread has opened (a session costs 0.1–0.3 s and its weights'
    /// memory: start-up accounting, and the tests that hold it to one per graph).
    pub fn opened_on_this_thread() -> usize {
        OPENED_HERE.with(std::cell::Cell::get)
    }

    /// The dimensions of the first input as the graph declares them (-1: any size).
    pub fn input_dims(&self) -> Vec<i64> {
        self.session
            .inputs()
            .first()
            .and_then(|i| i.dtype().tensor_shape())
            .map(|s| s.to_vec())
            .unwrap_or_default()
    }

    /// Total time spent in ONNX Runtime's `run` since the session opened.
    pub fn run_time(&self) -> std::time::Duration {
        self.run_time
    }

    /// Runs the model on one input tensor and returns the named outputs as owned arrays.
    pub fn run(
        &mut self,
        input: ArrayD<f32>,
        outputs: &[&str],
    ) -> Result<Vec<ArrayD<f32>>, ModelError> {
        let run_err = |m: String| ModelError::Run {
            model: self.name.clone(),
            message: m,
        };
        let tensor = Tensor::from_array(input).map_err(|e| run_err(e.to_string()))?;
        let started = std::time::Instant::now();
        let result = self
            .session
            .run(ort::inputs![tensor])
            .map_err(|e| run_err(e.to_string()))?;
        self.run_time += started.elapsed();
        let mut out = Vec::with_capacity(outputs.len());
        for name in outputs {
            let value = result.get(*name).ok_or_else(|| ModelError::Output {
                model: self.name.clone(),
                message: format!("no output named {name}"),
            })?;
            let view = value
                .try_extract_array::<f32>()
                .map_err(|e| ModelError::Output {
                    model: self.name.clone(),
                    message: format!("{name}: {e}"),
                })?;
            out.push(view.to_owned());
        }
        Ok(out)
    }
}

/// Builds an NHWC or NCHW batch tensor from per-image planes already laid out contiguously.
pub fn batch_tensor(
    shape_per_item: &[usize],
    items: Vec<Vec<f32>>,
) -> Result<ArrayD<f32>, ModelError> {
    let n = items.len();
    let mut shape = vec![n];
    shape.extend_from_slice(shape_per_item);
    let per: usize = shape_per_item.iter().product();
    if let Some(it) = items.iter().find(|it| it.len() != per) {
        return Err(ModelError::Run {
            model: "batch".into(),
            message: format!("item has {} values, want {per}", it.len()),
        });
    }
    // Most runs read one face: its values are the batch as they are (a 224-px face is 0.6 MB,
    // copied for nothing before).
    let data = match <[Vec<f32>; 1]>::try_from(items) {
        Ok([one]) => one,
        Err(items) => items.concat(),
    };
    ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| ModelError::Run {
        model: "batch".into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_its_items_in_order_and_a_wrong_sized_item_is_refused() {
        let one = batch_tensor(&[2, 3], vec![(0..6).map(|v| v as f32).collect()]).unwrap();
        assert_eq!(one.shape(), &[1, 2, 3]);
        assert_eq!(
            one.iter().copied().collect::<Vec<_>>(),
            (0..6).map(|v| v as f32).collect::<Vec<_>>()
        );
        let two = batch_tensor(&[3], vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]).unwrap();
        assert_eq!(two.shape(), &[2, 3]);
        assert_eq!(
            two.iter().copied().collect::<Vec<_>>(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        let none = batch_tensor(&[3], vec![]).unwrap();
        assert_eq!(none.shape(), &[0, 3]);
        for bad in [vec![vec![1.0, 2.0]], vec![vec![1.0, 2.0, 3.0], vec![4.0]]] {
            let e = batch_tensor(&[3], bad).unwrap_err().to_string();
            assert!(e.contains("want 3"), "{e}");
        }
    }
}
