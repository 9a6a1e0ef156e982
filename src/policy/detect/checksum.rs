//! The checks that turn a pattern match into a finding: check digits where the format has one,
//! valid ranges where it has none. Each takes the matched text and never panics.

/// Luhn (ISO/IEC 7812-1 Annex B) over the ASCII digits of `s`; other characters are ignored.
pub(crate) fn luhn(s: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    for &b in s.iter().rev().filter(|b| b.is_ascii_digit()) {
        let mut d = u32::from(b - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum.is_multiple_of(10)
}

/// GB 11643-1999 check character of an 18-character Chinese resident ID (ISO 7064 MOD 11-2),
/// and a real birth date in characters 7–14.
pub(crate) fn cn_resident_id(s: &[u8]) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [u8; 11] = *b"10X98765432";
    if s.len() != 18 {
        return false;
    }
    let (body, check) = s.split_at(17);
    if !body.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = body
        .iter()
        .zip(WEIGHTS)
        .map(|(&b, w)| u32::from(b - b'0') * w)
        .sum();
    let expected = CHECK.get((sum % 11) as usize).copied();
    let given = check.first().map(u8::to_ascii_uppercase);
    if expected != given {
        return false;
    }
    let date = body.get(6..14).and_then(|d| std::str::from_utf8(d).ok());
    date.is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y%m%d").is_ok())
}

/// The province codes that open a Chinese resident ID (GB/T 2260): 11–15, 21–23, 31–37, 41–46,
/// 50–54, 61–65, and 71, 81, 82 (Taiwan, Hong Kong, Macao).
fn cn_province(code: u32) -> bool {
    matches!(code, 11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81 | 82)
}

/// A first-generation (15-digit, 1984–2004) Chinese resident ID: a province code, a birth date
/// `YYMMDD` in the 1900s that exists, three sequence digits. It has no check digit, so the
/// province and the date are all there is to check.
pub(crate) fn cn_resident_id_15(s: &[u8]) -> bool {
    if s.len() != 15 || !s.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let number = |r: std::ops::Range<usize>| -> Option<u32> {
        std::str::from_utf8(s.get(r)?).ok()?.parse().ok()
    };
    if !number(0..2).is_some_and(cn_province) {
        return false;
    }
    let date = s
        .get(6..12)
        .and_then(|d| std::str::from_utf8(d).ok())
        .map(|d| format!("19{d}"));
    date.is_some_and(|d| chrono::NaiveDate::parse_from_str(&d, "%Y%m%d").is_ok())
}

/// IBAN (ISO 13616): a known country with its length, and mod 97 = 1 over the rearranged digits.
pub(crate) fn iban(s: &[u8]) -> bool {
    let compact: Vec<u8> = s
        .iter()
        .filter(|b| !b.is_ascii_whitespace())
        .map(u8::to_ascii_uppercase)
        .collect();
    let Some(country) = compact.get(..2) else {
        return false;
    };
    let Some(&(_, length)) = IBAN_LENGTHS.iter().find(|(c, _)| c.as_bytes() == country) else {
        return false;
    };
    if compact.len() != length {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem = 0u32;
    for &b in tail.iter().chain(head) {
        match b {
            b'0'..=b'9' => rem = (rem * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => rem = (rem * 100 + u32::from(b - b'A') + 10) % 97,
            _ => return false,
        }
    }
    rem == 1
}

/// A US Social Security number `AAA-GG-SSSS` outside the ranges never issued: area 000, 666 or
/// 900–999, group 00, serial 0000, and the numbers published in advertising.
pub(crate) fn us_ssn(s: &[u8]) -> bool {
    let digits: Vec<u8> = s
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| b - b'0')
        .collect();
    let [a1, a2, a3, g1, g2, s1, s2, s3, s4] = digits[..] else {
        return false;
    };
    let area = u32::from(a1) * 100 + u32::from(a2) * 10 + u32::from(a3);
    let group = u32::from(g1) * 10 + u32::from(g2);
    let serial = u32::from(s1) * 1000 + u32::from(s2) * 100 + u32::from(s3) * 10 + u32::from(s4);
    let advertised = matches!((area, group, serial), (78, 5, 1120) | (219, 9, 9999));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0 && !advertised
}

/// IBAN lengths by country (SWIFT IBAN registry).
const IBAN_LENGTHS: [(&str, usize); 80] = [
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("LY", 25),
    ("SD", 18),
    ("BI", 27),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_numbers() {
        assert!(luhn(b"4111 1111 1111 1111"));
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"4111 1111 1111 1112"));
    }

    #[test]
    fn gb11643_example_from_the_standard() {
        assert!(cn_resident_id(b"11010519491231002X"));
        assert!(cn_resident_id(b"11010519491231002x"));
        assert!(!cn_resident_id(b"110105194912310021"));
        // Right check digit arithmetic is not enough: 1949-02-30 is no date.
        assert!(!cn_resident_id(b"110105194902300020"));
    }

    #[test]
    fn iban_examples() {
        assert!(iban(b"GB82 WEST 1234 5698 7654 32"));
        assert!(iban(b"DE89370400440532013000"));
        assert!(!iban(b"DE89370400440532013001"));
        assert!(!iban(b"ZZ89370400440532013000"));
        assert!(iban(b"de89370400440532013000"));
        assert!(iban(b"gb82 west 1234 5698 7654 32"));
    }

    #[test]
    fn first_generation_resident_ids() {
        assert!(cn_resident_id_15(b"110105491231002"));
        // No such province, no such date, too short.
        assert!(!cn_resident_id_15(b"990105491231002"));
        assert!(!cn_resident_id_15(b"110105491331002"));
        assert!(!cn_resident_id_15(b"11010549123100"));
    }

    #[test]
    fn ssn_ranges() {
        assert!(us_ssn(b"123-45-6789"));
        assert!(!us_ssn(b"000-45-6789"));
        assert!(!us_ssn(b"666-45-6789"));
        assert!(!us_ssn(b"912-45-6789"));
        assert!(!us_ssn(b"123-00-6789"));
        assert!(!us_ssn(b"123-45-0000"));
        assert!(!us_ssn(b"078-05-1120"));
    }
}
