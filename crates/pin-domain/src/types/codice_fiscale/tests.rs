#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use time::Month;
use time::macros::date;

use super::*;
use CodiceFiscaleError as E;

#[track_caller]
fn check(input: &str, expected: Result<&str, CodiceFiscaleError>) {
    let actual = CodiceFiscale::parse(input);
    assert_eq!(
        actual.as_ref().map(CodiceFiscale::as_str),
        expected.as_ref().copied(),
        "input {input:?}"
    );
}

/// Appends the check character to 15 characters, so that a test can reach a later rule.
fn with_check(first_fifteen: &str) -> String {
    format!(
        "{first_fifteen}{}",
        char::from(check_character(first_fifteen.as_bytes()))
    )
}

/// Replaces the last `level` digits with omocodia letters, as the tax agency does, and
/// recomputes the check character.
fn omocode(code: &str, level: usize) -> String {
    let mut bytes = code.as_bytes()[..15].to_vec();
    for &index in DIGIT_POSITIONS.iter().rev().take(level) {
        bytes[index] = OMOCODIA_LETTERS[usize::from(decoded_digit(bytes[index]))];
    }
    with_check(std::str::from_utf8(&bytes).unwrap())
}

fn name(input: &str) -> PersonName {
    PersonName::parse(input).unwrap()
}

fn cf(input: &str) -> CodiceFiscale {
    CodiceFiscale::parse(input).unwrap()
}

fn encode(family: &str, given: &str, sex: Sex, birth: Date, place: &str) -> String {
    let place = BelfioreCode::parse(place).unwrap();
    CodiceFiscale::from_personal_data(&name(family), &name(given), sex, birth, &place).0
}

#[test]
fn valid_codes_parse_to_their_canonical_form() {
    // Hand-verified: odd positions sum to 80, even ones to 42, 122 mod 26 = 18 = S.
    check("RSSMRA85T10A562S", Ok("RSSMRA85T10A562S"));
    check("  rssmra85t10a562s\n", Ok("RSSMRA85T10A562S"));
    check("RssMra85t10A562s", Ok("RSSMRA85T10A562S"));
    // Hand-verified: odd 41 + even 52 = 93, 93 mod 26 = 15 = P.
    check("VRDGPP13R10B293P", Ok("VRDGPP13R10B293P"));
    // Hand-verified: odd 87 + even 47 = 134, 134 mod 26 = 4 = E.
    check("FOXNCL90E20H501E", Ok("FOXNCL90E20H501E"));
}

#[test]
fn omocodes_parse_and_decode() {
    // Every digit replaced; hand-verified: odd 90 + even 77 = 167, 167 mod 26 = 11 = L.
    check("RSSMRAURTMLARSNL", Ok("RSSMRAURTMLARSNL"));
    check(&omocode("RSSMRA85T10A562S", 7), Ok("RSSMRAURTMLARSNL"));
    check(&omocode("RSSMRA85T10A562S", 1), Ok("RSSMRA85T10A56NH"));
    let omocode = cf("RSSMRAURTMLARSNL");
    let original = cf("RSSMRA85T10A562S");
    assert!(omocode.is_omocode());
    assert!(!original.is_omocode());
    assert_eq!(omocode.birth_place(), original.birth_place());
    assert_eq!(omocode.birth_day_month(), original.birth_day_month());
    assert_eq!(omocode.birth_year_two_digits(), 85);
    assert_eq!(omocode.sex(), Sex::Male);
}

#[test]
fn malformed_codes_are_rejected() {
    check("", Err(E::Length { found: 0 }));
    check("RSSMRA85T10A562", Err(E::Length { found: 15 }));
    check("RSSMRA85T10A562SS", Err(E::Length { found: 17 }));
    check("1SSMRA85T10A562S", Err(E::Character { position: 1 }));
    check("RSSMRA8AT10A562S", Err(E::Character { position: 8 }));
    check("RSSMRA85810A562S", Err(E::Character { position: 9 }));
    check("RSSMRA85T10A56ÈS", Err(E::Character { position: 15 }));
    check("RSSMRA85T10A56ŌS", Err(E::Character { position: 15 }));
    check("RSSMRA85T10A5621", Err(E::Character { position: 16 }));
    check("RSSMRA85Z10A562S", Err(E::Month { found: 'Z' }));
    check("RSSMRA85T10A562T", Err(E::CheckCharacter { expected: 'S' }));
    check(&with_check("RSSMRA85T10A000"), Err(E::BirthPlace));
    check(&with_check("RSSMRA85T10ALLL"), Err(E::BirthPlace));
}

