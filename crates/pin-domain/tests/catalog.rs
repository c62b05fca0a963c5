//! The service catalog: who may consult and submit each service, at which level, and when an
//! ordinary submission is held.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use pin_domain::catalog::{
    Action, CatalogError, Decision, DenyReason, Entitlement, ServiceCatalog, ServiceEntry,
};
use pin_domain::{Category, Level, ServiceId};
use proptest::prelude::*;

use Action::{Consult, Submit};
use Category::{Intermediary, Pensioner, PrivateSectorWorker, PublicSectorEmployee, SelfEmployed};
use Level::{Dispositive, Ordinary};

const ALLOW: Option<Decision> = Some(Decision::Allow);
const HOLD: Option<Decision> = Some(Decision::Hold);
const NOT_ENTITLED: Option<Decision> = Some(Decision::Deny(DenyReason::CategoryNotEntitled));
const TOO_LOW: Option<Decision> = Some(Decision::Deny(DenyReason::LevelInsufficient));

fn id(text: &str) -> ServiceId {
    ServiceId::parse(text).unwrap()
}

fn set(categories: &[Category]) -> BTreeSet<Category> {
    categories.iter().copied().collect()
}

fn entry(
    service: &str,
    consult: &[Category],
    submit: &[Category],
    levels: (Level, Level),
    hold: bool,
) -> ServiceEntry {
    ServiceEntry {
        id: id(service),
        name: format!("Servizio {service}"),
        consult: set(consult),
        submit: set(submit),
        consult_level: levels.0,
        submit_level: levels.1,
        hold_ordinary_submissions: hold,
    }
}

const WORKERS: &[Category] = &[PrivateSectorWorker, PublicSectorEmployee, SelfEmployed];

/// A small catalog covering every kind of entry.
fn entries() -> Vec<ServiceEntry> {
    vec![
        // Private scheme only; ordinary submissions held.
        entry(
            "naspi",
            &[PrivateSectorWorker],
            &[PrivateSectorWorker],
            (Ordinary, Dispositive),
            true,
        ),
        // Public-employee scheme only; ordinary submissions held.
        entry(
            "prestiti-dipendenti-pubblici",
            &[PublicSectorEmployee],
            &[PublicSectorEmployee],
            (Ordinary, Dispositive),
            true,
        ),
        // Every worker; ordinary submissions denied.
        entry(
            "riscatto-laurea",
            WORKERS,
            WORKERS,
            (Ordinary, Dispositive),
            false,
        ),
        // Pensioners, consult only.
        entry(
            "cedolino-pensione",
            &[Pensioner],
            &[],
            (Ordinary, Dispositive),
            false,
        ),
        // Everyone consults, workers submit.
        entry(
            "estratto-conto-contributivo",
            &[
                Pensioner,
                PrivateSectorWorker,
                PublicSectorEmployee,
                SelfEmployed,
                Intermediary,
            ],
            WORKERS,
            (Ordinary, Dispositive),
            false,
        ),
        // Pensioners; an ordinary PIN may submit.
        entry(
            "detrazioni-fiscali-pensionati",
            &[Pensioner],
            &[Pensioner],
            (Ordinary, Ordinary),
            false,
        ),
        // Even consulting needs a dispositive PIN; submissions held.
        entry(
            "mutui-ipotecari-dipendenti-pubblici",
            &[PublicSectorEmployee],
            &[PublicSectorEmployee],
            (Dispositive, Dispositive),
            true,
        ),
    ]
}

fn catalog() -> ServiceCatalog {
    ServiceCatalog::new(entries()).unwrap()
}

#[track_caller]
fn check(
    service: &str,
    categories: &[Category],
    level: Level,
    action: Action,
    expected: Option<Decision>,
) {
    let actual = catalog().decide(&id(service), &set(categories), level, action);
    assert_eq!(
        actual, expected,
        "{action:?} {service} by {categories:?} with a {level:?} PIN"
    );
}

