//! The credential state machine: a PIN from issuance to its end.
//!
//! A credential is reloaded from the database on every call, so it is plain data: a
//! [`CredentialState`] carrying what each state needs, and one pure function,
//! [`Credential::apply`], whose exhaustive `match` decides every (state, event) pair.
//! Expiry and lapse are not stored states: they are derived from the stored instants and
//! `now`, so they can never be stale.

use time::OffsetDateTime;

use crate::{PinHash, Policy};

/// Who holds a PIN; intermediaries' PINs expire sooner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    /// A citizen acting for themselves.
    Citizen,
    /// A patronato, CAF or professional acting for others.
    Intermediary,
}

/// The assurance level of a PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// May consult.
    Ordinary,
    /// May also submit applications.
    Dispositive,
}

/// The channel a PIN was obtained through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssuedVia {
    /// The portal's online request.
    Online,
    /// A contact-center operator (including resolved callback cases).
    ContactCenter,
    /// An office counter, with an identity document and form MV35.
    Office,
    /// A campaign letter, activated online.
    Campaign,
    /// Online recovery (ripristino).
    Recovery,
}

/// Why a PIN was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// By the holder online, confirmed by a link.
    Online,
    /// By a contact-center operator.
    ContactCenter,
}

/// Where a credential stands, with what that state needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialState {
    /// A campaign letter carried the first half; the holder must activate it online with
    /// the first half and their health card to obtain the second.
    AwaitingActivation {
        /// Hash of the first half printed in the letter.
        first_half: PinHash,
        /// When the letter was issued; the lapse clock runs from here.
        issued_at: OffsetDateTime,
    },
    /// A 16-character initial PIN exists; its first use must be first access.
    AwaitingFirstAccess {
        /// Hash of the whole 16-character PIN.
        pin: PinHash,
        /// When the PIN was issued; the lapse clock runs from here.
        issued_at: OffsetDateTime,
    },
    /// In use with an 8-character PIN.
    Active {
        /// Hash of the 8-character PIN.
        pin: PinHash,
        /// When the PIN was last set; the expiry clock runs from here.
        pin_set_at: OffsetDateTime,
    },
    /// Ended on request; never verifies again.
    Revoked {
        /// When.
        at: OffsetDateTime,
        /// By whom.
        reason: RevocationReason,
    },
    /// Replaced by a newer credential (office substitution, recovery); never verifies again.
    Superseded {
        /// When.
        at: OffsetDateTime,
    },
}

/// A PIN credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Who holds it.
    pub holder: Holder,
    /// Its level.
    pub level: Level,
    /// How it was obtained.
    pub issued_via: IssuedVia,
    /// Where it stands.
    pub state: CredentialState,
}

/// A derived, time-aware view of a credential, for answers and decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for campaign activation.
    AwaitingActivation,
    /// Waiting for first access.
    AwaitingFirstAccess,
    /// An initial PIN or campaign letter unused past its lifetime.
    Lapsed,
    /// Usable.
    Active,
    /// Correct PIN past its lifetime: renewal required.
    Expired,
    /// Revoked.
    Revoked,
    /// Replaced.
    Superseded,
}

/// What a single-use ticket continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketPurpose {
    /// Completing first access with the 16-character PIN.
    FirstAccess,
    /// Renewing an expired PIN.
    Renewal,
}

/// A ticket as the state machine sees it: what it is for, until when, and which PIN it was
/// issued against. Binding the ticket to the PIN's instant means a ticket dies as soon as
/// the PIN it was issued for changes, which is what makes it single-use together with the
/// store's version check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketClaim {
    /// What it continues.
    pub purpose: TicketPurpose,
    /// The `issued_at` (first access) or `pin_set_at` (renewal) of the PIN it was issued for.
    pub bound_to: OffsetDateTime,
    /// Refused at and after this instant.
    pub expires_at: OffsetDateTime,
}

