//! The service catalog: which categories of people may consult and submit each of the
//! institute's services, the PIN level each action needs, and whether a submission filed with
//! an ordinary PIN is held until the PIN becomes dispositive.
//!
//! "Services follow the profile": a pensioner cannot use workers' services, and the private
//! scheme (Gestione Privata) and the public-employee scheme (Gestione Dipendenti Pubblici) are
//! separate. The catalog is configuration: the server reads it from a file and builds it with
//! [`ServiceCatalog::new`], which checks every entry once, so code holding a catalog never
//! re-checks it. [`ServiceCatalog::decide`] answers one authorization question;
//! [`ServiceCatalog::entitlements`] lists what a holder may do.

use std::collections::{BTreeMap, BTreeSet, btree_map};

use crate::{Category, Level, ServiceId};

/// What a holder wants to do with a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Read their data (e.g. a contribution statement).
    Consult,
    /// Submit an application (e.g. for a benefit).
    Submit,
}

impl Action {
    /// Both actions, consult first.
    pub const ALL: [Action; 2] = [Self::Consult, Self::Submit];
}

/// The answer to an authorization question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused, for this reason.
    Deny(DenyReason),
    /// An ordinary PIN filed a submission on a service that holds them: record it with its
    /// filing time and release it when the PIN becomes dispositive; do not process it yet.
    Hold,
}

/// Why an action on a service was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// None of the holder's categories gives access to this service and action.
    CategoryNotEntitled,
    /// The action needs a higher level and the service does not hold the submission.
    LevelInsufficient,
}

/// One service of the catalog.
///
/// The fields are public so the server can build entries from its configuration; only
/// [`ServiceCatalog::new`] accepts them, after checking them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// The service's identifier, e.g. `naspi`.
    pub id: ServiceId,
    /// The name shown to citizens, in Italian: 1 to [`ServiceEntry::MAX_NAME_CHARS`]
    /// characters, no control characters; surrounding whitespace is trimmed.
    pub name: String,
    /// Categories that may consult the service.
    pub consult: BTreeSet<Category>,
    /// Categories that may submit applications; always a subset of `consult`.
    pub submit: BTreeSet<Category>,
    /// The level consulting needs.
    pub consult_level: Level,
    /// The level submitting needs; never below `consult_level`.
    pub submit_level: Level,
    /// Whether a submission filed with an ordinary PIN is held (recorded, and released when
    /// the PIN becomes dispositive, so deadlines stop running) rather than denied. Only
    /// meaningful when `submit_level` is dispositive and someone may submit.
    pub hold_ordinary_submissions: bool,
}

impl ServiceEntry {
    /// The longest name accepted, in characters.
    pub const MAX_NAME_CHARS: usize = 100;

    /// The categories that may perform `action`.
    pub fn categories(&self, action: Action) -> &BTreeSet<Category> {
        match action {
            Action::Consult => &self.consult,
            Action::Submit => &self.submit,
        }
    }

    /// The level `action` needs.
    pub fn required_level(&self, action: Action) -> Level {
        match action {
            Action::Consult => self.consult_level,
            Action::Submit => self.submit_level,
        }
    }

    /// Decides whether a holder with these categories and this PIN level may perform
    /// `action` on this service. The category comes first: a holder whose categories do not
    /// reach the service is told so whatever their level. Then the level: enough allows;
    /// an ordinary PIN submitting to a service that holds ordinary submissions is held;
    /// anything else is denied as insufficient.
    pub fn decide(
        &self,
        categories: &BTreeSet<Category>,
        level: Level,
        action: Action,
    ) -> Decision {
        if self.categories(action).is_disjoint(categories) {
            return Decision::Deny(DenyReason::CategoryNotEntitled);
        }
        if level >= self.required_level(action) {
            Decision::Allow
        } else if action == Action::Submit
            && self.hold_ordinary_submissions
            && level == Level::Ordinary
        {
            Decision::Hold
        } else {
            Decision::Deny(DenyReason::LevelInsufficient)
        }
    }

