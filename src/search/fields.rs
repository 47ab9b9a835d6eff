//! Typed `external_fields`: the schema a face set declares and the values each face carries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::SetError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Integer,
    Long,
    Float,
    Double,
    Boolean,
}

impl FieldType {
    pub fn parse(field: &str, s: &str) -> Result<Self, SetError> {
        Ok(match s {
            "string" => FieldType::String,
            "integer" => FieldType::Integer,
            "long" => FieldType::Long,
            "float" => FieldType::Float,
            "double" => FieldType::Double,
            "boolean" => FieldType::Boolean,
            _ => {
                return Err(SetError::BadFieldType {
                    field: field.into(),
                    ty: s.into(),
                })
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Long => "long",
            FieldType::Float => "float",
            FieldType::Double => "double",
            FieldType::Boolean => "boolean",
        }
    }

    pub fn numeric(self) -> bool {
        !matches!(self, FieldType::String | FieldType::Boolean)
    }
}

/// Names a custom field may not take: they are the record's own fields.
pub const RESERVED: &[&str] = &[
    "face_id",
    "external_image_id",
    "bounding_box",
    "vector",
    "similarity",
    "external_fields",
    "user_id",
    "set_name",
    "face_set_name",
    "create_time",
    "timestamp",
];

pub type Schema = BTreeMap<String, FieldType>;

pub fn validate_schema(schema: &Schema) -> Result<(), SetError> {
    for name in schema.keys() {
        if RESERVED.contains(&name.as_str()) {
            return Err(SetError::ReservedField(name.clone()));
        }
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(SetError::BadParameter {
                name: "external_fields",
                message: format!("field name {name:?}: 1-64 letters, digits, - or _"),
            });
        }
    }
    Ok(())
}

/// The longest string field value stored with a face (bytes).
pub const MAX_STRING_FIELD_BYTES: usize = 1024;

/// Checks a face's fields against the schema; integers must fit their type, strings
/// [`MAX_STRING_FIELD_BYTES`].
pub fn check_values(
    schema: &Schema,
    values: &serde_json::Map<String, Value>,
) -> Result<(), SetError> {
    for (k, v) in values {
        let ty = schema
            .get(k)
            .ok_or_else(|| SetError::FieldUndefined(k.clone()))?;
        let ok = match ty {
            FieldType::String => v.is_string(),
            FieldType::Integer => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            FieldType::Long => v.is_i64() || v.is_u64() && v.as_i64().is_some(),
            FieldType::Float | FieldType::Double => v.is_number(),
            FieldType::Boolean => v.is_boolean(),
        };
        if !ok {
            let mut got = v.to_string();
            if got.len() > 64 {
                let cut = (0..=61)
                    .rev()
                    .find(|&i| got.is_char_boundary(i))
                    .unwrap_or(0);
                got.truncate(cut);
                got.push_str("...");
            }
            return Err(SetError::FieldType {
                field: k.clone(),
                expected: ty.name(),
                got,
            });
        }
        if let Some(text) = v.as_str().filter(|t| t.len() > MAX_STRING_FIELD_BYTES) {
            return Err(SetError::BadParameter {
                name: "external_fields",
                message: format!(
                    "field {k:?} is {} bytes; at most {MAX_STRING_FIELD_BYTES}",
                    text.len()
                ),
            });
        }
    }
    Ok(())
}
