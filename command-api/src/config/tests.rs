use super::*;

#[test]
fn passwords_in_database_urls_are_redacted() {
    assert_eq!(
        redact_url("postgres://app:s3cret@db:5432/orders"),
        "postgres://app:***@db:5432/orders"
    );
    assert_eq!(
        redact_url("postgres://postgres@db/orders"),
        "postgres://postgres@db/orders"
    );
    assert_eq!(
        redact_url("sqlite:./data/orders.db"),
        "sqlite:./data/orders.db"
    );
}

#[test]
fn the_secrets_are_never_printed() {
    let settings = Settings {
        jwt_secret: "top-secret".to_owned(),
        payment_callback_secret: "callback-secret".to_owned(),
        ..Settings::default()
    };
    let printed = format!("{settings:?}");
    assert!(!printed.contains("top-secret"), "{printed}");
    assert!(!printed.contains("callback-secret"), "{printed}");
}

fn listening_on(addr: &str) -> Settings {
    Settings {
        http_addr: addr.parse().unwrap(),
        ..Settings::default()
    }
}

#[test]
fn the_development_secrets_are_accepted_on_loopback() {
    for addr in [
        "127.0.0.1:8080",
        "127.0.0.2:0",
        "[::1]:8080",
        "[::ffff:127.0.0.1]:80",
    ] {
        assert_eq!(listening_on(addr).check_production(), Ok(()), "{addr}");
    }
}

#[test]
fn the_development_jwt_secret_is_refused_beyond_loopback_naming_the_setting() {
    let settings = Settings {
        payment_callback_secret: "shared-with-the-provider".to_owned(),
        ..listening_on("0.0.0.0:8080")
    };
    let err = settings.check_production().unwrap_err();
    assert_eq!(err.name, "jwt_secret");
    assert_eq!(
        err.to_string(),
        "the setting jwt_secret (environment ORDERS_JWT_SECRET) is the development secret, \
         which is refused while http_addr 0.0.0.0:8080 is not a loopback address: set a \
         secret of your own"
    );
}

#[test]
fn the_development_callback_secret_is_refused_beyond_loopback_naming_the_setting() {
    let settings = Settings {
        jwt_secret: "s3cret".to_owned(),
        ..listening_on("10.0.0.5:8080")
    };
    let err = settings.check_production().unwrap_err();
    assert_eq!(
        (err.name, err.env, err.what),
        (
            "payment_callback_secret",
            "ORDERS_PAYMENT_CALLBACK_SECRET",
            "the development secret"
        )
    );
}

#[test]
fn an_empty_secret_is_refused_beyond_loopback() {
    let settings = Settings {
        jwt_secret: String::new(),
        payment_callback_secret: "x".to_owned(),
        ..listening_on("[::]:8080")
    };
    let err = settings.check_production().unwrap_err();
    assert_eq!((err.name, err.what), ("jwt_secret", "empty"));
}

#[test]
fn own_secrets_are_accepted_beyond_loopback() {
    let settings = Settings {
        jwt_secret: "s3cret".to_owned(),
        payment_callback_secret: "shared".to_owned(),
        ..listening_on("0.0.0.0:8080")
    };
    assert_eq!(settings.check_production(), Ok(()));
}

#[test]
fn the_simulator_is_the_default_provider_on_loopback_only() {
    assert_eq!(
        listening_on("127.0.0.1:8080").payment_provider(),
        PaymentProvider::Simulator
    );
    assert_eq!(
        listening_on("0.0.0.0:8080").payment_provider(),
        PaymentProvider::Disabled
    );
    let configured = Settings {
        payment_provider: Some(PaymentProvider::Simulator),
        ..listening_on("0.0.0.0:8080")
    };
    assert_eq!(configured.payment_provider(), PaymentProvider::Simulator);
    let off = Settings {
        payment_provider: Some(PaymentProvider::Disabled),
        ..listening_on("127.0.0.1:8080")
    };
    assert_eq!(off.payment_provider(), PaymentProvider::Disabled);
}
