//! `/openapi.json`: every endpoint of the HTTP API, generated from one table.

use serde_json::{json, Map, Value};

const ENDPOINTS: &[(&str, &str, &str)] = &[
    ("/v2/{project_id}/face-detect", "post", "Detect faces (image_base64 or image_url; attributes / NeedFaceAttributes, NeedQualityDetection)"),
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

pub fn spec() -> Value {
    let mut paths = Map::new();
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
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
        }
        paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|m| m.insert(method.to_string(), op));
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "facestream FRS-compatible API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}},
            "responses": {"Error": {"description": "FRS error", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"error_code": {"type": "string"}, "error_msg": {"type": "string"}}}}}}}
        }
    })
}
