//! `/openapi.json`: every endpoint of the HTTP API, generated from one table.

use schemars::gen::SchemaGenerator;
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::analyze::liveness::LivenessResult;
use crate::search::store::{FaceRecord, SetInfo};
use crate::search::SearchHit;
use crate::shapes::{CompareResult, FaceJson, LiveFaceResult};

const ENDPOINTS: &[(&str, &str, &str)] = &[
    ("/v2/{project_id}/face-detect", "post", "Detect faces (image_base64, image_file or image_url; attributes / NeedFaceAttributes, NeedQualityDetection)"),
    ("/v2/{project_id}/face-compare", "post", "Compare the largest faces of image1 and image2"),
    ("/v2/{project_id}/live-detect", "post", "Action liveness on video_base64 or video_url (actions, action_time, nod_threshold)"),
    ("/v2/{project_id}/live-detect-face", "post", "Silent liveness of the largest face in one photo (image_base64, image_file or image_url)"),
    ("/v1/{project_id}/live-detect", "post", "Action liveness, v1 path (as Huawei's SDKs call it)"),
    ("/v1/{project_id}/live-detect-face", "post", "Silent liveness, v1 path (as Huawei's SDKs call it)"),
    ("/v2/{project_id}/face-sets", "post", "Create a face set (face_set_name, face_set_capacity, external_fields)"),
    ("/v2/{project_id}/face-sets", "get", "List the tenant's face sets"),
    ("/v2/{project_id}/face-sets/{face_set_name}", "get", "Show a face set"),
    ("/v2/{project_id}/face-sets/{face_set_name}", "delete", "Delete a face set"),
    ("/v2/{project_id}/face-sets/{face_set_name}/faces", "post", "Add faces from an image (single, external_image_id, external_fields, user_id)"),
    ("/v2/{project_id}/face-sets/{face_set_name}/faces", "get", "List faces (offset, limit) or get one (face_id)"),
    ("/v2/{project_id}/face-sets/{face_set_name}/faces", "put", "Update a face (face_id, external_image_id, external_fields)"),
    ("/v2/{project_id}/face-sets/{face_set_name}/faces", "delete", "Delete faces by face_id, external_image_id or a custom field (query)"),
    ("/v2/{project_id}/face-sets/{face_set_name}/faces/batch", "delete", "Delete faces matching a filter"),
    ("/v2/{project_id}/face-sets/{face_set_name}/search", "post", "Search by image or face_id (top_n, threshold, filter, sort, return_fields)"),
];

/// Baidu Face API v3 operations under `/rest/2.0/face/v3/` (Baidu envelope, HTTP 200 for errors).
const BAIDU: &[(&str, &str)] = &[
    (
        "detect",
        "Detect faces (image, image_type BASE64|URL, face_field, max_face_num)",
    ),
    (
        "match",
        "Compare two images (body: a JSON array of two {image, image_type}); score 0..100",
    ),
    (
        "search",
        "1:N over group_id_list (max_user_num, match_threshold 0..100, user_id for 1:1)",
    ),
    (
        "multi-search",
        "M:N: every face of the image over group_id_list (max_face_num)",
    ),
    (
        "faceset/user/add",
        "Add the image's largest face to user_id in group_id (group created if absent)",
    ),
    (
        "faceset/user/update",
        "Replace a user's faces in a group with the image's largest face",
    ),
    (
        "faceset/user/get",
        "A user's info per group (group_id or @ALL)",
    ),
    (
        "faceset/user/copy",
        "Copy a user from src_group_id to dst_group_id",
    ),
    ("faceset/user/delete", "Delete a user from a group"),
    (
        "faceset/face/getlist",
        "A user's faces in a group (face_token, ctime)",
    ),
    ("faceset/face/delete", "Delete one face_token of a user"),
    ("faceset/group/add", "Create a group"),
    ("faceset/group/delete", "Delete a group"),
    ("faceset/group/getlist", "List groups (start, length)"),
    (
        "faceset/group/getusers",
        "List a group's users (start, length)",
    ),
];