#[test]
fn a_pensioner_cannot_use_workers_services() {
    check("naspi", &[Pensioner], Dispositive, Consult, NOT_ENTITLED);
    check("naspi", &[Pensioner], Dispositive, Submit, NOT_ENTITLED);
    check(
        "riscatto-laurea",
        &[Pensioner],
        Dispositive,
        Consult,
        NOT_ENTITLED,
    );
    check(
        "riscatto-laurea",
        &[Pensioner],
        Dispositive,
        Submit,
        NOT_ENTITLED,
    );
    check("cedolino-pensione", &[Pensioner], Ordinary, Consult, ALLOW);
}

#[test]
fn the_private_and_the_public_employee_schemes_are_separate() {
    check(
        "naspi",
        &[PublicSectorEmployee],
        Dispositive,
        Consult,
        NOT_ENTITLED,
    );
    check(
        "naspi",
        &[PublicSectorEmployee],
        Dispositive,
        Submit,
        NOT_ENTITLED,
    );
    check("naspi", &[PrivateSectorWorker], Dispositive, Submit, ALLOW);
    check(
        "prestiti-dipendenti-pubblici",
        &[PrivateSectorWorker],
        Dispositive,
        Consult,
        NOT_ENTITLED,
    );
    check(
        "prestiti-dipendenti-pubblici",
        &[PrivateSectorWorker],
        Dispositive,
        Submit,
        NOT_ENTITLED,
    );
    check(
        "prestiti-dipendenti-pubblici",
        &[PublicSectorEmployee],
        Dispositive,
        Submit,
        ALLOW,
    );
}

#[test]
fn the_category_is_checked_before_the_level() {
    // An ordinary PIN outside the categories hears about the category, not the level.
    check("naspi", &[SelfEmployed], Ordinary, Submit, NOT_ENTITLED);
    check(
        "mutui-ipotecari-dipendenti-pubblici",
        &[PrivateSectorWorker],
        Ordinary,
        Consult,
        NOT_ENTITLED,
    );
}

#[test]
fn a_holder_without_categories_is_entitled_to_nothing() {
    for service in catalog().iter() {
        for action in Action::ALL {
            check(service.id.as_str(), &[], Dispositive, action, NOT_ENTITLED);
        }
    }
}

#[test]
fn a_consumer_who_is_not_a_submitter_may_consult_only() {
    check(
        "cedolino-pensione",
        &[Pensioner],
        Dispositive,
        Consult,
        ALLOW,
    );
    check(
        "cedolino-pensione",
        &[Pensioner],
        Dispositive,
        Submit,
        NOT_ENTITLED,
    );
    check(
        "estratto-conto-contributivo",
        &[Intermediary],
        Ordinary,
        Consult,
        ALLOW,
    );
    check(
        "estratto-conto-contributivo",
        &[Intermediary],
        Dispositive,
        Submit,
        NOT_ENTITLED,
    );
}

#[test]
fn an_ordinary_pin_may_consult() {
    check("naspi", &[PrivateSectorWorker], Ordinary, Consult, ALLOW);
    check("riscatto-laurea", &[SelfEmployed], Ordinary, Consult, ALLOW);
    check(
        "estratto-conto-contributivo",
        &[Pensioner],
        Ordinary,
        Consult,
        ALLOW,
    );
}

#[test]
fn an_ordinary_submission_is_held_where_the_service_holds_them() {
    check("naspi", &[PrivateSectorWorker], Ordinary, Submit, HOLD);
    check(
        "prestiti-dipendenti-pubblici",
        &[PublicSectorEmployee],
        Ordinary,
        Submit,
        HOLD,
    );
    check(
        "mutui-ipotecari-dipendenti-pubblici",
        &[PublicSectorEmployee],
        Ordinary,
        Submit,
        HOLD,
    );
}

#[test]
fn an_ordinary_submission_is_denied_where_the_service_does_not_hold_them() {
    check(
        "riscatto-laurea",
        &[PrivateSectorWorker],
        Ordinary,
        Submit,
        TOO_LOW,
    );
    check(
        "estratto-conto-contributivo",
        &[SelfEmployed],
        Ordinary,
        Submit,
        TOO_LOW,
    );
}

#[test]
fn holding_applies_to_submissions_only() {
    check(
        "mutui-ipotecari-dipendenti-pubblici",
        &[PublicSectorEmployee],
        Ordinary,
        Consult,
        TOO_LOW,
    );
    check(
        "mutui-ipotecari-dipendenti-pubblici",
        &[PublicSectorEmployee],
        Dispositive,
        Consult,
        ALLOW,
    );
}