#[test]
fn impossible_days_are_rejected() {
    check(&with_check("RSSMRA85T00A562"), Err(E::Day { found: 0 }));
    check(&with_check("RSSMRA85T32A562"), Err(E::Day { found: 32 }));
    check(&with_check("RSSMRA85T40A562"), Err(E::Day { found: 40 }));
    check(&with_check("RSSMRA85T72A562"), Err(E::Day { found: 72 }));
    check(
        &with_check("RSSMRA85B30A562"),
        Err(E::CalendarDate {
            day: 30,
            month: 2,
            year: 85,
        }),
    );
    check(
        &with_check("RSSMRA85B70A562"),
        Err(E::CalendarDate {
            day: 30,
            month: 2,
            year: 85,
        }),
    );
    check(
        &with_check("RSSMRA85B29A562"),
        Err(E::CalendarDate {
            day: 29,
            month: 2,
            year: 85,
        }),
    );
    check(
        &with_check("RSSMRA85D31A562"),
        Err(E::CalendarDate {
            day: 31,
            month: 4,
            year: 85,
        }),
    );
    check(&with_check("RSSMRA84B29A562"), Ok("RSSMRA84B29A562Y"));
    check(&with_check("RSSMRA00B69A562"), Ok("RSSMRA00B69A562G"));
}

#[test]
fn day_above_forty_means_female() {
    let woman = cf(&with_check("RSSMRA85T45A562"));
    assert_eq!(woman.sex(), Sex::Female);
    assert_eq!(woman.birth_day_month(), (5, Month::December));
    let man = date!(1985 - 12 - 05);
    assert_eq!(
        woman.agrees_with(&name("Rossi"), &name("Mara"), Sex::Male, man),
        Err(vec![CfDisagreement::Sex])
    );
    assert_eq!(
        woman.agrees_with(&name("Rossi"), &name("Mara"), Sex::Female, man),
        Ok(())
    );
}

#[test]
fn accessors_read_the_code() {
    let code = cf("RSSMRA85T10A562S");
    assert_eq!(code.sex(), Sex::Male);
    assert_eq!(code.birth_day_month(), (10, Month::December));
    assert_eq!(code.birth_year_two_digits(), 85);
    assert_eq!(code.birth_place().as_str(), "A562");
    assert_eq!(code.to_string(), "RSSMRA85T10A562S");
    assert!(code.birth_date_matches(date!(1985 - 12 - 10)));
    assert!(code.birth_date_matches(date!(1885 - 12 - 10)));
    assert!(!code.birth_date_matches(date!(1985 - 12 - 11)));
    assert!(!code.birth_date_matches(date!(1985 - 11 - 10)));
    assert!(!code.birth_date_matches(date!(1986 - 12 - 10)));
}

#[track_caller]
fn check_name_codes(name: &str, family_code: &str, given_code: &str) {
    assert_eq!(
        family_name_code(name),
        family_code.as_bytes(),
        "family name {name:?}"
    );
    assert_eq!(
        given_name_code(name),
        given_code.as_bytes(),
        "given name {name:?}"
    );
}

#[test]
fn name_codes_follow_the_rules() {
    check_name_codes("Rossi", "RSS", "RSS");
    check_name_codes("Mario", "MRA", "MRA");
    check_name_codes("Giuseppe", "GSP", "GPP");
    check_name_codes("Francesco", "FRN", "FNC");
    check_name_codes("Gianfranco", "GNF", "GFR");
    check_name_codes("Maria Teresa", "MRT", "MTR");
    check_name_codes("Bianchi", "BNC", "BCH");
    check_name_codes("Anna", "NNA", "NNA");
    check_name_codes("Ugo", "GUO", "GUO");
    check_name_codes("Fo", "FOX", "FOX");
    check_name_codes("O", "OXX", "OXX");
    check_name_codes("Nicolò", "NCL", "NCL");
    check_name_codes("NICOLÒ", "NCL", "NCL");
    check_name_codes("De Luca", "DLC", "DLC");
    check_name_codes("D'Agostino", "DGS", "DST");
    check_name_codes("D’Amico", "DMC", "DMC");
    check_name_codes("Rè", "REX", "REX");
    check_name_codes("Cantù", "CNT", "CNT");
}

#[test]
fn the_encoder_builds_known_codes() {
    assert_eq!(
        encode("Rossi", "Mario", Sex::Male, date!(1985 - 12 - 10), "A562"),
        "RSSMRA85T10A562S"
    );
    assert_eq!(
        encode(
            "Verdi",
            "Giuseppe",
            Sex::Male,
            date!(1913 - 10 - 10),
            "B293"
        ),
        "VRDGPP13R10B293P"
    );
    assert_eq!(
        encode("Fo", "Nicolò", Sex::Male, date!(1990 - 05 - 20), "H501"),
        "FOXNCL90E20H501E"
    );
    assert_eq!(
        encode("Fo", "Nicolo", Sex::Male, date!(1990 - 05 - 20), "H501"),
        "FOXNCL90E20H501E"
    );
    assert_eq!(
        encode("Rossi", "Mara", Sex::Female, date!(1985 - 12 - 05), "A562"),
        with_check("RSSMRA85T45A562")
    );
}

