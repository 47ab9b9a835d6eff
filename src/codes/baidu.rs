//! Baidu Face API v3 codes (`error_code` in Baidu's envelope, answered with HTTP 200 except
//! overload). Baidu's own parameter checks (222001 and the like) are raised by the Baidu handlers
//! directly; this table maps the failures they share with the other families.

use crate::base::error::ErrorKind;

/// Baidu's "param error" for anything it has no closer code for.
pub const PARAM_ERROR: u32 = 100;
/// Baidu's "service busy": the one code answered with HTTP 503.
pub const BUSY: u32 = 222901;

/// The table.
pub fn of(kind: ErrorKind) -> u32 {
    use ErrorKind as K;
    match kind {
        K::Unauthenticated | K::Forbidden => 110,
        K::RateLimited => 18,
        K::Busy | K::TimedOut => BUSY,
        K::Storage | K::Internal => 282000,
        K::SetExists => 223101,
        K::SetNotFound => 223100,
        K::UserNotFound => 223103,
        K::FaceNotFound => 223106,
        K::SetFull => 223104,
        K::NoFace => 222202,
        K::DownloadFailed => 222204,
        // "image check fail": the request's image (or its fields) could not be used.
        K::MissingField
        | K::BadValue
        | K::LocationForbidden
        | K::ImageTooLarge
        | K::BadBody
        | K::BadBase64
        | K::ImageUnreadable
        | K::ImageEmpty
        | K::ImageTooSmall
        | K::NotImage
        | K::Gif
        | K::ImageCorrupt
        | K::FileTooLarge => 222203,
        K::BodyTooLarge
        | K::FieldUndefined
        | K::FieldType
        | K::BadSetName
        | K::BadExternalImageId
        | K::ReservedField
        | K::FilterSyntax
        | K::BadParameter
        | K::ModelMismatch
        | K::LastGroup
        | K::BadFieldType
        | K::PicturesMissing
        | K::ReembedFailed
        | K::UnknownAction
        | K::ActionCount
        | K::BadActionTime
        | K::BadNodThreshold
        | K::VideoUnreadable
        | K::VideoTooLarge
        | K::VideoUndecodable
        | K::CameraSilent
        | K::MessageTooLarge
        | K::BadTimeout
        | K::CameraExists
        | K::CameraNotFound
        | K::BadCamera
        | K::NoPool
        | K::EventNotFound
        | K::StrangerNotFound => PARAM_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned() {
        let want = [
            (ErrorKind::SetExists, 223101),
            (ErrorKind::SetNotFound, 223100),
            (ErrorKind::UserNotFound, 223103),
            (ErrorKind::FaceNotFound, 223106),
            (ErrorKind::NoFace, 222202),
            (ErrorKind::Forbidden, 110),
            (ErrorKind::RateLimited, 18),
            (ErrorKind::TimedOut, 222901),
            (ErrorKind::Storage, 282000),
            (ErrorKind::SetFull, 223104),
            (ErrorKind::DownloadFailed, 222204),
            (ErrorKind::MissingField, 222203),
            (ErrorKind::Gif, 222203),
            (ErrorKind::FilterSyntax, 100),
        ];
        for (k, code) in want {
            assert_eq!(of(k), code, "{k:?}");
        }
    }

    /// Only overload may be answered 503: every other code must be one Baidu's SDK reads as an error
    /// in a 200 answer, so none may collide with BUSY.
    #[test]
    fn only_overload_is_busy() {
        for &k in ErrorKind::ALL {
            let busy = matches!(k, ErrorKind::Busy | ErrorKind::TimedOut);
            assert_eq!(of(k) == BUSY, busy, "{k:?}");
        }
    }
}
