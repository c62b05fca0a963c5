//! The vocabularies that are stored and read by people: delivery channels and purposes,
//! audit actions and outcomes, event kinds, callback reasons, why sessions end.
//!
//! Each is an enum whose stored name is written exactly once, in the table that declares
//! it ([`stable_names!`]): renaming a Rust variant never changes what an auditor, a sending
//! worker or a subscriber reads, and a stored name that no variant claims is refused when
//! read instead of being guessed at.

/// Declares an enum together with its stored upper-case names, in one table, and derives
/// `as_str`, `parse`, `ALL` and `Display` from it.
macro_rules! stable_names {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $stored:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $stored,)+
                }
            }

            /// The value a stored name stands for, if any.
            pub fn parse(stored: &str) -> Option<Self> {
                match stored {
                    $($stored => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stable_names! {
    /// How a delivery travels.
    pub enum DeliveryChannel {
        /// A text message to the mobile number.
        Sms = "SMS",
        /// An e-mail.
        Email = "EMAIL",
        /// A certified e-mail (PEC).
        Pec = "PEC",
        /// A letter to the residence address.
        Post = "POST",
    }
}

stable_names! {
    /// What a delivery carries.
    pub enum DeliveryPurpose {
        /// The first half of an initial PIN.
        PinFirstHalf = "PIN_FIRST_HALF",
        /// The second half of an initial PIN.
        PinSecondHalf = "PIN_SECOND_HALF",
        /// A recovery link.
        RecoveryLink = "RECOVERY_LINK",
        /// A revocation link.
        RevocationLink = "REVOCATION_LINK",
        /// A contact verification code.
        VerificationCode = "VERIFICATION_CODE",
        /// A notice without secrets.
        Notice = "NOTICE",
    }
}

impl DeliveryPurpose {
    /// Whether the delivery carries half of a PIN (a failure then needs a person to act).
    pub fn is_pin_half(self) -> bool {
        matches!(self, Self::PinFirstHalf | Self::PinSecondHalf)
    }
}

stable_names! {
    /// How long before its expiry a PIN's holder is reminded.
    pub enum ReminderThreshold {
        /// Fourteen days before.
        FourteenDays = "FOURTEEN_DAYS",
        /// Three days before.
        ThreeDays = "THREE_DAYS",
    }
}

stable_names! {
    /// What a single-use link sent by e-mail or PEC does when followed.
    pub enum LinkPurpose {
        /// Recovery of a lost PIN.
        Recovery = "RECOVERY",
        /// Online revocation of a PIN.
        Revocation = "REVOCATION",
    }
}

stable_names! {
    /// What an audit record records.
    pub enum AuditAction {
        /// A registry record was inserted or changed.
        UpsertPerson = "UPSERT_PERSON",
        /// A PIN was requested online.
        RequestPinOnline = "REQUEST_PIN_ONLINE",
        /// A contact-center operator filed a PIN request for a caller.
        RequestPinByContactCenter = "REQUEST_PIN_BY_CONTACT_CENTER",
        /// A contact-center operator closed a callback case.
        ResolveCallbackCase = "RESOLVE_CALLBACK_CASE",
        /// A holder asked for a revocation link.
        StartOnlineRevocation = "START_ONLINE_REVOCATION",
        /// A PIN was revoked through a link.
        ConfirmOnlineRevocation = "CONFIRM_ONLINE_REVOCATION",
        /// A contact-center operator revoked a PIN.
        RevokeByContactCenter = "REVOKE_BY_CONTACT_CENTER",
        /// A holder changed their contacts.
        UpdateContacts = "UPDATE_CONTACTS",
        /// A holder proved a contact with the code sent to it.
        VerifyContact = "VERIFY_CONTACT",
        /// A contact-center operator added a contact for a caller.
        AddContactByContactCenter = "ADD_CONTACT_BY_CONTACT_CENTER",
        /// The reminder job queued a reminder that a PIN expires soon.
        RemindExpiry = "REMIND_EXPIRY",
        /// A holder asked for a recovery link.
        StartRecovery = "START_RECOVERY",
        /// A PIN was recovered through a link.
        ConfirmRecovery = "CONFIRM_RECOVERY",
        /// A login.
        Authenticate = "AUTHENTICATE",
        /// First access with the initial PIN.
        CompleteFirstAccess = "COMPLETE_FIRST_ACCESS",
        /// Renewal of an expired PIN.
        RenewExpiredPin = "RENEW_EXPIRED_PIN",
        /// A PIN change by its holder.
        ChangePin = "CHANGE_PIN",
        /// A logout.
        Logout = "LOGOUT",
        /// An application filed with an ordinary PIN was held.
        HoldApplication = "HOLD_APPLICATION",
        /// The sending worker acknowledged a delivery.
        AckDelivery = "ACK_DELIVERY",
        /// An office issued a dispositive PIN at the counter.
        IssuePinAtOffice = "ISSUE_PIN_AT_OFFICE",
        /// An office made a PIN dispositive at the counter.
        UpgradeAtOffice = "UPGRADE_AT_OFFICE",
        /// A campaign letter carrying a first half was issued.
        IssueCampaignPin = "ISSUE_CAMPAIGN_PIN",
        /// A campaign letter's PIN was activated online.
        ActivateCampaignPin = "ACTIVATE_CAMPAIGN_PIN",
        /// A holder sent an identity document for review.
        SubmitIdentityDocument = "SUBMIT_IDENTITY_DOCUMENT",
        /// The back office decided a review.
        ReviewIdentityDocument = "REVIEW_IDENTITY_DOCUMENT",
    }
}

stable_names! {
    /// How an audited action ended.
    pub enum AuditOutcome {
        /// Done.
        Ok = "OK",
        /// Refused; the record's `refusal` detail says why.
        Failed = "FAILED",
        /// A login that opened a session.
        Session = "SESSION",
        /// A login that asks for first access.
        FirstAccessRequired = "FIRST_ACCESS_REQUIRED",
        /// A login that asks for renewal.
        RenewalRequired = "RENEWAL_REQUIRED",
        /// A PIN was issued and its halves are on their way.
        LetterComing = "LETTER_COMING",
        /// The person already holds a PIN: a notice letter went to their residence.
        AlreadyHolds = "ALREADY_HOLDS",
        /// A callback case was opened for the contact center.
        Callback = "CALLBACK",
        /// An application was held.
        Held = "HELD",
        /// A delivery was sent.
        Sent = "SENT",
        /// A registry record was inserted.
        Inserted = "INSERTED",
        /// A registry record was changed.
        Updated = "UPDATED",
        /// A dispositive PIN was issued.
        Issued = "ISSUED",
        /// A dispositive PIN replaced the person's previous one.
        Substituted = "SUBSTITUTED",
        /// A PIN became dispositive.
        Upgraded = "UPGRADED",
        /// A document or a callback case was rejected.
        Rejected = "REJECTED",
    }
}

stable_names! {
    /// What an event of the durable log tells other backends.
    pub enum EventKind {
        /// A held application was released for processing.
        ApplicationReleased = "APPLICATION_RELEASED",
        /// A PIN became dispositive.
        LevelUpgraded = "LEVEL_UPGRADED",
        /// A PIN was revoked or replaced.
        PinRevoked = "PIN_REVOKED",
        /// Sessions of a holder were ended.
        SessionsEnded = "SESSIONS_ENDED",
    }
}

stable_names! {
    /// Why a callback case was opened.
    pub enum CallbackReason {
        /// The registry does not know the person.
        UnknownPerson = "UNKNOWN_PERSON",
        /// The address given does not match the registry.
        AddressMismatch = "ADDRESS_MISMATCH",
        /// A PIN half could not be delivered.
        DeliveryFailed = "DELIVERY_FAILED",
    }
}

stable_names! {
    /// Why a session ended.
    pub enum SessionEnd {
        /// The holder logged out.
        Logout = "LOGOUT",
        /// The holder changed the PIN (the other sessions end).
        PinChanged = "PIN_CHANGED",
        /// The PIN was revoked.
        PinRevoked = "PIN_REVOKED",
        /// A newer PIN replaced this one.
        PinSuperseded = "PIN_SUPERSEDED",
    }
}

stable_names! {
    /// How a PIN came to an end, as told in a `PIN_REVOKED` event.
    pub enum PinEnd {
        /// Revoked by its holder online.
        Online = "ONLINE",
        /// Revoked by a contact-center operator.
        ContactCenter = "CONTACT_CENTER",
        /// Replaced at an office counter.
        OfficeSubstitution = "OFFICE_SUBSTITUTION",
        /// Replaced by a recovery.
        Recovery = "RECOVERY",
        /// An initial PIN that lapsed unused was replaced by a newly requested one.
        Replaced = "REPLACED",
    }
}

stable_names! {
    /// How a PIN became dispositive, as told in a `LEVEL_UPGRADED` event.
    pub enum UpgradeVia {
        /// A back-office review of an identity document.
        DocumentReview = "DOCUMENT_REVIEW",
        /// An operator at an office.
        Office = "OFFICE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn round_trips<T: Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        as_str: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) {
        let mut seen = std::collections::BTreeSet::new();
        for value in all {
            let stored = as_str(*value);
            assert!(seen.insert(stored), "{stored} is stored for two values");
            assert!(
                stored.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{stored} is not an upper-case name"
            );
            assert_eq!(parse(stored), Some(*value));
        }
        assert_eq!(parse("not a stored name"), None);
    }

    #[test]
    fn every_stored_name_is_upper_case_unique_and_parses_back() {
        round_trips(
            DeliveryChannel::ALL,
            DeliveryChannel::as_str,
            DeliveryChannel::parse,
        );
        round_trips(
            DeliveryPurpose::ALL,
            DeliveryPurpose::as_str,
            DeliveryPurpose::parse,
        );
        round_trips(AuditAction::ALL, AuditAction::as_str, AuditAction::parse);
        round_trips(AuditOutcome::ALL, AuditOutcome::as_str, AuditOutcome::parse);
        round_trips(EventKind::ALL, EventKind::as_str, EventKind::parse);
        round_trips(
            CallbackReason::ALL,
            CallbackReason::as_str,
            CallbackReason::parse,
        );
        round_trips(SessionEnd::ALL, SessionEnd::as_str, SessionEnd::parse);
        round_trips(PinEnd::ALL, PinEnd::as_str, PinEnd::parse);
        round_trips(LinkPurpose::ALL, LinkPurpose::as_str, LinkPurpose::parse);
        round_trips(
            ReminderThreshold::ALL,
            ReminderThreshold::as_str,
            ReminderThreshold::parse,
        );
        round_trips(UpgradeVia::ALL, UpgradeVia::as_str, UpgradeVia::parse);
    }

    #[test]
    fn stored_names_do_not_follow_renamed_variants() {
        // The names auditors and workers read: changing one is a data migration.
        assert_eq!(AuditAction::RequestPinOnline.as_str(), "REQUEST_PIN_ONLINE");
        assert_eq!(DeliveryPurpose::PinFirstHalf.as_str(), "PIN_FIRST_HALF");
        assert_eq!(EventKind::SessionsEnded.as_str(), "SESSIONS_ENDED");
    }
}
