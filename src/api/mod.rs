//! The HTTP API: the clouds' request and response families (FRS, Baidu, Tencent, China Telecom),
//! their signing, bodies and error codes, over the JSON shapes of `crate::shapes`.

pub mod auth;
pub mod baidu;
pub mod body;
pub mod cameras;
pub mod console;
pub mod ctyun;
pub mod error;
pub mod events;
pub mod frs;
pub mod http;
pub mod openapi;
pub mod state;
pub mod tencent;
