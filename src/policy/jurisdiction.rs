//! The groupings a caller's jurisdiction belongs to, so that a model cleared for `EU` is cleared
//! for a caller in `DE`. Codes are ISO 3166-1 alpha-2.

/// The 27 member states of the European Union (2026).
const EU: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// The EEA states outside the EU.
const EEA_ONLY: [&str; 3] = ["IS", "LI", "NO"];

/// The 249 officially assigned ISO 3166-1 alpha-2 codes (2026), sorted: the jurisdictions a
/// caller can be in. User-assigned codes (`AA`, `QM`–`QZ`, `XA`–`XZ`, `ZZ`) and reserved ones
/// name no country and are refused.
const ASSIGNED: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Whether `code` is an officially assigned ISO 3166-1 alpha-2 code (upper case).
pub(crate) fn is_assigned(code: &str) -> bool {
    ASSIGNED.binary_search(&code).is_ok()
}

/// The jurisdiction itself plus `EU` and `EEA` where they apply.
pub(crate) fn regions(jurisdiction: &str) -> Vec<String> {
    let mut out = vec![jurisdiction.to_owned()];
    if EU.contains(&jurisdiction) {
        out.push("EU".to_owned());
        out.push("EEA".to_owned());
    } else if EEA_ONLY.contains(&jurisdiction) {
        out.push("EEA".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{is_assigned, regions, ASSIGNED, EEA_ONLY, EU};

    #[test]
    fn groupings() {
        assert_eq!(regions("DE"), ["DE", "EU", "EEA"]);
        assert_eq!(regions("NO"), ["NO", "EEA"]);
        assert_eq!(regions("CN"), ["CN"]);
    }

    #[test]
    fn assigned_codes() {
        assert!(
            ASSIGNED.windows(2).all(|w| w[0] < w[1]),
            "sorted, no repeats"
        );
        assert!(EU.iter().chain(&EEA_ONLY).all(|c| is_assigned(c)));
        for code in ["DE", "US", "CN", "GB", "ZW", "AD"] {
            assert!(is_assigned(code), "{code}");
        }
        for code in ["XX", "AA", "ZZ", "QM", "EU", "de", "D", "DEU", ""] {
            assert!(!is_assigned(code), "{code}");
        }
    }
}