#[test]
fn a_dispositive_pin_may_submit() {
    check("naspi", &[PrivateSectorWorker], Dispositive, Submit, ALLOW);
    check(
        "riscatto-laurea",
        &[PublicSectorEmployee],
        Dispositive,
        Submit,
        ALLOW,
    );
    check(
        "mutui-ipotecari-dipendenti-pubblici",
        &[PublicSectorEmployee],
        Dispositive,
        Submit,
        ALLOW,
    );
}

#[test]
fn an_ordinary_pin_may_submit_where_the_service_asks_no_more() {
    check(
        "detrazioni-fiscali-pensionati",
        &[Pensioner],
        Ordinary,
        Submit,
        ALLOW,
    );
    check(
        "detrazioni-fiscali-pensionati",
        &[Pensioner],
        Dispositive,
        Submit,
        ALLOW,
    );
}

#[test]
fn an_unknown_service_has_no_decision() {
    for action in Action::ALL {
        check(
            "bonus-vacanze",
            &[PrivateSectorWorker],
            Dispositive,
            action,
            None,
        );
    }
}

#[test]
fn a_person_with_two_categories_gets_the_union() {
    let both = &[Pensioner, PublicSectorEmployee];
    check("cedolino-pensione", both, Ordinary, Consult, ALLOW);
    check(
        "prestiti-dipendenti-pubblici",
        both,
        Dispositive,
        Submit,
        ALLOW,
    );
    check("prestiti-dipendenti-pubblici", both, Ordinary, Submit, HOLD);
    check(
        "detrazioni-fiscali-pensionati",
        both,
        Ordinary,
        Submit,
        ALLOW,
    );
    check("naspi", both, Dispositive, Consult, NOT_ENTITLED);
}

