//! A face's box in whole image pixels, as published (FRS's `bounding_box`) and stored.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct BoundingBox {
    pub top_left_x: i32,
    pub top_left_y: i32,
    pub width: i32,
    pub height: i32,
}