    /// Checks one entry, trimming its name.
    fn checked(mut self) -> Result<Self, CatalogError> {
        let id = self.id.clone();
        let name = self.name.trim();
        if name.is_empty() {
            return Err(CatalogError::EmptyName { id });
        }
        if name.chars().count() > Self::MAX_NAME_CHARS {
            return Err(CatalogError::NameTooLong {
                id,
                max: Self::MAX_NAME_CHARS,
            });
        }
        if name.chars().any(char::is_control) {
            return Err(CatalogError::NameControlCharacter { id });
        }
        self.name = name.to_owned();
        if self.consult.is_empty() && self.submit.is_empty() {
            return Err(CatalogError::Unusable { id });
        }
        if let Some(&category) = self.submit.difference(&self.consult).next() {
            return Err(CatalogError::SubmitterCannotConsult { id, category });
        }
        if self.submit_level < self.consult_level {
            return Err(CatalogError::SubmitLevelBelowConsultLevel { id });
        }
        if self.hold_ordinary_submissions {
            if self.submit.is_empty() {
                return Err(CatalogError::HoldWithoutSubmitters { id });
            }
            if self.submit_level == Level::Ordinary {
                return Err(CatalogError::HoldWithOrdinarySubmitLevel { id });
            }
        }
        Ok(self)
    }
}

/// Why a catalog was refused; names the service at fault (except for an empty catalog).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The catalog lists no service.
    #[error("the service catalog lists no service")]
    Empty,
    /// Two entries share an id.
    #[error("service {id} is listed more than once")]
    DuplicateId {
        /// The repeated id.
        id: ServiceId,
    },
    /// The name is empty or only whitespace.
    #[error("service {id}: name is empty")]
    EmptyName {
        /// The service.
        id: ServiceId,
    },
    /// The name is too long.
    #[error("service {id}: name is too long: at most {max} characters")]
    NameTooLong {
        /// The service.
        id: ServiceId,
        /// The longest name accepted, in characters.
        max: usize,
    },
    /// The name contains a control character (a line break, a tab, …).
    #[error("service {id}: name contains a control character")]
    NameControlCharacter {
        /// The service.
        id: ServiceId,
    },
    /// No category may consult or submit the service.
    #[error("service {id}: no category may consult or submit it")]
    Unusable {
        /// The service.
        id: ServiceId,
    },
    /// A category may submit but not consult: submitters must be consumers.
    #[error("service {id}: {category} may submit but not consult; add it to consult")]
    SubmitterCannotConsult {
        /// The service.
        id: ServiceId,
        /// The first such category.
        category: Category,
    },
    /// Submitting would need a lower level than consulting.
    #[error("service {id}: submit_level must not be lower than consult_level")]
    SubmitLevelBelowConsultLevel {
        /// The service.
        id: ServiceId,
    },
    /// Holding ordinary submissions of a service nobody may submit to.
    #[error("service {id}: hold_ordinary_submissions is set but no category may submit")]
    HoldWithoutSubmitters {
        /// The service.
        id: ServiceId,
    },
    /// Holding ordinary submissions when an ordinary PIN may submit anyway.
    #[error("service {id}: hold_ordinary_submissions is meaningless when submit_level is ORDINARY")]
    HoldWithOrdinarySubmitLevel {
        /// The service.
        id: ServiceId,
    },
}

impl CatalogError {
    /// The service at fault; `None` for an empty catalog.
    pub fn service(&self) -> Option<&ServiceId> {
        match self {
            Self::Empty => None,
            Self::DuplicateId { id }
            | Self::EmptyName { id }
            | Self::NameTooLong { id, .. }
            | Self::NameControlCharacter { id }
            | Self::Unusable { id }
            | Self::SubmitterCannotConsult { id, .. }
            | Self::SubmitLevelBelowConsultLevel { id }
            | Self::HoldWithoutSubmitters { id }
            | Self::HoldWithOrdinarySubmitLevel { id } => Some(id),
        }
    }
}

