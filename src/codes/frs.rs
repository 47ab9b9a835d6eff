//! Huawei FRS codes (`FRS.xxxx`) and the HTTP status of each: the FRS API's answers, the CLI's
//! messages and MQTT liveness results.

use crate::base::error::ErrorKind;

/// An FRS error code and the HTTP status the FRS API answers it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrsCode {
    pub code: &'static str,
    pub status: u16,
}

const fn c(code: &'static str, status: u16) -> FrsCode {
    FrsCode { code, status }
}

/// The table.
pub fn of(kind: ErrorKind) -> FrsCode {
    use ErrorKind as K;
    match kind {
        K::Unauthenticated => c("FRS.0002", 401),
        K::Forbidden => c("FRS.0002", 403),
        K::RateLimited => c("FRS.0429", 429),
        K::Busy => c("FRS.0503", 503),
        K::TimedOut => c("FRS.0504", 503),
        K::MissingField => c("FRS.0011", 400),
        K::BadValue => c("FRS.0012", 400),
        K::LocationForbidden => c("FRS.0012", 403),
        K::ImageTooLarge => c("FRS.0013", 400),
        K::BadBody => c("FRS.0014", 400),
        K::BadBase64 => c("FRS.0015", 400),
        K::DownloadFailed => c("FRS.0016", 400),
        K::BodyTooLarge => c("FRS.0413", 413),
        K::ImageUnreadable => c("FRS.0020", 400),
        K::ImageEmpty => c("FRS.0021", 400),
        K::ImageTooSmall => c("FRS.0022", 400),
        K::NotImage => c("FRS.0023", 400),
        K::Gif => c("FRS.0024", 400),
        K::ImageCorrupt => c("FRS.0025", 400),
        K::FileTooLarge => c("FRS.0026", 400),
        K::NoFace => c("FRS.0501", 400),
        K::SetExists => c("FRS.0401", 409),
        K::SetNotFound => c("FRS.0402", 404),
        K::SetFull => c("FRS.0403", 400),
        K::FieldUndefined => c("FRS.0404", 400),
        K::FieldType => c("FRS.0405", 400),
        K::BadSetName => c("FRS.0406", 400),
        K::BadExternalImageId => c("FRS.0407", 400),
        K::ReservedField => c("FRS.0408", 400),
        K::FilterSyntax => c("FRS.0409", 400),
        K::FaceNotFound => c("FRS.0410", 404),
        K::BadParameter => c("FRS.0411", 400),
        K::ModelMismatch => c("FRS.0412", 400),
        K::UserNotFound => c("FRS.0413", 404),
        K::LastGroup => c("FRS.0414", 400),
        K::BadFieldType => c("FRS.0415", 400),
        K::PicturesMissing => c("FRS.0416", 400),
        K::ReembedFailed => c("FRS.0417", 400),
        K::UnknownAction => c("FRS.0601", 400),
        K::ActionCount => c("FRS.0602", 400),
        K::BadActionTime => c("FRS.0603", 400),
        K::BadNodThreshold => c("FRS.0604", 400),
        K::VideoUnreadable => c("FRS.0605", 400),
        K::VideoTooLarge => c("FRS.0606", 400),
        K::VideoUndecodable => c("FRS.0607", 400),
        K::CameraSilent => c("FRS.0610", 503),
        K::MessageTooLarge => c("FRS.0611", 413),
        K::BadTimeout => c("FRS.0612", 400),
        K::CameraExists => c("FRS.0701", 409),
        K::CameraNotFound => c("FRS.0702", 404),
        K::BadCamera => c("FRS.0703", 400),
        K::NoPool => c("FRS.0704", 400),
        K::EventNotFound => c("FRS.0801", 404),
        K::StrangerNotFound => c("FRS.0802", 404),
        K::Storage => c("FRS.0098", 500),
        K::Internal => c("FRS.0099", 500),
    }
}

/// The FRS code alone (the CLI and MQTT print it).
pub fn code(kind: ErrorKind) -> &'static str {
    of(kind).code
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code is FRS.dddd, and two kinds share a code only where FRS itself has one code for
    /// both (told apart by the HTTP status, or the same failure seen from two places).
    #[test]
    fn codes_are_well_formed_and_shared_only_on_purpose() {
        let shared = [
            (
                "FRS.0002",
                vec![ErrorKind::Unauthenticated, ErrorKind::Forbidden],
            ),
            (
                "FRS.0012",
                vec![ErrorKind::BadValue, ErrorKind::LocationForbidden],
            ),
            (
                "FRS.0413",
                vec![ErrorKind::BodyTooLarge, ErrorKind::UserNotFound],
            ),
        ];
        let mut by_code: std::collections::BTreeMap<&str, Vec<ErrorKind>> = Default::default();
        for &k in ErrorKind::ALL {
            let FrsCode { code, status } = of(k);
            assert!(
                code.len() == 8
                    && code.starts_with("FRS.")
                    && code[4..].bytes().all(|b| b.is_ascii_digit()),
                "{k:?}: {code}"
            );
            assert!((400..=599).contains(&status), "{k:?}: {status}");
            by_code.entry(code).or_default().push(k);
        }
        for (code, kinds) in by_code.iter().filter(|(_, k)| k.len() > 1) {
            let expected = shared.iter().find(|(c, _)| c == code).map(|(_, k)| k);
            assert_eq!(Some(kinds), expected, "{code} is shared by {kinds:?}");
        }
    }

    /// The statuses clients depend on (retry policies, proxies).
    #[test]
    fn statuses_follow_the_class() {
        use crate::base::error::ErrorClass as C;
        for &k in ErrorKind::ALL {
            let s = of(k).status;
            match k.class() {
                C::Unauthorized => assert!(s == 401 || s == 403, "{k:?}"),
                C::NotFound => assert_eq!(s, 404, "{k:?}"),
                C::Exists => assert_eq!(s, 409, "{k:?}"),
                C::Busy => assert_eq!(s, 503, "{k:?}"),
                C::Internal => assert_eq!(s, 500, "{k:?}"),
                C::Invalid | C::Unsupported | C::Limit => {
                    assert!(matches!(s, 400 | 403 | 413 | 429), "{k:?}: {s}");
                }
            }
        }
    }

    #[test]
    fn pinned() {
        assert_eq!(of(ErrorKind::SetExists), c("FRS.0401", 409));
        assert_eq!(of(ErrorKind::TimedOut), c("FRS.0504", 503));
        assert_eq!(code(ErrorKind::FilterSyntax), "FRS.0409");
        assert_eq!(code(ErrorKind::Internal), "FRS.0099");
    }
}