/// An object schema from (field, JSON type) pairs; `required` names the mandatory ones.
fn object(fields: &[(&str, &str)], required: &[&str]) -> Value {
    let props: Map<String, Value> = fields
        .iter()
        .map(|(name, ty)| {
            let schema = match *ty {
                "array" => json!({"type": "array", "items": {}}),
                "file" => json!({"type": "string", "format": "binary"}),
                "fields" => json!({"type": "object", "additionalProperties": true}),
                t => json!({ "type": t }),
            };
            (name.to_string(), schema)
        })
        .collect();
    json!({"type": "object", "properties": props, "required": required})
}

const IMAGE: &[(&str, &str)] = &[("image_base64", "string"), ("image_url", "string")];

/// The documented body of an FRS operation (JSON; multipart adds `<prefix>_file` parts).
fn frs_body(path: &str, method: &str) -> Value {
    let with_image = |extra: &[(&str, &str)], required: &[&str]| {
        let f: Vec<(&str, &str)> = IMAGE.iter().chain(extra).copied().collect();
        object(&f, required)
    };
    match (path.rsplit('/').next().unwrap_or(""), method) {
        ("face-detect", _) => with_image(
            &[
                ("attributes", "string"),
                ("NeedFaceAttributes", "boolean"),
                ("NeedQualityDetection", "boolean"),
            ],
            &[],
        ),
        ("live-detect-face", _) => with_image(&[], &[]),
        ("face-compare", _) => object(
            &[
                ("image1_base64", "string"),
                ("image1_url", "string"),
                ("image2_base64", "string"),
                ("image2_url", "string"),
            ],
            &[],
        ),
        ("live-detect", _) => object(
            &[
                ("video_base64", "string"),
                ("video_url", "string"),
                ("actions", "string"),
                ("action_time", "string"),
                ("nod_threshold", "number"),
            ],
            &["actions"],
        ),
        ("face-sets", _) => object(
            &[
                ("face_set_name", "string"),
                ("face_set_capacity", "integer"),
                ("external_fields", "fields"),
            ],
            &["face_set_name"],
        ),
        ("faces", "post") => with_image(
            &[
                ("external_image_id", "string"),
                ("external_fields", "fields"),
                ("single", "boolean"),
                ("user_id", "string"),
            ],
            &[],
        ),
        ("faces", _) => object(
            &[
                ("face_id", "string"),
                ("external_image_id", "string"),
                ("external_fields", "fields"),
            ],
            &["face_id"],
        ),
        ("batch", _) => object(&[("filter", "string")], &["filter"]),
        ("search", _) => with_image(
            &[
                ("face_id", "string"),
                ("top_n", "integer"),
                ("threshold", "number"),
                ("filter", "string"),
                ("sort", "array"),
                ("return_fields", "array"),
            ],
            &[],
        ),
        _ => json!({"type": "object"}),
    }
}

/// A reference to `T`'s schema (derived from the type the handler serialises, so the spec follows
/// the code); the definition lands in `components/schemas`.
fn of<T: JsonSchema>(gen: &mut SchemaGenerator) -> Value {
    serde_json::to_value(gen.subschema_for::<T>()).unwrap_or(Value::Null)
}

/// An object whose listed properties are all present.
fn shape(props: &[(&str, Value)]) -> Value {
    let names: Vec<&str> = props.iter().map(|(n, _)| *n).collect();
    let map: Map<String, Value> = props
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    json!({"type": "object", "properties": map, "required": names})
}

fn list(item: Value) -> Value {
    json!({"type": "array", "items": item})
}

