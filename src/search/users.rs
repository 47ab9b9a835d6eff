//! Baidu-style users and groups on top of face sets: identify over groups, user info, copy and
//! remove.

use super::*;

impl FaceSets {
    /// Baidu identify: the best users over several groups (each user scored by its best face).
    pub fn identify(
        &self,
        groups: &[String],
        query: &Embedding,
        threshold: f32,
        top_users: usize,
    ) -> Result<Vec<UserHit>, SetError> {
        let mut best: HashMap<(String, String), f64> = HashMap::new();
        for g in groups {
            let p = SearchParams {
                top_n: 1000.min(self.show_set(g)?.face_number.max(1)),
                ..SearchParams::new(threshold)
            };
            for h in self.search(g, query, &p)? {
                if let Some(u) = h.user_id {
                    let e = best.entry((g.clone(), u)).or_insert(0.0);
                    *e = e.max(h.similarity);
                }
            }
        }
        let mut users: Vec<UserHit> = best
            .into_iter()
            .map(|((group_id, user_id), score)| {
                let user_info = self
                    .store()
                    .user_info(&group_id, &user_id)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                UserHit {
                    group_id,
                    user_id,
                    user_info,
                    score,
                }
            })
            .collect();
        users.sort_by(|a, b| b.score.total_cmp(&a.score));
        users.truncate(top_users.max(1));
        Ok(users)
    }

    pub fn set_user_info(&self, group: &str, user: &str, info: &str) -> Result<(), SetError> {
        self.show_set(group)?;
        self.store().set_user_info(group, user, info)
    }

    /// Users of a group, in id order (Baidu `group/getusers`).
    pub fn group_users(
        &self,
        group: &str,
        start: usize,
        length: usize,
    ) -> Result<Vec<String>, SetError> {
        self.store().group_users(group, start, length)
    }

    /// How many users a group has.
    pub fn group_user_count(&self, group: &str) -> Result<usize, SetError> {
        self.show_set(group)?;
        self.store().group_user_count(group)
    }

    /// A user's faces in one group: (face id, creation time in ms), in the order they were stored.
    pub fn user_faces(&self, group: &str, user: &str) -> Result<Vec<(String, i64)>, SetError> {
        self.show_set(group)?;
        self.store().user_faces(group, user)
    }

    pub fn user_info(&self, group: &str, user: &str) -> Result<Option<String>, SetError> {
        self.store().user_info(group, user)
    }

    pub fn user_groups(&self, user: &str) -> Result<Vec<String>, SetError> {
        self.store().user_groups(user)
    }

    pub fn copy_user(&self, user: &str, from: &str, to: &str) -> Result<usize, SetError> {
        let n = self.store().copy_user(user, from, to)?;
        self.invalidate(to);
        Ok(n)
    }

    /// Moves `user`'s faces of `from` to `to_user` in `to` (vectors, boxes; `external_image_id` on
    /// each), then removes them from `from`: naming a stranger, renaming a person. Returns the faces moved.
    pub fn move_user(
        &self,
        from: &str,
        user: &str,
        to: &str,
        to_user: &str,
        external_image_id: &str,
    ) -> Result<usize, SetError> {
        let mut moved = vec![];
        for (face_id, _) in self.user_faces(from, user)? {
            let f = self.face(from, &face_id)?;
            moved.push((
                f.bounding_box,
                crate::analyze::Embedding {
                    model: f.model,
                    vector: f.vector,
                },
            ));
        }
        let n = moved.len();
        self.add_faces(
            to,
            moved,
            Some(external_image_id),
            &Map::new(),
            Some(to_user),
        )?;
        self.delete_faces(from, super::store::Selector::User(user.into()))?;
        Ok(n)
    }

    /// Removes a user from one group; refused when it is the user's last group.
    pub fn remove_user(&self, user: &str, group: &str) -> Result<usize, SetError> {
        let groups = self.user_groups(user)?;
        if !groups.iter().any(|g| g == group) {
            return Err(SetError::UserNotFound {
                user: user.into(),
                group: group.into(),
            });
        }
        if groups.len() == 1 {
            return Err(SetError::LastGroup {
                user: user.into(),
                group: group.into(),
            });
        }
        self.delete_faces(group, Selector::User(user.into()))
    }
}

/// Baidu-style identify result.
#[derive(Debug, Clone, Serialize)]
pub struct UserHit {
    pub group_id: String,
    pub user_id: String,
    pub user_info: String,
    /// Similarity 0..1 like the rest of the API (Baidu's 0..100 score is `score * 100`).
    pub score: f64,
}
