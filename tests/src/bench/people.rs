//! Synthetic persons of the registry, valid by construction.
//!
//! A person is a pure function of a [`Slot`] and an index: the names spell three-consonant
//! codes (`Bacedi`, `Bocado`), so the codice fiscale's name letters follow from the index,
//! and the codice fiscale itself is computed by `pin_domain`
//! ([`CodiceFiscale::from_personal_data`]), so it agrees with names, sex and birth date
//! exactly as the server checks it. The slot picks the birth place (a Belfiore code) and
//! goes into the house number and the health card, so two runs that use different slots
//! never share a codice fiscale, a postal recipient or a health card.
//!
//! Within a slot the index ranges of the run's groups (the real-flow citizens, the login
//! pool, the persons who will ask for a PIN, the import) are laid out by [`Layout`].

use pin_domain::{BelfioreCode, CodiceFiscale, PersonName, Sex};
use pin_proto::v1 as pb;

/// The 20 consonants a name code is spelt with.
const CONSONANTS: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// How many distinct (family, given) name pairs a slot holds: every index below this has
/// its own pair, hence its own codice fiscale.
pub const INDICES_PER_SLOT: u32 = 8000 * 8000;

/// How many slots there are: one per Belfiore code `A001`..`Z999`.
pub const SLOTS: u32 = 26 * 999;

/// A range of codici fiscali of their own, one per bench run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(u32);

impl Slot {
    /// The `number`-th slot, if there is one.
    pub fn new(number: u32) -> Option<Slot> {
        (number < SLOTS).then_some(Slot(number))
    }

    /// Its number.
    pub fn number(self) -> u32 {
        self.0
    }

    /// The birth place of its persons: `A001` for slot 0, `A002` for slot 1, …
    fn birth_place(self) -> String {
        let letter = char::from(b'A' + u8::try_from(self.0 / 999).unwrap_or(25));
        format!("{letter}{:03}", self.0 % 999 + 1)
    }
}

/// Where each group of a run's persons lies within its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Citizens that get their PIN through the real flow (after the marker, index 0).
    pub real_flow: u32,
    /// Citizens whose credentials are written straight into the database.
    pub citizens: u32,
    /// Persons with no PIN, for the `request` scenario.
    pub requesters: u32,
    /// Persons sent by the `import` scenario.
    pub imported: u32,
}

impl Layout {
    /// The index of the marker person, upserted first: its presence says the slot is used.
    pub const MARKER: u32 = 0;

    /// The real-flow citizens' indices.
    pub fn real_flow(&self) -> std::ops::Range<u32> {
        1..1 + self.real_flow
    }

    /// The database-seeded citizens' indices.
    pub fn citizens(&self) -> std::ops::Range<u32> {
        let start = self.real_flow().end;
        start..start + self.citizens
    }

    /// The requesters' indices.
    pub fn requesters(&self) -> std::ops::Range<u32> {
        let start = self.citizens().end;
        start..start + self.requesters
    }

    /// The imported persons' indices.
    pub fn imported(&self) -> std::ops::Range<u32> {
        let start = self.requesters().end;
        start..start + self.imported
    }

    /// Whether every index fits in a slot.
    pub fn fits(&self) -> bool {
        u64::from(self.real_flow)
            + u64::from(self.citizens)
            + u64::from(self.requesters)
            + u64::from(self.imported)
            < u64::from(INDICES_PER_SLOT)
    }
}

/// A name whose code is the three consonants `code` (each an index into [`CONSONANTS`]),
/// with `vowels` between them: `Bacedi`, `Bocado`.
fn name(code: u32, vowels: [char; 3]) -> String {
    let letter = |position: u32| char::from(CONSONANTS[(position % 20) as usize]);
    let (first, second, third) = (code / 400, code / 20, code);
    let mut name = String::with_capacity(6);
    name.push(letter(first));
    name.push(vowels[0]);
    name.push(letter(second).to_ascii_lowercase());
    name.push(vowels[1]);
    name.push(letter(third).to_ascii_lowercase());
    name.push(vowels[2]);
    name
}

/// The person at `index` of `slot`, as the registry receives it.
pub fn person(slot: Slot, index: u32) -> anyhow::Result<pb::Person> {
    let family_name = name(index % 8000, ['a', 'e', 'i']);
    let given_name = name((index / 8000) % 8000, ['o', 'a', 'o']);
    let sex = if index.is_multiple_of(2) {
        Sex::Male
    } else {
        Sex::Female
    };
    let month = time::Month::try_from(u8::try_from((index / 60) % 12 + 1)?)?;
    let birth_date = time::Date::from_calendar_date(
        1940 + i32::try_from(index % 60)?,
        month,
        u8::try_from((index / 720) % 28 + 1)?,
    )?;
    let place = slot.birth_place();
    let cf = CodiceFiscale::from_personal_data(
        &PersonName::parse(&family_name)?,
        &PersonName::parse(&given_name)?,
        sex,
        birth_date,
        &BelfioreCode::parse(&place)?,
    );
    Ok(pb::Person {
        codice_fiscale: cf.as_str().to_owned(),
        family_name,
        given_name,
        sex: match sex {
            Sex::Female => pb::Sex::Female.into(),
            Sex::Male => pb::Sex::Male.into(),
        },
        birth_date: pin_domain::format_date(birth_date),
        birth_place: place,
        residence: Some(residence(slot, index)),
        health_card: Some(pb::HealthCard {
            number: format!("80{:05}{:013}", slot.0, index),
            expiry: "2031-12-31".to_owned(),
        }),
        // A private-sector worker consults the contribution statement (ALLOW) and files
        // NASpI applications, held while the PIN is ordinary (HELD).
        categories: vec![pb::Category::PrivateSectorWorker.into()],
    })
}

