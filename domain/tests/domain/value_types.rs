use std::str::FromStr;

use domain::{
    BuyerId, IdError, Money, MoneyError, OrderId, ProductTitle, Quantity, SkuId, TitleError,
    TrackingNumber,
};

#[test]
fn an_order_id_is_a_positive_integer() {
    assert_eq!(OrderId::new(42).map(OrderId::get), Ok(42));
    assert_eq!(
        OrderId::new(0),
        Err(IdError::InvalidOrderId {
            input: "0".to_owned()
        })
    );
}

#[test]
fn an_order_id_parses_from_decimal_digits_only() {
    assert_eq!(
        OrderId::from_str("18446744073709551615").map(OrderId::get),
        Ok(u64::MAX)
    );
    for bad in [
        "",
        "0",
        "-1",
        "+1",
        " 1",
        "1.0",
        "0x10",
        "18446744073709551616",
        "abc",
    ] {
        assert!(OrderId::from_str(bad).is_err(), "{bad:?} must be rejected");
    }
}

#[test]
fn an_order_id_is_displayed_and_serialised_as_a_decimal_string() {
    let id = OrderId::new(9_007_199_254_740_993).unwrap();
    assert_eq!(id.to_string(), "9007199254740993");
    assert_eq!(serde_json::to_string(&id).unwrap(), "\"9007199254740993\"");
    assert_eq!(
        serde_json::from_str::<OrderId>("\"9007199254740993\"").unwrap(),
        id
    );
}

#[test]
fn an_order_id_is_not_deserialised_from_a_json_number_or_zero() {
    assert!(serde_json::from_str::<OrderId>("42").is_err());
    assert!(serde_json::from_str::<OrderId>("\"0\"").is_err());
    assert!(serde_json::from_str::<OrderId>("\"-3\"").is_err());
}

#[test]
fn a_text_id_accepts_letters_digits_and_a_few_separators() {
    let id = BuyerId::parse("buyer_1.eu:A-9").unwrap();
    assert_eq!(id.as_str(), "buyer_1.eu:A-9");
    assert_eq!(id.to_string(), "buyer_1.eu:A-9");
    assert!(BuyerId::parse(&"a".repeat(64)).is_ok());
}

#[test]
fn a_text_id_rejects_empty_long_and_odd_text() {
    assert_eq!(SkuId::parse(""), Err(IdError::Empty { kind: "SKU id" }));
    assert_eq!(
        SkuId::parse(&"a".repeat(65)),
        Err(IdError::TooLong {
            kind: "SKU id",
            len: 65
        })
    );
    assert_eq!(
        SkuId::parse("a b"),
        Err(IdError::InvalidCharacter {
            kind: "SKU id",
            found: ' '
        })
    );
    assert!(SkuId::parse("é").is_err());
    assert!(TrackingNumber::parse("SF/1").is_err());
}

#[test]
fn a_text_id_is_serialised_as_a_plain_string_and_checked_when_deserialised() {
    let id = SkuId::parse("sku-1").unwrap();
    assert_eq!(serde_json::to_string(&id).unwrap(), "\"sku-1\"");
    assert_eq!(serde_json::from_str::<SkuId>("\"sku-1\"").unwrap(), id);
    assert!(serde_json::from_str::<SkuId>("\"\"").is_err());
    assert!(serde_json::from_str::<SkuId>("\"no spaces\"").is_err());
}

#[test]
fn a_quantity_is_between_one_and_ten_thousand() {
    assert_eq!(Quantity::new(1).map(Quantity::get), Ok(1));
    assert_eq!(Quantity::new(10_000).map(Quantity::get), Ok(10_000));
    assert_eq!(Quantity::new(0).map_err(|e| e.got()), Err(0));
    assert_eq!(Quantity::new(10_001).map_err(|e| e.got()), Err(10_001));
    assert!(serde_json::from_str::<Quantity>("0").is_err());
    assert_eq!(
        serde_json::from_str::<Quantity>("3").unwrap(),
        Quantity::new(3).unwrap()
    );
}

#[test]
fn money_is_never_negative() {
    assert_eq!(
        Money::from_minor(-1),
        Err(MoneyError::Negative { minor: -1 })
    );
    assert!(serde_json::from_str::<Money>("-5").is_err());
    assert!(serde_json::from_str::<Money>("1.5").is_err());
    assert_eq!(
        serde_json::to_string(&Money::from_minor(1999).unwrap()).unwrap(),
        "1999"
    );
}

#[test]
fn money_arithmetic_is_checked() {
    let five = Money::from_minor(5).unwrap();
    let three = Money::from_minor(3).unwrap();
    assert_eq!(five.checked_add(three).map(Money::minor), Some(8));
    assert_eq!(five.checked_sub(three).map(Money::minor), Some(2));
    assert_eq!(three.checked_sub(five), None);
    assert_eq!(
        Money::from_minor(i64::MAX).unwrap().checked_add(three),
        None
    );
    assert_eq!(five.checked_mul(3).map(Money::minor), Some(15));
    assert_eq!(Money::from_minor(i64::MAX).unwrap().checked_mul(2), None);
    assert_eq!(Money::zero().minor(), 0);
    assert!(Money::zero().is_zero());
}

#[test]
fn a_product_title_is_one_to_two_hundred_characters_of_text() {
    assert!(ProductTitle::parse("Tea, 500 g").is_ok());
    assert!(ProductTitle::parse(&"茶".repeat(200)).is_ok());
    assert_eq!(ProductTitle::parse("  "), Err(TitleError::Blank));
    assert_eq!(
        ProductTitle::parse(&"x".repeat(201)),
        Err(TitleError::TooLong { len: 201 })
    );
    assert_eq!(
        ProductTitle::parse("a\nb"),
        Err(TitleError::ControlCharacter)
    );
    assert!(serde_json::from_str::<ProductTitle>("\"\"").is_err());
}
