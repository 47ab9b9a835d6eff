//! Tencent groups, persons and their faces over the face-set model, and search within groups.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{
    embedding, faces_of, group, id, image, int, missing, rect, text, Reply, TcError, MODEL,
};
use crate::analyze::Wanted;
use crate::api::body::Form;
use crate::api::state::ApiState;
use crate::search::fields::Schema;
use crate::search::store::Selector;
use crate::search::Enrolment;

pub fn create_group(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let g = group(body, tenant, "GroupId")?;
    text(body, "GroupName")?;
    st.sets
        .create_set(&g, 1_000_000, Schema::new(), st.cfg.models.embedder)?;
    Ok(json!({"FaceModelVersion": MODEL}))
}

pub fn delete_group(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    st.sets.delete_set(&group(body, tenant, "GroupId")?)?;
    Ok(json!({}))
}

pub fn group_list(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let offset = int(body, "Offset", 0, (0, 100_000))? as usize;
    let limit = int(body, "Limit", 10, (1, 1000))? as usize;
    let prefix = format!("{tenant}--");
    let all: Vec<_> = st
        .sets
        .list_sets()?
        .into_iter()
        .filter_map(|s| s.face_set_name.strip_prefix(&prefix).map(String::from))
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|g| json!({"GroupId": g, "GroupName": g, "FaceModelVersion": MODEL}))
        .collect();
    Ok(json!({"GroupInfos": page, "GroupNum": all.len()}))
}

pub async fn create_person(st: &Arc<ApiState>, body: &Form, tenant: &str) -> Reply {
    let g = group(body, tenant, "GroupId")?;
    let pid = id(body, "PersonId")?.to_string();
    let name = text(body, "PersonName")?.to_string();
    st.sets.show_set(&g)?;
    // Tencent person ids are unique in the account: CopyPerson puts a person in more groups.
    if !groups_of(st, tenant, &pid)?.is_empty() {
        return Err(TcError(
            "InvalidParameterValue.PersonIdAlreadyExist",
            format!("person {pid} already exists (CopyPerson adds it to another group)"),
        ));
    }
    let want = Wanted {
        embedding: true,
        picture: st.sets.keeps_face_pictures(),
        ..Wanted::default()
    };
    let f = faces_of(st, image(st, body, "").await?, want, 1)
        .await?
        .2
        .remove(0);
    let r = rect(&f);
    let enrolment = Enrolment::analysed(&f, embedding(&f)?);
    let face = new_face_id();
    st.sets
        .add_faces(&g, vec![enrolment], Some(&face), &Map::new(), Some(&pid))?;
    st.sets.set_user_info(&g, &pid, &name)?;
    Ok(json!({"FaceId": face, "FaceRect": r, "SimilarPersonId": "", "FaceModelVersion": MODEL}))
}

/// The tenant's groups a person is in (scoped names), possibly none.
fn groups_of(st: &ApiState, tenant: &str, pid: &str) -> Result<Vec<String>, TcError> {
    let prefix = format!("{tenant}--");
    Ok(st
        .sets
        .user_groups(pid)?
        .into_iter()
        .filter(|g| g.starts_with(&prefix))
        .collect())
}

/// The tenant's groups a person is in; an error when none.
fn person_groups(st: &ApiState, tenant: &str, pid: &str) -> Result<Vec<String>, TcError> {
    let groups = groups_of(st, tenant, pid)?;
    if groups.is_empty() {
        return Err(TcError(
            "InvalidParameterValue.PersonIdNotExist",
            format!("person {pid} not found"),
        ));
    }
    Ok(groups)
}

/// A group's id as the tenant knows it.
fn tenant_group<'a>(tenant: &str, scoped: &'a str) -> &'a str {
    scoped
        .strip_prefix(&format!("{tenant}--"))
        .unwrap_or(scoped)
}

/// A person's Tencent face ids in `group`, oldest first: the faces' external image ids, which the
/// copies of a face in each of the person's groups share (face-set face ids differ per group).
fn face_ids(st: &ApiState, group: &str, pid: &str) -> Result<Vec<(String, String)>, TcError> {
    st.sets
        .user_faces(group, pid)?
        .into_iter()
        .map(|(face_id, _)| {
            let eid = st.sets.face(group, &face_id)?.external_image_id;
            Ok((eid, face_id))
        })
        .collect()
}

fn tencent_face_ids(st: &ApiState, group: &str, pid: &str) -> Result<Vec<String>, TcError> {
    Ok(face_ids(st, group, pid)?
        .into_iter()
        .map(|(e, _)| e)
        .collect())
}

