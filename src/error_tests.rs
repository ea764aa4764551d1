//! Tests of the error types' texts and sources.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::error::Error;

use super::*;

/// Every variant's text: not empty, and different from every other
/// variant's of the same type, so the text tells the cases apart.
fn distinct<E: fmt::Display>(errors: &[E]) -> Vec<String> {
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(texts.iter().all(|t| !t.is_empty()), "{texts:?}");
    let unique: BTreeSet<&String> = texts.iter().collect();
    assert_eq!(unique.len(), texts.len(), "{texts:?}");
    texts
}

#[test]
fn every_error_variant_has_its_own_text() {
    let key = KeyError::LowOrder;
    distinct(&[
        KeyError::NonCanonical,
        KeyError::LowOrder,
        KeyError::NotOnCurve,
        KeyError::NonContributory,
        KeyError::InvalidKemKey,
    ]);
    let decode = distinct(&[
        DecodeError::Truncated,
        DecodeError::TrailingBytes,
        DecodeError::UnsupportedVersion { found: 2, supported: 1 },
        DecodeError::WrongType { found: 3, expected: 4 },
        DecodeError::TooLong { len: 65, max: 64 },
        DecodeError::InvalidKeyTree,
        DecodeError::InvalidStateId,
        DecodeError::UnknownFlags { flags: 0x80 },
        DecodeError::UnknownKeyType { found: 9 },
        DecodeError::UnknownPqPreKeyKind { found: 7 },
        DecodeError::NonCanonicalVarint,
        DecodeError::InvalidText,
        DecodeError::InvalidKey(key),
        DecodeError::BadIdentityBinding,
    ]);
    // Fields appear in the text.
    assert!(decode[2].contains('2') && decode[2].contains('1'), "{}", decode[2]);
    assert!(decode[4].contains("65") && decode[4].contains("64"), "{}", decode[4]);
    distinct(&[
        PreKeyError::TooManyOneTimePreKeys { stored: 990, requested: 20, max: 1000 },
        PreKeyError::GracePeriodTooLong { got: 10, max: 5 },
        PreKeyError::IdsExhausted,
        PreKeyError::UnknownOneTimePreKey { id: 7 },
    ]);
    distinct(&[
        StartError::BadSignedPreKeySignature,
        StartError::BadPqPreKeySignature,
        StartError::MissingPqPreKey,
        StartError::PqPreKeyStripped,
        StartError::InvalidKey(key),
        StartError::ContextTooLong { len: 300, max: 256 },
        StartError::OwnBundle,
    ]);
    distinct(&[
        FirstMessageError::Decode(DecodeError::Truncated),
        FirstMessageError::ContextTooLong { len: 300, max: 256 },
        FirstMessageError::UnknownSignedPreKey { id: 1 },
        FirstMessageError::OneTimePreKeyUnavailable { id: 2 },
        FirstMessageError::Replay,
        FirstMessageError::ReplayRecordFull { signed_prekey_id: 3 },
        FirstMessageError::OwnIdentity,
        FirstMessageError::ClassicSetupRefused,
        FirstMessageError::UnknownPqPreKey { kind: crate::PqPreKeyKind::OneTime, id: 4 },
        FirstMessageError::InvalidKey(key),
        FirstMessageError::Message(DecryptError::AuthenticationFailed),
    ]);
    distinct(&[
        AcceptError::WrongAccount,
        AcceptError::Replay,
        AcceptError::ReplayRecordFull { signed_prekey_id: 3 },
        AcceptError::UnknownSignedPreKey { id: 1 },
        AcceptError::UnknownPqPreKey { id: 2 },
    ]);
    distinct(&[EncryptError::ChainExhausted, EncryptError::InvalidKey(key)]);
    distinct(&[
        DecryptError::Decode(DecodeError::Truncated),
        DecryptError::NotForThisSession,
        DecryptError::TooFarAhead { got: 3000, max: 2000 },
        DecryptError::DuplicateOrExpired,
        DecryptError::AuthenticationFailed,
        DecryptError::InvalidKey(key),
    ]);
    distinct(&[
        PickleError::Malformed,
        PickleError::WrongType { found: 1, expected: 2 },
        PickleError::UnsupportedVersion { found: 9, supported: 1 },
        PickleError::WrongKeyOrCorrupted,
        PickleError::Invalid,
    ]);
    distinct(&[
        GroupError::Decode(DecodeError::Truncated),
        GroupError::GroupIdTooLong { len: 65, max: 64 },
        GroupError::MemberIdTooLong { len: 257, max: 256 },
        GroupError::TooManyMembers { max: 10_000 },
        GroupError::WrongGroup,
        GroupError::NotAMember,
        GroupError::UnknownSenderState,
        GroupError::SenderRemoved,
        GroupError::UnexpectedSender,
        GroupError::StateOwnedByAnotherMember,
        GroupError::SigningKeyMismatch,
        GroupError::BadSignature,
        GroupError::Duplicate,
        GroupError::OutsideWindow { index: 1, oldest: 5 },
        GroupError::BeforeStateStart { index: 1, start: 5 },
        GroupError::StateClosed { index: 9, last: 5 },
        GroupError::AuthenticationFailed,
        GroupError::SenderStateExhausted,
        GroupError::RotationPolicyTooLong { messages: 1, secs: 2 },
    ]);
}

#[test]
fn a_wrapped_error_is_either_the_source_or_in_the_text_never_both() {
    let (decode, key) = (DecodeError::Truncated, KeyError::NotOnCurve);
    let wrapped: Vec<(Box<dyn Error>, String)> = vec![
        (Box::new(DecryptError::Decode(decode)), decode.to_string()),
        (Box::new(GroupError::Decode(decode)), decode.to_string()),
        (Box::new(FirstMessageError::Decode(decode)), decode.to_string()),
        (
            Box::new(FirstMessageError::Message(DecryptError::NotForThisSession)),
            DecryptError::NotForThisSession.to_string(),
        ),
        (Box::new(DecodeError::InvalidKey(key)), key.to_string()),
        (Box::new(StartError::InvalidKey(key)), key.to_string()),
        (Box::new(EncryptError::InvalidKey(key)), key.to_string()),
        (Box::new(DecryptError::InvalidKey(key)), key.to_string()),
    ];
    for (e, inner) in &wrapped {
        match e.source() {
            Some(source) => {
                assert_eq!(&source.to_string(), inner);
                assert!(!e.to_string().contains(inner.as_str()), "{e} repeats its source {source}");
            }
            None => assert!(e.to_string().contains(inner.as_str()), "{e} hides {inner}"),
        }
    }
}