#[test]
fn codes_agree_or_name_what_disagrees() {
    let code = cf("FOXNCL90E20H501E");
    let born = date!(1990 - 05 - 20);
    assert_eq!(
        code.agrees_with(&name("FO"), &name("NICOLÒ"), Sex::Male, born),
        Ok(())
    );
    assert_eq!(
        code.agrees_with(&name("Fo"), &name("Nicolo"), Sex::Male, born),
        Ok(())
    );
    let omocode = cf(&omocode("FOXNCL90E20H501E", 3));
    assert_eq!(
        omocode.agrees_with(&name("Fo"), &name("Nicolò"), Sex::Male, born),
        Ok(())
    );
    let francesco = cf(&encode("Bianchi", "Francesco", Sex::Male, born, "F205"));
    assert_eq!(&francesco.as_str()[..6], "BNCFNC");
    assert_eq!(
        francesco.agrees_with(&name("Bianchi"), &name("Francesco"), Sex::Male, born),
        Ok(())
    );
    assert_eq!(
        code.agrees_with(&name("Fo"), &name("Nicola"), Sex::Male, born),
        Ok(()),
        "nicola and nicolò share the code NCL"
    );
    assert_eq!(
        code.agrees_with(&name("Foa"), &name("Nicolò"), Sex::Male, born),
        Err(vec![CfDisagreement::FamilyName])
    );
    assert_eq!(
        code.agrees_with(&name("Fo"), &name("Marco"), Sex::Male, born),
        Err(vec![CfDisagreement::GivenName])
    );
    assert_eq!(
        code.agrees_with(
            &name("Fo"),
            &name("Nicolò"),
            Sex::Male,
            date!(1990 - 05 - 21)
        ),
        Err(vec![CfDisagreement::BirthDate])
    );
    let everything = code.agrees_with(
        &name("Rossi"),
        &name("Anna"),
        Sex::Female,
        date!(1991 - 05 - 20),
    );
    let fields: Vec<_> = everything
        .unwrap_err()
        .iter()
        .map(CfDisagreement::field)
        .collect();
    assert_eq!(fields, ["family_name", "given_name", "sex", "birth_date"]);
}

#[test]
fn errors_have_reasons_and_readable_messages() {
    assert_eq!(
        E::CheckCharacter { expected: 'K' }.to_string(),
        "check character is wrong: expected K"
    );
    assert_eq!(
        E::CheckCharacter { expected: 'K' }.reason(),
        "CHECK_CHARACTER"
    );
    assert_eq!(
        E::Character { position: 1 }.to_string(),
        "character 1 must be a letter"
    );
    assert!(
        E::Character { position: 7 }
            .to_string()
            .starts_with("character 7 must be a digit")
    );
    assert_eq!(
        E::CalendarDate {
            day: 30,
            month: 2,
            year: 85
        }
        .reason(),
        "CALENDAR_DATE"
    );
}

fn person() -> impl Strategy<Value = (PersonName, PersonName, Sex, Date, BelfioreCode)> {
    let name =
        "[A-Za-zÀÈÉÌÒÙàèéìòù][A-Za-zàèéìòù' -]{0,20}".prop_map(|n| PersonName::parse(&n).unwrap());
    let sex = prop_oneof![Just(Sex::Female), Just(Sex::Male)];
    let birth = (0i64..80_000).prop_map(|days| date!(1900 - 01 - 01) + time::Duration::days(days));
    let place = ("[A-Z]", 1u16..1000)
        .prop_map(|(letter, number)| BelfioreCode::parse(&format!("{letter}{number:03}")).unwrap());
    (name.clone(), name, sex, birth, place)
}

fn valid_code() -> impl Strategy<Value = String> {
    (person(), 0usize..=7).prop_map(|((family, given, sex, birth, place), level)| {
        omocode(
            CodiceFiscale::from_personal_data(&family, &given, sex, birth, &place).as_str(),
            level,
        )
    })
}

proptest! {
    #[test]
    fn encoded_codes_parse_and_agree((family, given, sex, birth, place) in person(), level in 0usize..=7) {
        let encoded = CodiceFiscale::from_personal_data(&family, &given, sex, birth, &place);
        let parsed = CodiceFiscale::parse(&omocode(encoded.as_str(), level)).unwrap();
        prop_assert_eq!(parsed.agrees_with(&family, &given, sex, birth), Ok(()));
        prop_assert_eq!(parsed.birth_place(), place);
        prop_assert_eq!(parsed.is_omocode(), level > 0);
    }

    #[test]
    fn parsing_is_idempotent(code in valid_code(), lower in proptest::collection::vec(any::<bool>(), 16)) {
        let typed: String = code.chars().zip(lower).map(|(c, lower)| if lower { c.to_ascii_lowercase() } else { c }).collect();
        let parsed = CodiceFiscale::parse(&format!(" {typed} ")).unwrap();
        prop_assert_eq!(parsed.as_str(), code.as_str());
        prop_assert_eq!(CodiceFiscale::parse(parsed.as_str()), Ok(parsed));
    }

    #[test]
    fn another_check_character_is_rejected(code in valid_code(), replacement in b'A'..=b'Z') {
        let original = char::from(code.as_bytes()[15]);
        prop_assume!(char::from(replacement) != original);
        let tampered = format!("{}{}", &code[..15], char::from(replacement));
        prop_assert_eq!(CodiceFiscale::parse(&tampered), Err(E::CheckCharacter { expected: original }));
    }
}
