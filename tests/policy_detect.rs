//! Personal-data detectors: for each kind, texts that hold one (found, counted) and look-alikes
//! that do not (checksums that fail, dates, version strings, timestamps, code).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

use vouch::policy::detect::{self, PiiKind};

fn found(text: &str) -> Vec<&'static str> {
    detect::scan([text]).kind_names()
}

fn assert_finds(kind: PiiKind, texts: &[&str]) {
    for t in texts {
        let r = detect::scan([*t]);
        assert_eq!(
            r.count(kind),
            1,
            "{kind} not found once in {t:?}: {:?}",
            r.counts()
        );
        assert_eq!(
            r.kinds().count(),
            1,
            "more than {kind} found in {t:?}: {:?}",
            r.counts()
        );
    }
}

fn assert_clean(texts: &[&str]) {
    for t in texts {
        assert!(
            found(t).is_empty(),
            "false positive in {t:?}: {:?}",
            found(t)
        );
    }
}

#[test]
fn email() {
    assert_finds(
        PiiKind::Email,
        &[
            "write to jane.doe@example.com today",
            "A.B+tag@mail.example.co.uk",
            "<x_y@sub.example.org>",
            "联系 张三@例子.中国 谢谢",
            "schreib an jürgen@müller.de",
        ],
    );
    assert_clean(&[
        "user@localhost",
        "a@b",
        "jane..doe@example.com",
        "@example.com",
        "price: 5 @ 3.50",
    ]);
}

#[test]
fn phone() {
    assert_finds(
        PiiKind::Phone,
        &[
            "call +44 20 7946 0958",
            "+1 (415) 555-2671",
            "+8613812345678",
            "手机 13812345678",
            "mobile 138-1234-5678",
            "office (212) 555-0100",
            "fax 212-555-0100",
            "Berlin 030 901820",
            "Handy 0151 23456789",
            "mobile 07911 123456",
            "北京 010-12345678",
            "Tel. (030) 901820",
        ],
    );
    assert_clean(&[
        "+1 2",
        "order 12812345678901",
        "year 2024, page 123",
        "12345678901",
        "call 012-55",
        "ISBN 0-306-40615-2",
        "Bestellnummer 0012 345678",
        "version 10.2.3",
    ]);
}

#[test]
fn cn_resident_id() {
    assert_finds(
        PiiKind::CnResidentId,
        &[
            "身份证 11010519491231002X",
            "id=11010519491231002x;",
            "440304199001011233",
            "旧身份证 110105491231002",
            // A reference word inside another word does not make the number a reference.
            "Hyogo prefecture, old ID 110105491231002",
            "disorder 110105491231002",
        ],
    );
    assert_clean(&[
        "110105194912310021",  // check digit wrong
        "110105194902300020",  // right check digit, but 30 February
        "11010519491231002X1", // longer run
        "order 110105194912310",
        "订单号 110105491231002",
        "Ref-Nr. 110105491231002",
        "Order#110105491231002",
        "990105491231002", // no such province
    ]);
}

#[test]
fn payment_card() {
    assert_finds(
        PiiKind::PaymentCard,
        &[
            "card 4111 1111 1111 1111 exp 12/27",
            "4111-1111-1111-1111",
            "5500000000000004",
            "amex 3782 822463 10005",
            "2223 0000 4841 0010",
            "6011111111111117",
        ],
    );
    assert_clean(&[
        "4111 1111 1111 1112", // fails Luhn
        "5500000000000005",    // fails Luhn
        "20240115123045",      // compact timestamp (and no issuer starts 20)
        "1700000000000",       // Unix time in ms
        "tracking 9400111899223344556677",
        "1234 5678 9012 3456",
        "商品编码 6901234567892", // an EAN-13 that passes Luhn: only Visa has 13 digits
    ]);
}

#[test]
fn iban() {
    assert_finds(
        PiiKind::Iban,
        &[
            "IBAN GB82 WEST 1234 5698 7654 32 please",
            "DE89370400440532013000",
            "pay to FR1420041010050500013M02606.",
            "iban de89 3704 0044 0532 0130 00",
            "gb82west12345698765432",
        ],
    );
    assert_clean(&[
        "DE89370400440532013001",
        "GB82 WEST 1234 5698 7654 33",
        "XX82WEST12345698765432",
        "ISO 8601 AB12 CDEF",
    ]);
}

#[test]
fn us_ssn() {
    assert_finds(PiiKind::UsSsn, &["SSN 123-45-6789", "ssn: 123 45 6789"]);
    assert_clean(&[
        "000-12-3456",
        "666-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
        "078-05-1120",
        "2024-01-15",
        "12-345-6789",
    ]);
}

