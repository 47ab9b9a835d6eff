//! `/openapi.json`: every endpoint of the HTTP API, generated from one table.

use serde_json::{json, Map, Value};

const ENDPOINTS: &[(&str, &str, &str)] = &[
    ("/v2/{project_id}/face-detect", "post", "Detect faces (image_base64, image_file or image_url; attributes / NeedFaceAttributes, NeedQualityDetection)"),
    ("/v2/{project_id}/face-compare", "post", "Compare the largest faces of image1 and image2"),
    ("/v2/{project_id}/live-detect", "post", "Action liveness on video_base64 or video_url (actions, action_time, nod_threshold)"),
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

pub fn spec() -> Value {
    let mut paths = Map::new();
    for (op, summary) in BAIDU {
        paths.insert(
            format!("/rest/2.0/face/v3/{op}"),
            json!({"post": {
                "summary": summary,
                "security": [{"access_token": []}, {"token": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": if *op == "match" { "array" } else { "object" }}}}},
                "responses": {
                    "200": {"description": "Baidu envelope: error_code 0 with result, or a Baidu error code", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "401": {"description": "error_code 110: no key"}, "403": {"description": "error_code 110: wrong key"},
                    "413": {"description": "Body too large"}, "429": {"description": "error_code 18: rate limit"},
                    "503": {"description": "error_code 222901: busy"}
                }
            }}),
        );
    }
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
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
                "413": {"description": "Body too large"}, "503": {"$ref": "#/components/responses/Error"}
            }
        });
        if matches!(*method, "post" | "put") || path.ends_with("/batch") {
            op["requestBody"] = json!({"required": true, "content": {
                "application/json": {"schema": {"type": "object"}},
                // Uploads: image_file / image1_file / image2_file / video_file parts; other parts
                // are the JSON body's fields as text.
                "multipart/form-data": {"schema": {"type": "object"}}
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
        "info": {"title": "facestream FRS- and Baidu-compatible API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
                "access_token": {"type": "apiKey", "in": "query", "name": "access_token"}
            },
            "responses": {"Error": {"description": "FRS error", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"error_code": {"type": "string"}, "error_msg": {"type": "string"}}}}}}}
        }
    })
}