/// A list parameter of strings (`GroupIds`, `FaceIds`, …) with 1..=max entries.
fn strings<'a>(body: &'a Form, name: &str, max: usize) -> Result<Vec<&'a str>, TcError> {
    let list = body
        .get(name)
        .and_then(|v| v.as_array())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| missing(&format!("{name} (1-{max} entries)")))?;
    if list.len() > max {
        return Err(TcError(
            "InvalidParameterValue.LimitExceed",
            format!("{name}: at most {max} entries"),
        ));
    }
    list.iter()
        .map(|v| {
            v.as_str().ok_or_else(|| {
                TcError(
                    "InvalidParameterValue",
                    format!("{name}: entries are strings"),
                )
            })
        })
        .collect()
}

/// Tencent keeps at most five faces per person.
const FACES_PER_PERSON: usize = 5;

/// Removes a person from every group of the tenant.
pub fn delete_person(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let pid = id(body, "PersonId")?;
    for g in person_groups(st, tenant, pid)? {
        st.sets.delete_faces(&g, Selector::User(pid.into()))?;
    }
    Ok(json!({}))
}

pub async fn search(st: &Arc<ApiState>, body: &Form, tenant: &str) -> Reply {
    let ids = body
        .get("GroupIds")
        .and_then(|v| v.as_array())
        .filter(|a| !a.is_empty() && a.len() <= 100)
        .ok_or_else(|| missing("GroupIds (1-100)"))?;
    let groups: Vec<String> = ids
        .iter()
        .map(|g| {
            let mut m = Map::new();
            m.insert("GroupId".into(), g.clone());
            group(&Form::from_map(m), tenant, "GroupId")
        })
        .collect::<Result<_, _>>()?;
    let max_faces = int(body, "MaxFaceNum", 1, (1, 10))? as usize;
    let max_persons = int(body, "MaxPersonNum", 5, (1, 100))? as usize;
    let default = (st.cfg.compare.threshold_for(st.cfg.models.embedder) * 100.0) as i64;
    let threshold = body
        .get("FaceMatchThreshold")
        .map(|v| v.as_f64().filter(|t| (0.0..=100.0).contains(t)))
        .unwrap_or(Some(default as f64))
        .ok_or_else(|| TcError("InvalidParameterValue", "FaceMatchThreshold: 0-100".into()))?;
    let want = Wanted {
        embedding: true,
        ..Wanted::default()
    };
    let (_, _, faces) = faces_of(st, image(st, body, "").await?, want, max_faces).await?;
    let prefix = format!("{tenant}--");
    let mut results = vec![];
    for f in faces {
        let r = rect(&f);
        let Some(e) = f.embedding else { continue };
        // A person is one candidate, whatever the number of their groups (hits come per group,
        // best first): ask for enough hits to fill the list after merging.
        let wanted = max_persons.saturating_mul(groups.len()).min(10_000);
        let hits = st
            .sets
            .identify(&groups, &e, threshold as f32 / 100.0, wanted)?;
        let mut candidates: Vec<Value> = vec![];
        for h in hits {
            let gid = json!({"GroupId": h.group_id.strip_prefix(&prefix).unwrap_or(&h.group_id)});
            let known = candidates
                .iter()
                .position(|c| c["PersonId"] == h.user_id.as_str());
            match known {
                Some(i) => {
                    if let Some(g) = candidates[i]["PersonGroupInfos"].as_array_mut() {
                        g.push(gid);
                    }
                }
                None if candidates.len() < max_persons => candidates.push(
                    json!({"PersonId": h.user_id, "FaceId": "", "Score": (h.score * 10000.0).round() / 100.0,
                        "PersonName": h.user_info, "PersonGroupInfos": [gid]}),
                ),
                None => {}
            }
        }
        results.push(json!({"Candidates": candidates, "FaceRect": r, "RetCode": 0}));
    }
    // SearchPersons answers the same: candidates are persons either way (their best face).
    let persons: usize = results
        .iter()
        .map(|r| r["Candidates"].as_array().map_or(0, Vec::len))
        .sum();
    Ok(
        json!({"Results": results, "FaceNum": results.len(), "PersonNum": persons,
        "FaceModelVersion": MODEL}),
    )
}