/// Something that happens to a credential. Verification results come in as booleans: the
/// hashing is done outside, on a bounded pool, and only its outcome decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A PIN was presented at login; `verified` says whether it matched.
    Login {
        /// The PIN matched the stored hash.
        verified: bool,
    },
    /// Campaign activation with the first half and the health card.
    ActivateCampaign {
        /// The first half matched.
        first_half_verified: bool,
        /// The health card matched the registry.
        health_card_matches: bool,
        /// Hash of the whole 16-character PIN formed with the new second half.
        pin: PinHash,
    },
    /// First access with a ticket: the 8-character PIN replaces the initial one.
    CompleteFirstAccess {
        /// The ticket presented.
        ticket: TicketClaim,
        /// Hash of the assigned 8-character PIN.
        new_pin: PinHash,
    },
    /// Renewal of an expired PIN with a ticket.
    Renew {
        /// The ticket presented.
        ticket: TicketClaim,
        /// Hash of the new 8-character PIN.
        new_pin: PinHash,
    },
    /// A logged-in holder changes the PIN.
    ChangePin {
        /// The current PIN was given correctly.
        current_verified: bool,
        /// The new PIN equals one of the last PINs.
        recently_used: bool,
        /// Hash of the new PIN.
        new_pin: PinHash,
    },
    /// The PIN verified with a hash of outdated parameters: store `pin`, a hash of the same
    /// PIN with the current parameters. Nothing else changes.
    Rehash {
        /// The new hash of the same PIN.
        pin: PinHash,
    },
    /// Identity verified: the PIN becomes dispositive.
    Upgrade,
    /// Revocation.
    Revoke {
        /// By whom.
        reason: RevocationReason,
    },
    /// A newer credential replaces this one.
    Supersede,
}

/// What a successful event leads to, besides the new credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond the state change.
    None,
    /// Start a session.
    StartSession,
    /// Issue a first-access ticket bound to `bound_to`.
    IssueTicket {
        /// What the ticket is for.
        purpose: TicketPurpose,
        /// The PIN instant the ticket is bound to.
        bound_to: OffsetDateTime,
    },
}

/// The result of a successful event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The credential after the event.
    pub next: Credential,
    /// What else must happen.
    pub effect: Effect,
}

/// Why the state machine refused an event. The server maps every login refusal to one and
/// the same answer, so these distinctions never reach an unauthenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The PIN (or first half) did not match.
    #[error("the pin does not match")]
    WrongPin,
    /// The health card did not match.
    #[error("the health card does not match")]
    WrongHealthCard,
    /// The credential was revoked or replaced.
    #[error("the credential is no longer valid")]
    NotLive,
    /// An initial PIN or campaign letter lapsed unused.
    #[error("the initial pin lapsed unused")]
    Lapsed,
    /// The event does not apply in the current state.
    #[error("the credential is not in a state that allows this")]
    WrongState,
    /// The ticket is for something else, expired, or was issued for another PIN.
    #[error("the ticket is not valid")]
    InvalidTicket,
    /// Renewal asked for a PIN that has not expired.
    #[error("the pin has not expired")]
    NotExpired,
    /// A PIN change on an expired PIN; renewal is the way.
    #[error("the pin has expired")]
    Expired,
    /// The new PIN is one of the last ones.
    #[error("the new pin was used recently")]
    RecentlyUsed,
    /// The credential is already dispositive.
    #[error("the pin is already dispositive")]
    AlreadyDispositive,
    /// The person holds a live PIN, and the new one may not replace it.
    #[error("the person already holds a pin")]
    AlreadyHolds,
}

impl Refusal {
    /// The stored name of the refusal, for audit records: stable whatever the variant is
    /// called in Rust.
    pub const fn code(self) -> &'static str {
        match self {
            Refusal::WrongPin => "WRONG_PIN",
            Refusal::WrongHealthCard => "WRONG_HEALTH_CARD",
            Refusal::NotLive => "NOT_LIVE",
            Refusal::Lapsed => "LAPSED",
            Refusal::WrongState => "WRONG_STATE",
            Refusal::InvalidTicket => "INVALID_TICKET",
            Refusal::NotExpired => "NOT_EXPIRED",
            Refusal::Expired => "EXPIRED",
            Refusal::RecentlyUsed => "RECENTLY_USED",
            Refusal::AlreadyDispositive => "ALREADY_DISPOSITIVE",
            Refusal::AlreadyHolds => "ALREADY_HOLDS",
        }
    }
}