#[test]
fn the_catalog_is_looked_up_and_iterated_in_id_order() {
    let catalog = catalog();
    assert_eq!(catalog.len(), entries().len());
    assert!(!catalog.is_empty());
    let naspi = catalog.get(&id("naspi")).unwrap();
    assert_eq!(naspi.name, "Servizio naspi");
    assert_eq!(naspi.categories(Submit), &set(&[PrivateSectorWorker]));
    assert_eq!(naspi.required_level(Consult), Ordinary);
    assert_eq!(naspi.required_level(Submit), Dispositive);
    assert!(catalog.get(&id("bonus-vacanze")).is_none());
    let ids: Vec<&str> = catalog.iter().map(|s| s.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    assert_eq!((&catalog).into_iter().count(), catalog.len());
}

#[test]
fn surrounding_whitespace_of_a_name_is_trimmed() {
    let mut entries = entries();
    entries[0].name = "  NASpI – Indennità di disoccupazione \n".to_owned();
    let catalog = ServiceCatalog::new(entries).unwrap();
    assert_eq!(
        catalog.get(&id("naspi")).unwrap().name,
        "NASpI – Indennità di disoccupazione"
    );
}

#[test]
fn a_name_of_the_longest_length_is_accepted() {
    let mut entries = entries();
    entries[0].name = "à".repeat(ServiceEntry::MAX_NAME_CHARS);
    assert!(ServiceCatalog::new(entries).is_ok());
}

#[track_caller]
fn refused(change: impl FnOnce(&mut Vec<ServiceEntry>), expected: CatalogError) {
    let mut entries = entries();
    change(&mut entries);
    let error = ServiceCatalog::new(entries).unwrap_err();
    assert_eq!(error, expected);
    let message = error.to_string();
    assert!(message.starts_with(char::is_lowercase), "{message}");
    if let Some(service) = error.service() {
        assert!(message.contains(service.as_str()), "{message}");
    }
}

#[test]
fn a_faulty_catalog_is_refused_naming_the_service() {
    refused(|e| e.clear(), CatalogError::Empty);
    refused(
        |e| {
            e.push(entry(
                "naspi",
                &[SelfEmployed],
                &[],
                (Ordinary, Ordinary),
                false,
            ))
        },
        CatalogError::DuplicateId { id: id("naspi") },
    );
    refused(
        |e| e[0].name = " \t ".to_owned(),
        CatalogError::EmptyName { id: id("naspi") },
    );
    refused(
        |e| e[0].name = "à".repeat(101),
        CatalogError::NameTooLong {
            id: id("naspi"),
            max: 100,
        },
    );
    refused(
        |e| e[0].name = "NASpI\nbis".to_owned(),
        CatalogError::NameControlCharacter { id: id("naspi") },
    );
    refused(
        |e| {
            e[1].consult.clear();
            e[1].submit.clear();
            e[1].hold_ordinary_submissions = false;
        },
        CatalogError::Unusable {
            id: id("prestiti-dipendenti-pubblici"),
        },
    );
    refused(
        |e| {
            e[0].submit.insert(SelfEmployed);
        },
        CatalogError::SubmitterCannotConsult {
            id: id("naspi"),
            category: SelfEmployed,
        },
    );
    refused(
        |e| e[0].consult.clear(),
        CatalogError::SubmitterCannotConsult {
            id: id("naspi"),
            category: PrivateSectorWorker,
        },
    );
    refused(
        |e| {
            e[2].consult_level = Dispositive;
            e[2].submit_level = Ordinary;
        },
        CatalogError::SubmitLevelBelowConsultLevel {
            id: id("riscatto-laurea"),
        },
    );
    refused(
        |e| e[3].hold_ordinary_submissions = true,
        CatalogError::HoldWithoutSubmitters {
            id: id("cedolino-pensione"),
        },
    );
    refused(
        |e| e[5].hold_ordinary_submissions = true,
        CatalogError::HoldWithOrdinarySubmitLevel {
            id: id("detrazioni-fiscali-pensionati"),
        },
    );
}

#[test]
fn an_error_names_its_service() {
    assert_eq!(CatalogError::Empty.service(), None);
    let error = CatalogError::HoldWithoutSubmitters {
        id: id("cedolino-pensione"),
    };
    assert_eq!(error.service(), Some(&id("cedolino-pensione")));
    assert_eq!(
        error.to_string(),
        "service cedolino-pensione: hold_ordinary_submissions is set but no category may submit"
    );
}

/// `(service, can_consult, can_submit, submission_held)`.
type Row<'a> = (&'a str, bool, bool, bool);

#[track_caller]
fn check_entitlements(categories: &[Category], level: Level, expected: &[Row<'_>]) {
    let catalog = catalog();
    let actual: Vec<Row<'_>> = catalog
        .entitlements(&set(categories), level)
        .into_iter()
        .map(|e: Entitlement<'_>| {
            (
                e.service.id.as_str(),
                e.can_consult,
                e.can_submit,
                e.submission_held,
            )
        })
        .collect();
    assert_eq!(actual, expected, "{categories:?} with a {level:?} PIN");
}

