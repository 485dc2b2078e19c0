//! The one error type of the core.
//!
//! Each variant names the PKCS#11 return value it stands for; the mapping to `CK_RV` lives in exactly
//! one place, [`crate::ffi::rv`]. Variants carry no secrets: a message, where there is one, describes
//! what failed (a file, a setting), never a PIN, a key or data.

use std::fmt;

/// Result of the core.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything the core can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    ActionProhibited,
    /// The tag of a message-based decryption did not verify (PKCS#11 3.0).
    AeadDecryptFailed,
    ArgumentsBad,
    AttributeReadOnly,
    AttributeSensitive,
    AttributeTypeInvalid,
    AttributeValueInvalid,
    BufferTooSmall,
    CryptokiAlreadyInitialized,
    CryptokiNotInitialized,
    CantLock,
    CurveNotSupported,
    DataInvalid,
    DataLenRange,
    DomainParamsInvalid,
    EncryptedDataInvalid,
    EncryptedDataLenRange,
    FunctionNotSupported,
    FunctionFailed,
    FunctionNotParallel,
    GeneralError,
    HostMemory,
    KeyFunctionNotPermitted,
    KeyHandleInvalid,
    KeyIndigestible,
    KeyNotWrappable,
    KeySizeRange,
    KeyTypeInconsistent,
    KeyUnextractable,
    MechanismInvalid,
    MechanismParamInvalid,
    NoEvent,
    ObjectHandleInvalid,
    OperationActive,
    OperationNotInitialized,
    PinIncorrect,
    PinInvalid,
    PinLenRange,
    PinLocked,
    RandomSeedNotSupported,
    SessionCount,
    SessionExists,
    SessionHandleInvalid,
    SessionParallelNotSupported,
    SessionReadOnly,
    SessionReadOnlyExists,
    SessionReadWriteSoExists,
    SignatureInvalid,
    SignatureLenRange,
    SlotIdInvalid,
    TemplateIncomplete,
    TemplateInconsistent,
    TokenNotPresent,
    TokenNotRecognized,
    TokenWriteProtected,
    UserAlreadyLoggedIn,
    UserAnotherAlreadyLoggedIn,
    UserNotLoggedIn,
    UserPinNotInitialized,
    UserTooManyTypes,
    UserTypeInvalid,
    UnwrappingKeyHandleInvalid,
    UnwrappingKeySizeRange,
    UnwrappingKeyTypeInconsistent,
    WrappedKeyInvalid,
    WrappedKeyLenRange,
    WrappingKeyHandleInvalid,
    WrappingKeySizeRange,
    WrappingKeyTypeInconsistent,
    /// The token's files could not be read or written, or failed their integrity check.
    Storage(String),
    /// A write found the token's file system full (ENOSPC, EDQUOT, SQLITE_FULL): nothing was
    /// changed; reads, logins and operations on existing keys go on.
    DiskFull(String),
    /// The configuration is unusable; the text says what to fix.
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Storage(m) => write!(f, "token storage: {m}"),
            Error::DiskFull(m) => write!(f, "token storage full: {m}"),
            Error::Config(m) => write!(f, "configuration: {m}"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                Error::DiskFull(e.to_string())
            }
            _ => Error::Storage(e.to_string()),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Error::DiskFull(e.to_string()),
            _ => Error::Storage(e.to_string()),
        }
    }
}