/// What a new PIN does to the one its holder may already hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replacement {
    /// A live PIN blocks the new one; a lapsed one is superseded (online, contact center,
    /// campaign letters).
    IfNotLive,
    /// The new PIN replaces whatever the holder has (office substitution, recovery).
    Always,
}

/// The secret a new credential starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialSecret {
    /// A whole 16-character initial PIN (online, contact center, office, recovery).
    Pin(PinHash),
    /// Only the first half, printed in a campaign letter; the second comes at activation.
    CampaignFirstHalf(PinHash),
}

/// A new credential to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    /// Who will hold it.
    pub holder: Holder,
    /// Its level.
    pub level: Level,
    /// The channel.
    pub issued_via: IssuedVia,
    /// What it starts from.
    pub secret: InitialSecret,
}

/// A decided issuance: the new credential, and the current one's end if it had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuance {
    /// The credential to store.
    pub issued: Credential,
    /// The holder's current credential after it was superseded, if it had to be.
    pub superseded: Option<Credential>,
}

impl Credential {
    /// Decides whether `new` may be issued to a person whose current credential is
    /// `current`, and what becomes of that one. A dead current credential (revoked or
    /// superseded) is simply left as it is.
    pub fn issue(
        current: Option<&Credential>,
        new: NewCredential,
        replacement: Replacement,
        now: OffsetDateTime,
        policy: &Policy,
    ) -> Result<Issuance, Refusal> {
        let superseded = match current {
            Some(current) if current.is_live(now, policy) => match replacement {
                Replacement::IfNotLive => return Err(Refusal::AlreadyHolds),
                Replacement::Always => Some(current.apply(Event::Supersede, now, policy)?.next),
            },
            // A lapsed initial PIN is live no more, but still stored as awaiting: end it.
            Some(current) if current.status(now, policy) == Status::Lapsed => {
                Some(current.apply(Event::Supersede, now, policy)?.next)
            }
            Some(_) | None => None,
        };
        let state = match new.secret {
            InitialSecret::Pin(pin) => CredentialState::AwaitingFirstAccess {
                pin,
                issued_at: now,
            },
            InitialSecret::CampaignFirstHalf(first_half) => CredentialState::AwaitingActivation {
                first_half,
                issued_at: now,
            },
        };
        Ok(Issuance {
            issued: Credential {
                holder: new.holder,
                level: new.level,
                issued_via: new.issued_via,
                state,
            },
            superseded,
        })
    }

    /// The time-aware status of the credential at `now`.
    pub fn status(&self, now: OffsetDateTime, policy: &Policy) -> Status {
        match &self.state {
            CredentialState::AwaitingActivation { issued_at, .. } => {
                if now >= *issued_at + policy.initial_pin_lifetime() {
                    Status::Lapsed
                } else {
                    Status::AwaitingActivation
                }
            }
            CredentialState::AwaitingFirstAccess { issued_at, .. } => {
                if now >= *issued_at + policy.initial_pin_lifetime() {
                    Status::Lapsed
                } else {
                    Status::AwaitingFirstAccess
                }
            }
            CredentialState::Active { pin_set_at, .. } => {
                if now >= self.expires_at(*pin_set_at, policy) {
                    Status::Expired
                } else {
                    Status::Active
                }
            }
            CredentialState::Revoked { .. } => Status::Revoked,
            CredentialState::Superseded { .. } => Status::Superseded,
        }
    }

    /// Whether the credential still stands for its holder: not revoked, replaced or lapsed.
    /// An expired PIN is live: its holder renews it.
    pub fn is_live(&self, now: OffsetDateTime, policy: &Policy) -> bool {
        !matches!(
            self.status(now, policy),
            Status::Lapsed | Status::Revoked | Status::Superseded
        )
    }

    /// When the current PIN stops being usable without renewal or first access, if ever.
    pub fn pin_expires_at(&self, policy: &Policy) -> Option<OffsetDateTime> {
        match &self.state {
            CredentialState::AwaitingActivation { issued_at, .. }
            | CredentialState::AwaitingFirstAccess { issued_at, .. } => {
                Some(*issued_at + policy.initial_pin_lifetime())
            }
            CredentialState::Active { pin_set_at, .. } => {
                Some(self.expires_at(*pin_set_at, policy))
            }
            CredentialState::Revoked { .. } | CredentialState::Superseded { .. } => None,
        }
    }