#[test]
fn entitlements_list_the_usable_services_in_id_order() {
    check_entitlements(
        &[Pensioner],
        Ordinary,
        &[
            ("cedolino-pensione", true, false, false),
            ("detrazioni-fiscali-pensionati", true, true, false),
            ("estratto-conto-contributivo", true, false, false),
        ],
    );
    check_entitlements(
        &[PrivateSectorWorker],
        Ordinary,
        &[
            ("estratto-conto-contributivo", true, false, false),
            ("naspi", true, false, true),
            ("riscatto-laurea", true, false, false),
        ],
    );
    check_entitlements(
        &[PrivateSectorWorker],
        Dispositive,
        &[
            ("estratto-conto-contributivo", true, true, false),
            ("naspi", true, true, false),
            ("riscatto-laurea", true, true, false),
        ],
    );
    // Held submission of a service the ordinary PIN cannot even consult: still listed.
    check_entitlements(
        &[PublicSectorEmployee],
        Ordinary,
        &[
            ("estratto-conto-contributivo", true, false, false),
            ("mutui-ipotecari-dipendenti-pubblici", false, false, true),
            ("prestiti-dipendenti-pubblici", true, false, true),
            ("riscatto-laurea", true, false, false),
        ],
    );
    check_entitlements(
        &[Intermediary],
        Dispositive,
        &[("estratto-conto-contributivo", true, false, false)],
    );
    check_entitlements(&[], Dispositive, &[]);
    check_entitlements(
        &[Pensioner, PublicSectorEmployee],
        Dispositive,
        &[
            ("cedolino-pensione", true, false, false),
            ("detrazioni-fiscali-pensionati", true, true, false),
            ("estratto-conto-contributivo", true, true, false),
            ("mutui-ipotecari-dipendenti-pubblici", true, true, false),
            ("prestiti-dipendenti-pubblici", true, true, false),
            ("riscatto-laurea", true, true, false),
        ],
    );
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![Just(Ordinary), Just(Dispositive)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![Just(Consult), Just(Submit)]
}

fn categories() -> impl Strategy<Value = BTreeSet<Category>> {
    proptest::sample::subsequence(Category::ALL.to_vec(), 0..=Category::ALL.len())
        .prop_map(|c| c.into_iter().collect())
}

/// Any entry, valid or not.
fn raw_entry() -> impl Strategy<Value = ServiceEntry> {
    (categories(), categories(), level(), level(), any::<bool>()).prop_map(
        |(consult, submit, consult_level, submit_level, hold)| ServiceEntry {
            id: id("servizio"),
            name: "Servizio".to_owned(),
            consult,
            submit,
            consult_level,
            submit_level,
            hold_ordinary_submissions: hold,
        },
    )
}

/// A valid entry: the raw one, repaired.
fn valid_entry() -> impl Strategy<Value = ServiceEntry> {
    raw_entry().prop_map(|mut entry| {
        entry.consult.insert(Pensioner);
        entry.consult.extend(entry.submit.iter().copied());
        entry.submit_level = entry.submit_level.max(entry.consult_level);
        entry.hold_ordinary_submissions &=
            !entry.submit.is_empty() && entry.submit_level == Dispositive;
        entry
    })
}

proptest! {
    #[test]
    fn decide_never_allows_outside_the_categories_or_below_the_level(
        entry in valid_entry(),
        holder in categories(),
        level in level(),
        action in action(),
    ) {
        let catalog = ServiceCatalog::new(vec![entry.clone()]).unwrap();
        let decision = catalog.decide(&entry.id, &holder, level, action).unwrap();
        if entry.categories(action).is_disjoint(&holder) {
            prop_assert_eq!(decision, Decision::Deny(DenyReason::CategoryNotEntitled));
        }
        if level < entry.required_level(action) {
            prop_assert_ne!(decision, Decision::Allow);
        }
        if decision == Decision::Hold {
            prop_assert_eq!(action, Submit);
            prop_assert_eq!(level, Ordinary);
            prop_assert!(entry.hold_ordinary_submissions);
        }
    }

    #[test]
    fn entitlements_agree_with_decide(
        entry in valid_entry(),
        holder in categories(),
        level in level(),
    ) {
        let catalog = ServiceCatalog::new(vec![entry.clone()]).unwrap();
        let consult = catalog.decide(&entry.id, &holder, level, Consult).unwrap();
        let submit = catalog.decide(&entry.id, &holder, level, Submit).unwrap();
        let listed = catalog.entitlements(&holder, level);
        let usable = consult == Decision::Allow || !matches!(submit, Decision::Deny(_));
        prop_assert_eq!(listed.len(), usize::from(usable));
        if let Some(e) = listed.first() {
            prop_assert_eq!(e.can_consult, consult == Decision::Allow);
            prop_assert_eq!(e.can_submit, submit == Decision::Allow);
            prop_assert_eq!(e.submission_held, submit == Decision::Hold);
        }
    }

    #[test]
    fn whatever_new_accepts_keeps_the_catalog_rules(entry in raw_entry()) {
        if let Ok(catalog) = ServiceCatalog::new(vec![entry]) {
            for e in &catalog {
                prop_assert!(!e.consult.is_empty());
                prop_assert!(e.submit.is_subset(&e.consult));
                prop_assert!(e.submit_level >= e.consult_level);
                if e.hold_ordinary_submissions {
                    prop_assert!(!e.submit.is_empty());
                    prop_assert_eq!(e.submit_level, Dispositive);
                }
            }
        }
    }
}