/// The 200 body of an FRS operation.
fn frs_response(path: &str, method: &str, gen: &mut SchemaGenerator) -> Value {
    let name = || json!({"type": "string"});
    let count = || json!({"type": "integer", "minimum": 0});
    match (path.rsplit('/').next().unwrap_or(""), method) {
        ("face-detect", _) => shape(&[("faces", list(of::<FaceJson>(gen)))]),
        ("face-compare", _) => of::<CompareResult>(gen),
        ("live-detect", _) => of::<LivenessResult>(gen),
        ("live-detect-face", _) => shape(&[("result", of::<LiveFaceResult>(gen))]),
        ("face-sets", "get") => shape(&[("face_sets_info", list(of::<SetInfo>(gen)))]),
        ("face-sets", _) | ("{face_set_name}", "get") => {
            shape(&[("face_set_info", of::<SetInfo>(gen))])
        }
        ("{face_set_name}", _) => shape(&[("face_set_name", name())]),
        ("faces", "post") => shape(&[
            ("face_set_name", name()),
            ("face_set_id", name()),
            ("faces", list(of::<FaceRecord>(gen))),
        ]),
        ("faces", "get") => shape(&[
            ("face_set_name", name()),
            ("faces", list(of::<FaceRecord>(gen))),
        ]),
        ("faces", _) | ("batch", _) => {
            shape(&[("face_number", count()), ("face_set_name", name())])
        }
        ("search", _) => shape(&[("faces", list(of::<SearchHit>(gen)))]),
        _ => json!({"type": "object"}),
    }
}

/// The multipart variant: the same fields as text parts plus the file parts.
fn multipart(json_body: &Value) -> Value {
    let mut m = json_body.clone();
    if let Some(props) = m["properties"].as_object_mut() {
        for f in ["image_file", "image1_file", "image2_file", "video_file"] {
            props.insert(f.into(), json!({"type": "string", "format": "binary"}));
        }
    }
    m
}

/// The documented body of a Baidu operation.
fn baidu_body(op: &str) -> Value {
    let image = [("image", "string"), ("image_type", "string")];
    let with = |extra: &[(&str, &str)], required: &[&str]| {
        let f: Vec<(&str, &str)> = image.iter().chain(extra).copied().collect();
        object(&f, required)
    };
    let search = [
        ("group_id_list", "string"),
        ("max_user_num", "integer"),
        ("match_threshold", "number"),
        ("user_id", "string"),
    ];
    match op {
        "match" => {
            json!({"type": "array", "minItems": 2, "maxItems": 2, "items": object(&image, &["image"])})
        }
        "detect" => with(
            &[("face_field", "string"), ("max_face_num", "integer")],
            &["image"],
        ),
        "search" => with(&search, &["image", "group_id_list"]),
        "multi-search" => with(
            &[search[0], search[1], search[2], ("max_face_num", "integer")],
            &["image", "group_id_list"],
        ),
        "faceset/user/add" | "faceset/user/update" => with(
            &[
                ("group_id", "string"),
                ("user_id", "string"),
                ("user_info", "string"),
            ],
            &["image", "group_id", "user_id"],
        ),
        "faceset/user/copy" => object(
            &[
                ("user_id", "string"),
                ("src_group_id", "string"),
                ("dst_group_id", "string"),
            ],
            &["user_id", "src_group_id", "dst_group_id"],
        ),
        "faceset/face/delete" => object(
            &[
                ("group_id", "string"),
                ("user_id", "string"),
                ("face_token", "string"),
            ],
            &["group_id", "user_id", "face_token"],
        ),
        "faceset/user/get" | "faceset/user/delete" | "faceset/face/getlist" => object(
            &[("group_id", "string"), ("user_id", "string")],
            &["group_id", "user_id"],
        ),
        "faceset/group/getlist" => object(&[("start", "integer"), ("length", "integer")], &[]),
        "faceset/group/getusers" => object(
            &[
                ("group_id", "string"),
                ("start", "integer"),
                ("length", "integer"),
            ],
            &["group_id"],
        ),
        _ => object(&[("group_id", "string")], &["group_id"]),
    }
}