/// 1:1 against a person's faces in any of the tenant's groups.
pub async fn verify(st: &Arc<ApiState>, body: &Form, tenant: &str) -> Reply {
    let pid = id(body, "PersonId")?.to_string();
    let groups = person_groups(st, tenant, &pid)?;
    let want = Wanted {
        embedding: true,
        ..Wanted::default()
    };
    let e = embedding(
        &faces_of(st, image(st, body, "").await?, want, 1)
            .await?
            .2
            .remove(0),
    )?;
    let score = st
        .sets
        .identify(&groups, &e, 0.0, 1000)?
        .into_iter()
        .filter(|h| h.user_id == pid)
        .map(|h| h.score)
        .fold(0.0, f64::max);
    let threshold = st.cfg.compare.threshold_for(st.cfg.models.embedder) as f64;
    Ok(
        json!({"Score": (score * 10000.0).round() / 100.0, "IsMatch": score >= threshold, "FaceModelVersion": MODEL}),
    )
}

/// A Tencent face id: 19 decimal digits, like Tencent's.
fn new_face_id() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 9_000_000_000_000_000_000;
    (1_000_000_000_000_000_000 + n).to_string()
}

pub fn group_info(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let g = group(body, tenant, "GroupId")?;
    let info = st.sets.show_set(&g)?;
    let gid = tenant_group(tenant, &g);
    Ok(
        json!({"GroupId": gid, "GroupName": gid, "GroupExDescriptions": [], "Tag": "",
        "FaceModelVersion": MODEL, "CreationTimestamp": info.create_time_ms}),
    )
}

/// The persons of one group, a page at a time, with their face ids.
pub fn person_list(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let g = group(body, tenant, "GroupId")?;
    let offset = int(body, "Offset", 0, (0, 100_000))? as usize;
    let limit = int(body, "Limit", 10, (1, 1000))? as usize;
    let info = st.sets.show_set(&g)?;
    let people = st.sets.group_users(&g, offset, limit)?;
    let persons: Vec<Value> = people
        .iter()
        .map(|pid| {
            let faces = face_ids(st, &g, pid)?;
            let since = st
                .sets
                .user_faces(&g, pid)?
                .first()
                .map(|(_, ms)| *ms)
                .unwrap_or(0);
            Ok(json!({"PersonId": pid, "PersonName": st.sets.user_info(&g, pid)?.unwrap_or_default(),
                "Gender": 0, "PersonExDescriptions": [], "FaceIds": faces.into_iter().map(|(e, _)| e).collect::<Vec<_>>(),
                "CreationTimestamp": since}))
        })
        .collect::<Result<_, TcError>>()?;
    Ok(
        json!({"PersonInfos": persons, "PersonNum": st.sets.group_user_count(&g)?,
        "FaceNum": info.face_number, "FaceModelVersion": MODEL}),
    )
}

pub fn person_info(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let pid = id(body, "PersonId")?;
    let g = &person_groups(st, tenant, pid)?[0];
    Ok(
        json!({"PersonName": st.sets.user_info(g, pid)?.unwrap_or_default(), "Gender": 0,
        "FaceIds": tencent_face_ids(st, g, pid)?}),
    )
}

pub fn person_groups_info(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let pid = id(body, "PersonId")?;
    let offset = int(body, "Offset", 0, (0, 100_000))? as usize;
    let limit = int(body, "Limit", 10, (1, 100))? as usize;
    let groups = person_groups(st, tenant, pid)?;
    let page: Vec<Value> = groups
        .iter()
        .skip(offset)
        .take(limit)
        .map(|g| json!({"GroupId": tenant_group(tenant, g), "PersonExDescriptions": []}))
        .collect();
    Ok(json!({"PersonGroupInfos": page, "GroupNum": groups.len(), "FaceModelVersion": MODEL}))
}

/// Renames a person in every group (Tencent keeps one name per person).
pub fn modify_person(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let pid = id(body, "PersonId")?;
    let groups = person_groups(st, tenant, pid)?;
    if let Some(name) = body.get("PersonName").and_then(|v| v.as_str()) {
        if name.is_empty() || name.chars().count() > 60 {
            return Err(TcError(
                "InvalidParameterValue.PersonNameTooLong",
                "PersonName: 1-60 characters".into(),
            ));
        }
        for g in &groups {
            st.sets.set_user_info(g, pid, name)?;
        }
    }
    Ok(json!({}))
}

/// Adds a person (all of their faces) to more groups; groups they are already in are skipped.
pub fn copy_person(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let pid = id(body, "PersonId")?;
    let from = person_groups(st, tenant, pid)?;
    let mut done = vec![];
    for target in strings(body, "GroupIds", 100)? {
        let mut m = Map::new();
        m.insert("GroupId".into(), json!(target));
        let g = group(&Form::from_map(m), tenant, "GroupId")?;
        st.sets.show_set(&g)?;
        if !from.contains(&g) {
            st.sets.copy_user(pid, &from[0], &g)?;
            done.push(target.to_string());
        }
    }
    Ok(json!({"SucGroupNum": done.len(), "SucGroupIds": done}))
}

