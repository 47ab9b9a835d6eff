//! China Telecom (CTyun) codes (../shared/specs/ctyun-face-api.txt): 4101–4105 and 5000 from its
//! manual; 4010, 4029, 5003 are facestream's own for what the manual does not cover (docs/api.md).

use crate::base::error::ErrorKind;

/// Authentication failed (answered with HTTP 403).
pub const FORBIDDEN: u32 = 4010;
/// Rate limit (HTTP 429).
pub const RATE_LIMITED: u32 = 4029;
/// Overload (HTTP 503).
pub const BUSY: u32 = 5003;
/// An operation path facestream does not serve (HTTP 404).
pub const UNKNOWN_OPERATION: u32 = 4040;
/// The manual's catch-all "service error".
pub const SERVICE_ERROR: u32 = 5000;

/// The table.
pub fn of(kind: ErrorKind) -> u32 {
    use ErrorKind as K;
    match kind {
        // 4101: a parameter is missing or empty.
        K::MissingField | K::ImageEmpty => 4101,
        // 4102: a parameter is malformed.
        K::BadBody | K::BadParameter => 4102,
        // 4103: too large.
        K::FileTooLarge | K::BodyTooLarge | K::ImageTooLarge => 4103,
        // 4104: the image cannot be used.
        K::BadBase64 | K::ImageTooSmall | K::NotImage | K::Gif | K::ImageCorrupt => 4104,
        // 4105: no face.
        K::NoFace => 4105,
        K::Unauthenticated | K::Forbidden => FORBIDDEN,
        K::RateLimited => RATE_LIMITED,
        K::Busy | K::TimedOut => BUSY,
        K::BadValue
        | K::LocationForbidden
        | K::DownloadFailed
        | K::ImageUnreadable
        | K::SetExists
        | K::SetNotFound
        | K::SetFull
        | K::FieldUndefined
        | K::FieldType
        | K::BadSetName
        | K::BadExternalImageId
        | K::ReservedField
        | K::FilterSyntax
        | K::FaceNotFound
        | K::ModelMismatch
        | K::UserNotFound
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
        | K::StrangerNotFound
        | K::Storage
        | K::Internal => SERVICE_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned() {
        let want = [
            (ErrorKind::MissingField, 4101),
            (ErrorKind::ImageEmpty, 4101),
            (ErrorKind::BadBody, 4102),
            (ErrorKind::BadParameter, 4102),
            (ErrorKind::FileTooLarge, 4103),
            (ErrorKind::ImageTooLarge, 4103),
            (ErrorKind::BodyTooLarge, 4103),
            (ErrorKind::ImageCorrupt, 4104),
            (ErrorKind::BadBase64, 4104),
            (ErrorKind::NoFace, 4105),
            (ErrorKind::Forbidden, 4010),
            (ErrorKind::RateLimited, 4029),
            (ErrorKind::TimedOut, 5003),
            (ErrorKind::Internal, 5000),
        ];
        for (k, code) in want {
            assert_eq!(of(k), code, "{k:?}");
        }
    }

    /// Every code is one the manual or docs/api.md lists.
    #[test]
    fn only_documented_codes() {
        for &k in ErrorKind::ALL {
            let c = of(k);
            assert!(
                matches!(c, 4101..=4105 | 4010 | 4029 | 5000 | 5003),
                "{k:?}: {c}"
            );
        }
    }
}
