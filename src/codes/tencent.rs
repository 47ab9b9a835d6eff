//! Tencent Cloud IAI codes (`Response.Error.Code`, answered with HTTP 200). Tencent's own
//! parameter checks (`MissingParameter`, `InvalidParameterValue`) are raised by its handlers.

use crate::base::error::ErrorKind;

/// The table.
pub fn of(kind: ErrorKind) -> &'static str {
    use ErrorKind as K;
    match kind {
        K::Unauthenticated | K::Forbidden => "AuthFailure.SignatureFailure",
        K::RateLimited => "RequestLimitExceeded",
        K::Busy | K::TimedOut => "ResourceUnavailable.NotReady",
        K::Storage | K::Internal => "InternalError",
        K::SetExists => "InvalidParameterValue.GroupIdAlreadyExist",
        K::SetNotFound => "InvalidParameterValue.GroupIdNotExist",
        K::UserNotFound => "InvalidParameterValue.PersonIdNotExist",
        K::FaceNotFound => "InvalidParameterValue.FaceIdNotExist",
        K::NoFace => "InvalidParameterValue.NoFaceInPhoto",
        K::SetFull => "LimitExceeded.ErrorFaceNumExceed",
        K::DownloadFailed => "FailedOperation.ImageDownloadError",
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
        | K::FileTooLarge => "FailedOperation.ImageDecodeFailed",
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
        | K::StrangerNotFound => "InvalidParameter",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned() {
        let want = [
            (
                ErrorKind::SetExists,
                "InvalidParameterValue.GroupIdAlreadyExist",
            ),
            (
                ErrorKind::SetNotFound,
                "InvalidParameterValue.GroupIdNotExist",
            ),
            (
                ErrorKind::UserNotFound,
                "InvalidParameterValue.PersonIdNotExist",
            ),
            (
                ErrorKind::FaceNotFound,
                "InvalidParameterValue.FaceIdNotExist",
            ),
            (ErrorKind::NoFace, "InvalidParameterValue.NoFaceInPhoto"),
            (ErrorKind::SetFull, "LimitExceeded.ErrorFaceNumExceed"),
            (ErrorKind::Forbidden, "AuthFailure.SignatureFailure"),
            (ErrorKind::RateLimited, "RequestLimitExceeded"),
            (ErrorKind::Busy, "ResourceUnavailable.NotReady"),
            (
                ErrorKind::DownloadFailed,
                "FailedOperation.ImageDownloadError",
            ),
            (ErrorKind::Internal, "InternalError"),
            (ErrorKind::ImageCorrupt, "FailedOperation.ImageDecodeFailed"),
            (ErrorKind::FilterSyntax, "InvalidParameter"),
        ];
        for (k, code) in want {
            assert_eq!(of(k), code, "{k:?}");
        }
    }

    /// Codes are Tencent's dotted names: letters and dots only.
    #[test]
    fn well_formed() {
        for &k in ErrorKind::ALL {
            let c = of(k);
            assert!(
                c.chars().all(|ch| ch.is_ascii_alphabetic() || ch == '.'),
                "{k:?}: {c}"
            );
        }
    }
}