/// Removes a person from one group; a person in no group any more is gone (as at Tencent).
pub fn delete_from_group(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let pid = id(body, "PersonId")?;
    let g = group(body, tenant, "GroupId")?;
    st.sets.show_set(&g)?;
    if !person_groups(st, tenant, pid)?.contains(&g) {
        return Err(TcError(
            "FailedOperation.GroupPersonMapNotExist",
            format!("person {pid} is not in group {}", tenant_group(tenant, &g)),
        ));
    }
    st.sets.delete_faces(&g, Selector::User(pid.into()))?;
    Ok(json!({}))
}

/// Adds faces (`Images` base64 or `Urls`, up to 5) to a person in every group they are in. Each
/// image succeeds or fails on its own (`RetCode` 0, or -1101 no face / -1102 unreadable image).
pub async fn create_face(st: &Arc<ApiState>, body: &Form, tenant: &str) -> Reply {
    let pid = id(body, "PersonId")?.to_string();
    let groups = person_groups(st, tenant, &pid)?;
    let (key, sources) = match (body.get("Images"), body.get("Urls")) {
        (Some(_), _) => ("Images", "image_base64"),
        (None, Some(_)) => ("Urls", "image_url"),
        (None, None) => return Err(missing("Images or Urls")),
    };
    let images = strings(body, key, FACES_PER_PERSON)?;
    let have = face_ids(st, &groups[0], &pid)?.len();
    if have + images.len() > FACES_PER_PERSON {
        return Err(TcError(
            "InvalidParameterValue.PersonFaceNumExceed",
            format!("person {pid} has {have} faces; at most {FACES_PER_PERSON} are kept"),
        ));
    }
    // Every group must take the new faces, so a full group cannot leave a face in only some.
    for g in &groups {
        let info = st.sets.show_set(g)?;
        if info.face_number + images.len() > info.face_set_capacity {
            return Err(TcError(
                "InvalidParameterValue.GroupFaceNumExceed",
                format!("group {} is full", tenant_group(tenant, g)),
            ));
        }
    }
    let want = Wanted {
        embedding: true,
        picture: st.sets.keeps_face_pictures(),
        ..Wanted::default()
    };
    let (mut codes, mut ids, mut indexes, mut rects) = (vec![], vec![], vec![], vec![]);
    for (i, img) in images.into_iter().enumerate() {
        let mut m = Map::new();
        m.insert(sources.into(), json!(img));
        let face = match st.image_source(&Form::from_map(m), "image").await {
            Ok(src) => faces_of(st, src, want, 1).await,
            Err(e) => Err(e.into()),
        };
        let face = match face {
            Ok((_, _, faces)) => faces,
            Err(e) if e.0 == "InvalidParameterValue.NoFaceInPhoto" => {
                codes.push(-1101);
                continue;
            }
            Err(_) => {
                codes.push(-1102);
                continue;
            }
        }
        .remove(0);
        let Ok(emb) = embedding(&face) else {
            codes.push(-1101);
            continue;
        };
        let r = rect(&face);
        let fid = new_face_id();
        for g in &groups {
            st.sets.add_faces(
                g,
                vec![Enrolment::analysed(&face, emb.clone())],
                Some(&fid),
                &Map::new(),
                Some(&pid),
            )?;
        }
        codes.push(0);
        ids.push(fid);
        indexes.push(i);
        rects.push(r);
    }
    Ok(
        json!({"SucFaceNum": ids.len(), "SucFaceIds": ids, "RetCode": codes, "SucIndexes": indexes,
        "SucFaceRects": rects, "FaceModelVersion": MODEL}),
    )
}

/// Deletes some of a person's faces from every group they are in; every person keeps one face.
pub fn delete_face(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let pid = id(body, "PersonId")?;
    let groups = person_groups(st, tenant, pid)?;
    let wanted = strings(body, "FaceIds", FACES_PER_PERSON)?;
    let have = tencent_face_ids(st, &groups[0], pid)?;
    let gone: Vec<&String> = have
        .iter()
        .filter(|f| wanted.contains(&f.as_str()))
        .collect();
    if gone.len() == have.len() {
        return Err(TcError(
            "InvalidParameterValue.DeleteFaceNumExceed",
            "a person keeps at least one face (DeletePerson removes the person)".into(),
        ));
    }
    for g in &groups {
        for (eid, face_id) in face_ids(st, g, pid)? {
            if gone.contains(&&eid) {
                st.sets.delete_faces(g, Selector::FaceId(face_id))?;
            }
        }
    }
    Ok(json!({"SucDeletedNum": gone.len(), "SucFaceIds": gone}))
}