    /// The hash a login PIN is verified against, if the state has one.
    pub fn login_hash(&self) -> Option<&PinHash> {
        match &self.state {
            CredentialState::AwaitingFirstAccess { pin, .. }
            | CredentialState::Active { pin, .. } => Some(pin),
            CredentialState::AwaitingActivation { .. }
            | CredentialState::Revoked { .. }
            | CredentialState::Superseded { .. } => None,
        }
    }

    /// The hash a campaign letter's first half is verified against, while it awaits
    /// activation.
    pub fn activation_hash(&self) -> Option<&PinHash> {
        match &self.state {
            CredentialState::AwaitingActivation { first_half, .. } => Some(first_half),
            CredentialState::AwaitingFirstAccess { .. }
            | CredentialState::Active { .. }
            | CredentialState::Revoked { .. }
            | CredentialState::Superseded { .. } => None,
        }
    }

    fn expires_at(&self, pin_set_at: OffsetDateTime, policy: &Policy) -> OffsetDateTime {
        pin_set_at + policy.pin_lifetime(self.holder)
    }

    fn with_state(&self, state: CredentialState) -> Credential {
        Credential {
            state,
            ..self.clone()
        }
    }

    /// Applies `event` at `now`: the new credential and what must follow, or a refusal.
    pub fn apply(
        &self,
        event: Event,
        now: OffsetDateTime,
        policy: &Policy,
    ) -> Result<Transition, Refusal> {
        let status = self.status(now, policy);
        let dead = match status {
            Status::Revoked | Status::Superseded => Some(Refusal::NotLive),
            // A lapsed PIN does nothing any more, but it can still be ended: replaced by a
            // new PIN, or revoked.
            Status::Lapsed if !matches!(event, Event::Supersede | Event::Revoke { .. }) => {
                Some(Refusal::Lapsed)
            }
            _ => None,
        };
        let same = |effect| Transition {
            next: self.clone(),
            effect,
        };
        let moved = |state, effect| Transition {
            next: self.with_state(state),
            effect,
        };
        // A wrong PIN is the same refusal in every state, so that nothing about the
        // credential can be learnt from it; a dead credential refuses everything else.
        if event == (Event::Login { verified: false }) {
            return Err(Refusal::WrongPin);
        }
        if let Some(refusal) = dead {
            return Err(refusal);
        }
        match (&self.state, event) {
            (CredentialState::AwaitingFirstAccess { issued_at, .. }, Event::Login { .. }) => {
                Ok(same(Effect::IssueTicket {
                    purpose: TicketPurpose::FirstAccess,
                    bound_to: *issued_at,
                }))
            }
            (CredentialState::Active { pin_set_at, .. }, Event::Login { .. }) => {
                if status == Status::Expired {
                    Ok(same(Effect::IssueTicket {
                        purpose: TicketPurpose::Renewal,
                        bound_to: *pin_set_at,
                    }))
                } else {
                    Ok(same(Effect::StartSession))
                }
            }
            (CredentialState::AwaitingActivation { .. }, Event::Login { .. }) => {
                Err(Refusal::WrongState)
            }

            (
                CredentialState::AwaitingActivation { .. },
                Event::ActivateCampaign {
                    first_half_verified,
                    health_card_matches,
                    pin,
                },
            ) => {
                if !first_half_verified {
                    Err(Refusal::WrongPin)
                } else if !health_card_matches {
                    Err(Refusal::WrongHealthCard)
                } else {
                    Ok(moved(
                        CredentialState::AwaitingFirstAccess {
                            pin,
                            issued_at: now,
                        },
                        Effect::None,
                    ))
                }
            }
            (
                CredentialState::AwaitingFirstAccess { .. } | CredentialState::Active { .. },
                Event::ActivateCampaign { .. },
            ) => Err(Refusal::WrongState),

            (
                CredentialState::AwaitingFirstAccess { issued_at, .. },
                Event::CompleteFirstAccess { ticket, new_pin },
            ) => {
                check_ticket(&ticket, TicketPurpose::FirstAccess, *issued_at, now)?;
                Ok(moved(
                    CredentialState::Active {
                        pin: new_pin,
                        pin_set_at: now,
                    },
                    Effect::StartSession,
                ))
            }
            (
                CredentialState::AwaitingActivation { .. } | CredentialState::Active { .. },
                Event::CompleteFirstAccess { .. },
            ) => Err(Refusal::InvalidTicket),

            (CredentialState::Active { pin_set_at, .. }, Event::Renew { ticket, new_pin }) => {
                check_ticket(&ticket, TicketPurpose::Renewal, *pin_set_at, now)?;
                if status != Status::Expired {
                    return Err(Refusal::NotExpired);
                }
                Ok(moved(
                    CredentialState::Active {
                        pin: new_pin,
                        pin_set_at: now,
                    },
                    Effect::StartSession,
                ))
            }
            (
                CredentialState::AwaitingActivation { .. }
                | CredentialState::AwaitingFirstAccess { .. },
                Event::Renew { .. },
            ) => Err(Refusal::InvalidTicket),

            (
                CredentialState::Active { .. },
                Event::ChangePin {
                    current_verified,
                    recently_used,
                    new_pin,
                },
            ) => {
                if !current_verified {
                    Err(Refusal::WrongPin)
                } else if status == Status::Expired {
                    Err(Refusal::Expired)
                } else if recently_used {
                    Err(Refusal::RecentlyUsed)
                } else {
                    Ok(moved(
                        CredentialState::Active {
                            pin: new_pin,
                            pin_set_at: now,
                        },
                        Effect::None,
                    ))
                }
            }
            (
                CredentialState::AwaitingActivation { .. }
                | CredentialState::AwaitingFirstAccess { .. },
                Event::ChangePin { .. },
            ) => Err(Refusal::WrongState),

            (CredentialState::AwaitingFirstAccess { issued_at, .. }, Event::Rehash { pin }) => {
                Ok(moved(
                    CredentialState::AwaitingFirstAccess {
                        pin,
                        issued_at: *issued_at,
                    },
                    Effect::None,
                ))
            }
            (CredentialState::Active { pin_set_at, .. }, Event::Rehash { pin }) => Ok(moved(
                CredentialState::Active {
                    pin,
                    pin_set_at: *pin_set_at,
                },
                Effect::None,
            )),
            (CredentialState::AwaitingActivation { .. }, Event::Rehash { .. }) => {
                Err(Refusal::WrongState)
            }

            (
                CredentialState::AwaitingActivation { .. }
                | CredentialState::AwaitingFirstAccess { .. }
                | CredentialState::Active { .. },
                Event::Upgrade,
            ) => {
                if self.level == Level::Dispositive {
                    Err(Refusal::AlreadyDispositive)
                } else {
                    Ok(Transition {
                        next: Credential {
                            level: Level::Dispositive,
                            ..self.clone()
                        },
                        effect: Effect::None,
                    })
                }
            }
            (
                CredentialState::AwaitingActivation { .. }
                | CredentialState::AwaitingFirstAccess { .. }
                | CredentialState::Active { .. },
                Event::Revoke { reason },
            ) => Ok(moved(
                CredentialState::Revoked { at: now, reason },
                Effect::None,
            )),
            (
                CredentialState::AwaitingActivation { .. }
                | CredentialState::AwaitingFirstAccess { .. }
                | CredentialState::Active { .. },
                Event::Supersede,
            ) => Ok(moved(CredentialState::Superseded { at: now }, Effect::None)),
            (
                CredentialState::Revoked { .. } | CredentialState::Superseded { .. },
                Event::Login { .. }
                | Event::ActivateCampaign { .. }
                | Event::CompleteFirstAccess { .. }
                | Event::Renew { .. }
                | Event::ChangePin { .. }
                | Event::Rehash { .. }
                | Event::Upgrade
                | Event::Revoke { .. }
                | Event::Supersede,
            ) => Err(Refusal::NotLive),
        }
    }
}

fn check_ticket(
    ticket: &TicketClaim,
    purpose: TicketPurpose,
    bound_to: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    if ticket.purpose == purpose && ticket.bound_to == bound_to && now < ticket.expires_at {
        Ok(())
    } else {
        Err(Refusal::InvalidTicket)
    }
}
