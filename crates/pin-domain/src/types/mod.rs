//! Parsed value types: every value that enters the domain from outside (a codice fiscale, a
//! PIN typed at login, an address, a contact) is parsed here once, with the zero2prod pattern:
//! private fields and a `parse` that is the only way in. Code holding one of these types never
//! re-validates it.
//!
//! Every error type has a `reason()` giving a SCREAMING_SNAKE code that the server turns into
//! a gRPC field violation, next to the lowercase human message of its `Display`.

mod address;
mod belfiore;
mod codice_fiscale;
mod contact;
mod document;
mod person;
mod pin;
mod service;
mod text;
mod token;

pub use address::{AddressError, PostalAddress};
pub use belfiore::{BelfioreCode, BelfioreCodeError};
pub use codice_fiscale::{CfDisagreement, CodiceFiscale, CodiceFiscaleError};
pub use contact::{
    ContactKind, ContactKindError, Email, EmailError, MobileNumber, MobileNumberError, Pec,
};
pub use document::{
    DocumentKind, DocumentProblem, IdentityDocument, OfficeReference, OfficeReferenceError,
};
pub use person::{
    Category, CategoryError, HealthCard, HealthCardNumber, HealthCardNumberError, PersonName,
    PersonNameError, Sex, SexError,
};
pub use pin::{PIN_ALPHABET, Pin, Pin8, Pin16, PinError, PinHalf};
pub use service::{ServiceId, ServiceIdError};
pub use token::{OpaqueToken, TokenError, VerificationCode};
