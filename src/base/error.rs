//! What went wrong, in the domain's words. Every error a request, a message or a command can meet
//! has one `ErrorKind`; each API family turns kinds into its own codes and HTTP statuses in one
//! table (`src/codes/`), so the domain never speaks FRS, Baidu, Tencent or CTyun.
//!
//! Kinds are as fine as the finest API family needs (FRS tells "face set not found" from "face not
//! found"); `class()` groups them for everyone else (retry or not, the client's fault or ours).

/// The broad class of a kind: what a client can do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// No or wrong credentials.
    Unauthorized,
    /// The request is malformed or a value is out of range: fix it, do not retry as is.
    Invalid,
    /// Well formed but not something facestream can do (a format, an action).
    Unsupported,
    /// The thing named does not exist.
    NotFound,
    /// The thing to create exists already.
    Exists,
    /// A size, count or rate limit was reached.
    Limit,
    /// Overloaded or too slow right now: retry later.
    Busy,
    /// facestream's own failure (storage, models): not the client's fault.
    Internal,
}

macro_rules! error_kinds {
    ($($(#[doc = $doc:literal])* $name:ident => $class:ident,)+) => {
        /// One distinguishable failure. Adding one makes every API table fail to compile until it
        /// is mapped there: the tables `match` without a catch-all.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $($(#[doc = $doc])* $name,)+
        }

        impl ErrorKind {
            /// Every kind, for the tables' tests and the docs.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$name,)+];

            pub fn class(self) -> ErrorClass {
                match self {
                    $(ErrorKind::$name => ErrorClass::$class,)+
                }
            }
        }
    };
}

error_kinds! {
    /// Credentials missing (no token, no date).
    Unauthenticated => Unauthorized,
    /// Credentials present but wrong, expired or replayed.
    Forbidden => Unauthorized,
    /// The key's request rate is over its limit.
    RateLimited => Limit,
    /// No inference or download slot became free in time.
    Busy => Busy,
    /// The request took longer than allowed (its work still finishes).
    TimedOut => Busy,
    /// A required field is absent.
    MissingField => Invalid,
    /// A field's value is not acceptable.
    BadValue => Invalid,
    /// An image location the server refuses to read (host or folder not permitted).
    LocationForbidden => Invalid,
    /// The image is larger (in pixels) than allowed; refused before decoding.
    ImageTooLarge => Limit,
    /// The body is not the JSON object or multipart form expected.
    BadBody => Invalid,
    /// Base64 that does not decode.
    BadBase64 => Invalid,
    /// An image or clip URL could not be downloaded.
    DownloadFailed => Invalid,
    /// The request body is over the configured size.
    BodyTooLarge => Limit,
    /// The image file cannot be read.
    ImageUnreadable => Invalid,
    /// The image file is empty.
    ImageEmpty => Invalid,
    /// The image is smaller than the smallest analysable.
    ImageTooSmall => Invalid,
    /// Not an image in a supported format.
    NotImage => Unsupported,
    /// GIF, which is not supported.
    Gif => Unsupported,
    /// The image is corrupt or truncated.
    ImageCorrupt => Invalid,
    /// The image file is over the configured size.
    FileTooLarge => Limit,
    /// The picture holds no face.
    NoFace => Invalid,
    /// A face set of that name exists.
    SetExists => Exists,
    /// No face set of that name.
    SetNotFound => NotFound,
    /// The face set is at its capacity.
    SetFull => Limit,
    /// A field not declared in the face set's external_fields.
    FieldUndefined => Invalid,
    /// A field's value does not have its declared type.
    FieldType => Invalid,
    /// A face set name outside the allowed characters or length.
    BadSetName => Invalid,
    /// An external_image_id outside the allowed length.
    BadExternalImageId => Invalid,
    /// A field name reserved by facestream.
    ReservedField => Invalid,
    /// A search filter that does not parse or is nested too deep.
    FilterSyntax => Invalid,
    /// No face with that id.
    FaceNotFound => NotFound,
    /// A parameter out of its range.
    BadParameter => Invalid,
    /// The face set's embeddings come from another model than the configured one.
    ModelMismatch => Unsupported,
    /// No such user in the group.
    UserNotFound => NotFound,
    /// Removing the user's last group (delete the user instead).
    LastGroup => Invalid,
    /// An external field declared with an unknown type.
    BadFieldType => Invalid,
    /// Re-embedding needs kept face pictures that are missing.
    PicturesMissing => Unsupported,
    /// A kept face picture could not be re-embedded.
    ReembedFailed => Invalid,
    /// A liveness action that does not exist.
    UnknownAction => Invalid,
    /// No action, or more than allowed.
    ActionCount => Invalid,
    /// A malformed action_time.
    BadActionTime => Invalid,
    /// nod_threshold out of range.
    BadNodThreshold => Invalid,
    /// The clip cannot be read.
    VideoUnreadable => Invalid,
    /// The clip is over the size or length limit.
    VideoTooLarge => Limit,
    /// The clip cannot be decoded.
    VideoUndecodable => Invalid,
    /// The camera of a live challenge sent no frame.
    CameraSilent => Busy,
    /// An MQTT request over mqtt.max_request_bytes.
    MessageTooLarge => Limit,
    /// A live challenge's timeout_ms out of range.
    BadTimeout => Invalid,
    /// A camera of that id is in the pool already.
    CameraExists => Exists,
    /// No camera of that id in the pool.
    CameraNotFound => NotFound,
    /// A camera's settings are not acceptable (id, uri).
    BadCamera => Invalid,
    /// The request needs a pool of daemons (`storage.url`), and this daemon has none.
    NoPool => Unsupported,
    /// No event of that id in the history (or it has no snapshot).
    EventNotFound => NotFound,
    /// No stranger of that `unknown-N` id.
    StrangerNotFound => NotFound,
    /// The face-set store failed.
    Storage => Internal,
    /// A model or another internal failure.
    Internal => Internal,
}

/// A domain error reduced to what travels between stages: its kind and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: ErrorKind,
    pub message: String,
}

impl Problem {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Problem {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_each_kind_once() {
        let set: std::collections::HashSet<_> = ErrorKind::ALL.iter().collect();
        assert_eq!(set.len(), ErrorKind::ALL.len());
        assert_eq!(ErrorKind::ALL.len(), ErrorKind::Internal as usize + 1);
    }

    #[test]
    fn classes_say_whose_fault() {
        assert_eq!(ErrorKind::Busy.class(), ErrorClass::Busy);
        assert_eq!(ErrorKind::SetNotFound.class(), ErrorClass::NotFound);
        assert_eq!(ErrorKind::Storage.class(), ErrorClass::Internal);
        assert_eq!(ErrorKind::Forbidden.class(), ErrorClass::Unauthorized);
    }
}