/// The residence of the person at `index`: the house number carries slot and index, so no
/// two bench persons share a postal recipient.
fn residence(slot: Slot, index: u32) -> pb::PostalAddress {
    pb::PostalAddress {
        street: "Via Banco di Prova".to_owned(),
        number: format!("{}/{index}", slot.0),
        cap: "00185".to_owned(),
        municipality: "Roma".to_owned(),
        province: "RM".to_owned(),
    }
}

/// The mobile number the person at `index` gives when asking for a PIN (E.164, as the
/// server stores it and as the SMS delivery names it).
pub fn mobile(slot: Slot, index: u32) -> String {
    format!("+393{:04}{:05}", slot.0 % 10_000, index % 100_000)
}

/// The first line of the postal recipient of the letters sent to `person`.
pub fn postal_name(person: &pb::Person) -> String {
    format!("{} {}", person.given_name, person.family_name)
}

/// The online PIN request of `person`: the residence as in the registry, a mobile number
/// for the first half and an e-mail address (two contacts, so no warning).
pub fn pin_request(
    slot: Slot,
    index: u32,
    person: &pb::Person,
    request_id: String,
) -> pb::RequestPinOnlineRequest {
    pb::RequestPinOnlineRequest {
        request_id,
        applicant: Some(pb::Applicant {
            codice_fiscale: person.codice_fiscale.clone(),
            family_name: person.family_name.clone(),
            given_name: person.given_name.clone(),
            sex: person.sex,
            birth_date: person.birth_date.clone(),
            residence: person.residence.clone(),
            callback_phone: "06 1234 5678".to_owned(),
            contacts: Some(pb::ContactDetails {
                mobile: mobile(slot, index),
                email: format!("bench.{}.{index}@example.org", slot.0),
                pec: String::new(),
            }),
            first_half_channel: pb::FirstHalfChannel::Sms.into(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parsed(slot: Slot, index: u32) -> pin_domain::Person {
        let p = person(slot, index).unwrap();
        let residence = p.residence.clone().unwrap();
        let card = p.health_card.clone().unwrap();
        let sex = if p.sex == i32::from(pb::Sex::Female) {
            "F"
        } else {
            "M"
        };
        pin_domain::Person::parse(&pin_domain::RawPerson {
            codice_fiscale: &p.codice_fiscale,
            family_name: &p.family_name,
            given_name: &p.given_name,
            sex,
            birth_date: &p.birth_date,
            birth_place: &p.birth_place,
            street: &residence.street,
            street_number: &residence.number,
            cap: &residence.cap,
            municipality: &residence.municipality,
            province: &residence.province,
            health_card_number: &card.number,
            health_card_expiry: &card.expiry,
            categories: vec!["PRIVATE_SECTOR_WORKER"],
        })
        .unwrap()
    }

    #[test]
    fn synthetic_persons_pass_the_registrys_checks_and_never_share_a_codice_fiscale() {
        let mut seen = std::collections::HashSet::new();
        for slot in [0, 1, 998, 999, SLOTS - 1] {
            let slot = Slot::new(slot).unwrap();
            for index in (0..3000).chain([7999, 8000, 8001, 1_000_000, INDICES_PER_SLOT - 1]) {
                let person = parsed(slot, index);
                assert!(seen.insert(person.codice_fiscale.as_str().to_owned()));
            }
        }
    }

    #[test]
    fn mobile_numbers_parse_as_the_server_stores_them() {
        let slot = Slot::new(12_345).unwrap();
        for index in [0, 1, 99_999, 1_234_567] {
            let number = mobile(slot, index);
            assert_eq!(
                pin_domain::MobileNumber::parse(&number).unwrap().as_str(),
                number
            );
        }
    }

    #[test]
    fn the_groups_of_a_layout_do_not_overlap() {
        let layout = Layout {
            real_flow: 4,
            citizens: 100,
            requesters: 10,
            imported: 1000,
        };
        assert_eq!(layout.real_flow(), 1..5);
        assert_eq!(layout.citizens(), 5..105);
        assert_eq!(layout.requesters(), 105..115);
        assert_eq!(layout.imported(), 115..1115);
        assert!(layout.fits());
    }
}
