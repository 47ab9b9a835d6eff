//! Ingest: where pictures enter the pipeline (still images now; cameras and files in the daemon).
pub mod image;
