//! The one place where core errors become `CK_RV`.

use crate::error::Error;
use cryptoki_sys::*;

pub fn to_rv(e: &Error) -> CK_RV {
    use Error::*;
    match e {
        ActionProhibited => CKR_ACTION_PROHIBITED,
        ArgumentsBad => CKR_ARGUMENTS_BAD,
        AttributeReadOnly => CKR_ATTRIBUTE_READ_ONLY,
        AttributeSensitive => CKR_ATTRIBUTE_SENSITIVE,
        AttributeTypeInvalid => CKR_ATTRIBUTE_TYPE_INVALID,
        AttributeValueInvalid => CKR_ATTRIBUTE_VALUE_INVALID,
        BufferTooSmall => CKR_BUFFER_TOO_SMALL,
        CryptokiAlreadyInitialized => CKR_CRYPTOKI_ALREADY_INITIALIZED,
        CryptokiNotInitialized => CKR_CRYPTOKI_NOT_INITIALIZED,
        CantLock => CKR_CANT_LOCK,
        CurveNotSupported => CKR_CURVE_NOT_SUPPORTED,
        DataInvalid => CKR_DATA_INVALID,
        DataLenRange => CKR_DATA_LEN_RANGE,
        DomainParamsInvalid => CKR_DOMAIN_PARAMS_INVALID,
        EncryptedDataInvalid => CKR_ENCRYPTED_DATA_INVALID,
        AeadDecryptFailed => CKR_AEAD_DECRYPT_FAILED,
        EncryptedDataLenRange => CKR_ENCRYPTED_DATA_LEN_RANGE,
        FunctionNotSupported => CKR_FUNCTION_NOT_SUPPORTED,
        FunctionFailed => CKR_FUNCTION_FAILED,
        FunctionNotParallel => CKR_FUNCTION_NOT_PARALLEL,
        GeneralError => CKR_GENERAL_ERROR,
        HostMemory => CKR_HOST_MEMORY,
        KeyFunctionNotPermitted => CKR_KEY_FUNCTION_NOT_PERMITTED,
        KeyHandleInvalid => CKR_KEY_HANDLE_INVALID,
        KeyIndigestible => CKR_KEY_INDIGESTIBLE,
        KeyNotWrappable => CKR_KEY_NOT_WRAPPABLE,
        KeySizeRange => CKR_KEY_SIZE_RANGE,
        KeyTypeInconsistent => CKR_KEY_TYPE_INCONSISTENT,
        KeyUnextractable => CKR_KEY_UNEXTRACTABLE,
        MechanismInvalid => CKR_MECHANISM_INVALID,
        MechanismParamInvalid => CKR_MECHANISM_PARAM_INVALID,
        NoEvent => CKR_NO_EVENT,
        ObjectHandleInvalid => CKR_OBJECT_HANDLE_INVALID,
        OperationActive => CKR_OPERATION_ACTIVE,
        OperationNotInitialized => CKR_OPERATION_NOT_INITIALIZED,
        PinIncorrect => CKR_PIN_INCORRECT,
        PinInvalid => CKR_PIN_INVALID,
        PinLenRange => CKR_PIN_LEN_RANGE,
        PinLocked => CKR_PIN_LOCKED,
        RandomSeedNotSupported => CKR_RANDOM_SEED_NOT_SUPPORTED,
        SessionCount => CKR_SESSION_COUNT,
        SessionExists => CKR_SESSION_EXISTS,
        SessionHandleInvalid => CKR_SESSION_HANDLE_INVALID,
        SessionParallelNotSupported => CKR_SESSION_PARALLEL_NOT_SUPPORTED,
        SessionReadOnly => CKR_SESSION_READ_ONLY,
        SessionReadOnlyExists => CKR_SESSION_READ_ONLY_EXISTS,
        SessionReadWriteSoExists => CKR_SESSION_READ_WRITE_SO_EXISTS,
        SignatureInvalid => CKR_SIGNATURE_INVALID,
        SignatureLenRange => CKR_SIGNATURE_LEN_RANGE,
        SlotIdInvalid => CKR_SLOT_ID_INVALID,
        TemplateIncomplete => CKR_TEMPLATE_INCOMPLETE,
        TemplateInconsistent => CKR_TEMPLATE_INCONSISTENT,
        TokenNotPresent => CKR_TOKEN_NOT_PRESENT,
        TokenNotRecognized => CKR_TOKEN_NOT_RECOGNIZED,
        TokenWriteProtected => CKR_TOKEN_WRITE_PROTECTED,
        UserAlreadyLoggedIn => CKR_USER_ALREADY_LOGGED_IN,
        UserAnotherAlreadyLoggedIn => CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
        UserNotLoggedIn => CKR_USER_NOT_LOGGED_IN,
        UserPinNotInitialized => CKR_USER_PIN_NOT_INITIALIZED,
        UserTooManyTypes => CKR_USER_TOO_MANY_TYPES,
        UserTypeInvalid => CKR_USER_TYPE_INVALID,
        UnwrappingKeyHandleInvalid => CKR_UNWRAPPING_KEY_HANDLE_INVALID,
        UnwrappingKeySizeRange => CKR_UNWRAPPING_KEY_SIZE_RANGE,
        UnwrappingKeyTypeInconsistent => CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
        WrappedKeyInvalid => CKR_WRAPPED_KEY_INVALID,
        WrappedKeyLenRange => CKR_WRAPPED_KEY_LEN_RANGE,
        WrappingKeyHandleInvalid => CKR_WRAPPING_KEY_HANDLE_INVALID,
        WrappingKeySizeRange => CKR_WRAPPING_KEY_SIZE_RANGE,
        WrappingKeyTypeInconsistent => CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
        Storage(m) => {
            crate::log_error!("token storage: {m}");
            CKR_DEVICE_ERROR
        }
        DiskFull(m) => {
            crate::log_error!("token storage full, nothing written: {m}");
            CKR_DEVICE_MEMORY
        }
        Config(_) => CKR_GENERAL_ERROR,
    }
}