/// What a holder may do with one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entitlement<'a> {
    /// The service.
    pub service: &'a ServiceEntry,
    /// The holder may consult now.
    pub can_consult: bool,
    /// The holder may submit now.
    pub can_submit: bool,
    /// A submission would be held until the PIN becomes dispositive.
    pub submission_held: bool,
}

/// The institute's services and who may use them, checked once when built.
///
/// Rules checked by [`ServiceCatalog::new`], besides well-formed names and unique ids:
/// - every service is usable by someone: a category may consult it;
/// - **submitters are consumers**: every category that may submit may also consult (filing
///   an application for a service one cannot see makes no sense, and it keeps
///   [`ServiceCatalog::entitlements`] honest);
/// - submitting never needs a lower level than consulting;
/// - `hold_ordinary_submissions` is set only where it can matter: someone may submit, and
///   submitting needs a dispositive PIN.
///
/// There is deliberately no `Default`: the catalog the server ships lives in its
/// configuration, where an operator can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCatalog {
    services: BTreeMap<ServiceId, ServiceEntry>,
}

impl ServiceCatalog {
    /// Checks the entries and builds the catalog. Entries are checked in the order given,
    /// and the first problem is returned.
    pub fn new(entries: Vec<ServiceEntry>) -> Result<Self, CatalogError> {
        if entries.is_empty() {
            return Err(CatalogError::Empty);
        }
        let mut services = BTreeMap::new();
        for entry in entries {
            let entry = entry.checked()?;
            match services.entry(entry.id.clone()) {
                btree_map::Entry::Occupied(_) => {
                    return Err(CatalogError::DuplicateId { id: entry.id });
                }
                btree_map::Entry::Vacant(slot) => {
                    slot.insert(entry);
                }
            }
        }
        Ok(Self { services })
    }

    /// The service with this id.
    pub fn get(&self, id: &ServiceId) -> Option<&ServiceEntry> {
        self.services.get(id)
    }

    /// How many services the catalog lists (never zero).
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Always `false`: an empty catalog is refused. Here for completeness.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// The services, in id order.
    pub fn iter(&self) -> btree_map::Values<'_, ServiceId, ServiceEntry> {
        self.services.values()
    }

    /// Decides whether a holder with these categories and this PIN level may perform
    /// `action` on `service` (see [`ServiceEntry::decide`]); `None` for a service the
    /// catalog does not list.
    pub fn decide(
        &self,
        service: &ServiceId,
        categories: &BTreeSet<Category>,
        level: Level,
        action: Action,
    ) -> Option<Decision> {
        self.get(service)
            .map(|entry| entry.decide(categories, level, action))
    }

    /// The services a holder with these categories and this PIN level may use, in id order:
    /// every service where consulting is allowed, or submitting is allowed or held.
    pub fn entitlements(
        &self,
        categories: &BTreeSet<Category>,
        level: Level,
    ) -> Vec<Entitlement<'_>> {
        self.iter()
            .filter_map(|service| {
                let consult = service.decide(categories, level, Action::Consult);
                let submit = service.decide(categories, level, Action::Submit);
                let entitlement = Entitlement {
                    service,
                    can_consult: consult == Decision::Allow,
                    can_submit: submit == Decision::Allow,
                    submission_held: submit == Decision::Hold,
                };
                (entitlement.can_consult || entitlement.can_submit || entitlement.submission_held)
                    .then_some(entitlement)
            })
            .collect()
    }
}

impl<'a> IntoIterator for &'a ServiceCatalog {
    type Item = &'a ServiceEntry;
    type IntoIter = btree_map::Values<'a, ServiceId, ServiceEntry>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
