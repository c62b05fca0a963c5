//! Text helpers shared by the parsed types. Italian registries write names and addresses in
//! upper case without accents, while citizens type `Nicolò` or `Località`: folding both sides
//! to the same ASCII form is what lets them be compared.

/// Upper-cases `input` and folds accented Latin letters to their ASCII base letters:
/// `Nicolò` becomes `NICOLO`, `Œuvre` becomes `OEUVRE`. Other characters are kept as they are.
pub(crate) fn fold_upper(input: &str) -> String {
    let mut folded = String::with_capacity(input.len());
    for c in input.chars().flat_map(char::to_uppercase) {
        match fold_letter(c) {
            Some(ascii) => folded.push_str(ascii),
            None => folded.push(c),
        }
    }
    folded
}

/// Whether `c` is a letter of the Latin alphabet, plain or accented (Latin-1 and Latin
/// Extended-A, which cover the names of Italy and of the European Union).
pub(crate) fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || fold_letter(c).is_some()
}

/// The ASCII spelling of an accented Latin letter, or `None` for any other character.
/// Both cases are listed so that the answer does not depend on upper-casing first.
fn fold_letter(c: char) -> Option<&'static str> {
    let ascii = match c {
        'À'..='Å' | 'à'..='å' | '\u{100}'..='\u{105}' => "A",
        'Æ' | 'æ' => "AE",
        'Ç' | 'ç' | '\u{106}'..='\u{10D}' => "C",
        'Ð' | 'ð' | '\u{10E}'..='\u{111}' => "D",
        'È'..='Ë' | 'è'..='ë' | '\u{112}'..='\u{11B}' => "E",
        '\u{11C}'..='\u{123}' => "G",
        '\u{124}'..='\u{127}' => "H",
        'Ì'..='Ï' | 'ì'..='ï' | '\u{128}'..='\u{131}' => "I",
        '\u{132}' | '\u{133}' => "IJ",
        '\u{134}' | '\u{135}' => "J",
        '\u{136}'..='\u{138}' => "K",
        '\u{139}'..='\u{142}' => "L",
        'Ñ' | 'ñ' | '\u{143}'..='\u{14B}' => "N",
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' | '\u{14C}'..='\u{151}' => "O",
        '\u{152}' | '\u{153}' => "OE",
        '\u{154}'..='\u{159}' => "R",
        '\u{15A}'..='\u{161}' | '\u{17F}' => "S",
        'ß' => "SS",
        '\u{162}'..='\u{167}' => "T",
        'Þ' | 'þ' => "TH",
        'Ù'..='Ü' | 'ù'..='ü' | '\u{168}'..='\u{173}' => "U",
        '\u{174}' | '\u{175}' => "W",
        'Ý' | 'ý' | 'ÿ' | '\u{176}'..='\u{178}' => "Y",
        '\u{179}'..='\u{17E}' => "Z",
        _ => return None,
    };
    Some(ascii)
}

/// Trims `input` and collapses every run of inner whitespace to one space.
pub(crate) fn collapse_whitespace(input: &str) -> String {
    input.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: &str) {
        assert_eq!(fold_upper(input), expected, "input {input:?}");
    }

    #[test]
    fn folds_accented_letters_to_ascii_upper_case() {
        check("Nicolò", "NICOLO");
        check("àèéìòù", "AEEIOU");
        check("ÀÈÉÌÒÙ", "AEEIOU");
        check("Cantù", "CANTU");
        check("Çeşme", "CESME");
        check("Łódź", "LODZ");
        check("Strauß", "STRAUSS");
        check("Œuvre", "OEUVRE");
        check("D'Annunzio-Rossi", "D'ANNUNZIO-ROSSI");
    }

    #[test]
    fn latin_letters_include_accents_but_not_symbols() {
        assert!(is_latin_letter('é'));
        assert!(is_latin_letter('Ž'));
        assert!(!is_latin_letter('×'));
        assert!(!is_latin_letter('ж'));
        assert!(!is_latin_letter('1'));
    }

    #[test]
    fn collapses_whitespace() {
        assert_eq!(collapse_whitespace("  De \t Luca\n"), "De Luca");
    }
}