#[test]
fn ip_address() {
    assert_finds(
        PiiKind::IpAddress,
        &[
            "client 192.168.1.23 connected",
            "from 8.8.8.8.",
            "host 2001:db8::8a2e:370:7334 up",
            "::1",
            "[fe80::1ff:fe23:4567:890a]",
            "the client was 2001:db8:78f0::3ac4.",
        ],
    );
    assert_clean(&[
        "version 1.2.3.4",
        "v1.2.3.4",
        "release 10.0.0.1",
        "1.2.3.4.5",
        "999.1.1.1",
        "01.02.03.04",
        "at 12:30:45",
        "2024-01-15T12:30:45Z",
        "std::vec::Vec",
        "a::b",
        "mac 00:1a:2b:3c:4d:5e",
        "ratio 3:2:1",
    ]);
}

#[test]
fn counts_kinds_and_never_values() {
    let r = detect::scan([
        "a@example.com and b@example.com",
        "card 4111 1111 1111 1111",
        "no pii here",
    ]);
    assert_eq!(r.count(PiiKind::Email), 2);
    assert_eq!(r.count(PiiKind::PaymentCard), 1);
    assert_eq!(r.kind_names(), ["email", "payment-card"]);
    let json = serde_json::to_string(&r).unwrap();
    assert!(
        !json.contains("example.com") && !json.contains("4111"),
        "{json}"
    );
}

#[test]
fn bytes_inputs_and_parameters() {
    let bytes: Vec<u8> = b"\xff\xfe binary then jane@example.com".to_vec();
    assert_eq!(detect::scan([bytes]).kind_names(), ["email"]);
    let params = serde_json::json!({"purpose": "research", "note": "ip 10.1.2.3", "nested": {"x": ["+44 20 7946 0958"]}});
    let texts = detect::parameter_texts(params.as_object().unwrap());
    assert_eq!(detect::scan(texts).kind_names(), ["phone", "ip-address"]);
}

#[test]
fn plain_prose_is_clean() {
    assert_clean(&[
        "The model was trained on 569 samples in 2019 and reaches 96.5% accuracy.",
        "Release notes: vouch 0.1.0 (2026-11-29), cedar-policy 4.14.1, rustc 1.95.0.",
        "会议在 2024年1月15日 14:30 举行，共 120 人参加。",
    ]);
}

mod properties {
    use proptest::prelude::*;
    use vouch::policy::detect::{self, PiiKind};

    /// The Luhn check digit for `body` (the digits before it).
    fn luhn_digit(body: &[u8]) -> u8 {
        let sum: u32 = body
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &d)| {
                let d = u32::from(d);
                if i % 2 == 0 {
                    let x = d * 2;
                    if x > 9 {
                        x - 9
                    } else {
                        x
                    }
                } else {
                    d
                }
            })
            .sum();
        ((10 - sum % 10) % 10) as u8
    }

    proptest! {
        #[test]
        fn scanning_arbitrary_bytes_does_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = detect::scan([bytes]);
        }

        #[test]
        fn scanning_number_soup_does_not_panic(s in "[0-9a-fA-FxX +().:@-]{0,300}") {
            let _ = detect::scan([s]);
        }

        /// Any 16-digit Visa-style number with a correct Luhn digit is found; with the last
        /// digit changed it is not.
        #[test]
        fn valid_card_numbers_are_found(body in proptest::collection::vec(0u8..10, 14)) {
            let mut digits = vec![4u8];
            digits.extend(&body);
            let check = luhn_digit(&digits);
            let text = |last: u8| {
                let all: String = digits.iter().chain([&last]).map(|d| char::from(b'0' + d)).collect();
                format!("card {} {} {} {} end", &all[0..4], &all[4..8], &all[8..12], &all[12..16])
            };
            prop_assert_eq!(detect::scan([text(check)]).count(PiiKind::PaymentCard), 1);
            prop_assert_eq!(detect::scan([text((check + 1) % 10)]).count(PiiKind::PaymentCard), 0);
        }
    }
}

#[test]
fn health_terms() {
    // Every health word counts, so a text may count several.
    for t in [
        "she has a diabetes check-up on Monday",
        "the biopsy confirmed a tumour",
        "Er ist an Krebs erkrankt",
        "Termin zur Diabetesberatung",
        "Sie ist schwanger",
        "他患有糖尿病",
        "病人确诊",
        "on insulin since May",
    ] {
        assert_eq!(found(t), ["health-term"], "{t:?}");
    }
    assert_clean(&[
        "the Great Depression of the 1930s",
        "a stroke of luck",
        "teaching aids for the class",
        "please be patient",
        "Rezept für Apfelkuchen",
        "今天天气很好",
        "The zodiac sign for July is Cancer? No, Leo.",
    ]);
}
