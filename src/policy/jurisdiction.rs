//! The groupings a caller's jurisdiction belongs to, so that a model cleared for `EU` is cleared
//! for a caller in `DE`. Codes are ISO 3166-1 alpha-2.

/// The 27 member states of the European Union (2026).
const EU: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// The EEA states outside the EU.
const EEA_ONLY: [&str; 3] = ["IS", "LI", "NO"];

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
    use super::regions;

    #[test]
    fn groupings() {
        assert_eq!(regions("DE"), ["DE", "EU", "EEA"]);
        assert_eq!(regions("NO"), ["NO", "EEA"]);
        assert_eq!(regions("CN"), ["CN"]);
    }
}