pub fn spec() -> Value {
    let mut gen = schemars::gen::SchemaSettings::openapi3().into_generator();
    let mut paths = Map::new();
    for (op, summary) in BAIDU {
        paths.insert(
            format!("/rest/2.0/face/v3/{op}"),
            json!({"post": {
                "summary": summary,
                "security": [{"access_token": []}, {"token": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": baidu_body(op)}}},
                "responses": {
                    "200": {"description": "Baidu envelope: error_code 0 with result, or a Baidu error code", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "401": {"description": "error_code 110: no key"}, "403": {"description": "error_code 110: wrong key"},
                    "413": {"description": "Body too large"}, "429": {"description": "error_code 18: rate limit"},
                    "503": {"description": "error_code 222901: busy"}
                }
            }}),
        );
    }
    paths.insert(
        "/".into(),
        json!({"post": {
            "summary": "Tencent Cloud IAI (API 3.0) action named by X-TC-Action; TC3-HMAC-SHA256 or X-Auth-Token",
            "security": [{"token": []}],
            "parameters": [{"name": "X-TC-Action", "in": "header", "required": true, "schema": {"type": "string",
                "enum": super::tencent::ACTIONS}}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": object(&[
                ("Image", "string"), ("Url", "string"), ("ImageA", "string"), ("ImageB", "string"),
                ("MaxFaceNum", "integer"), ("NeedFaceAttributes", "integer"), ("NeedQualityDetection", "integer"),
                ("GroupId", "string"), ("GroupName", "string"), ("GroupIds", "array"), ("PersonId", "string"),
                ("PersonName", "string"), ("MaxPersonNum", "integer"), ("FaceMatchThreshold", "number"),
                ("Offset", "integer"), ("Limit", "integer"), ("Images", "array"), ("Urls", "array"),
                ("FaceIds", "array")], &[])}}},
            "responses": {
                "200": {"description": "Tencent envelope: {\"Response\": {…, \"RequestId\"}} or Response.Error.{Code, Message}"},
                "401": {"description": "AuthFailure: no credentials"}, "403": {"description": "AuthFailure: bad signature, unknown SecretId, expired"},
                "413": {"description": "Body too large"}, "429": {"description": "RequestLimitExceeded"}
            }
        }}),
    );
    for (path, method, summary) in ENDPOINTS {
        let mut params = vec![
            json!({"name": "project_id", "in": "path", "required": true, "schema": {"type": "string"}}),
        ];
        if path.contains("{face_set_name}") {
            params.push(json!({"name": "face_set_name", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}));
        }
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "security": [{"token": []}],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": frs_response(path, method, &mut gen)}}},
                "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
                "413": {"description": "Body too large"}, "503": {"$ref": "#/components/responses/Error"}
            }
        });
        if path.ends_with("/faces") && matches!(*method, "get" | "delete") {
            if let Some(p) = op["parameters"].as_array_mut() {
                for (name, ty) in [
                    ("offset", "integer"),
                    ("limit", "integer"),
                    ("face_id", "string"),
                    ("external_image_id", "string"),
                ] {
                    if *method == "get" || !matches!(name, "offset" | "limit") {
                        p.push(json!({"name": name, "in": "query", "required": false, "schema": {"type": ty}}));
                    }
                }
            }
        }
        if matches!(*method, "post" | "put") || path.ends_with("/batch") {
            let body = frs_body(path, method);
            op["requestBody"] = json!({"required": true, "content": {
                "application/json": {"schema": body},
                // Uploads: image_file / image1_file / image2_file / video_file parts; other parts
                // are the JSON body's fields as text.
                "multipart/form-data": {"schema": multipart(&body)}
            }});
        }
        paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|m| m.insert(method.to_string(), op));
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "facestream FRS-, Baidu- and Tencent-compatible API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
                "access_token": {"type": "apiKey", "in": "query", "name": "access_token"}
            },
            "responses": {"Error": {"description": "FRS error", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"error_code": {"type": "string"}, "error_msg": {"type": "string"}},
                "required": ["error_code", "error_msg"]}}}}},
            "schemas": gen.definitions()
        }
    })
}
