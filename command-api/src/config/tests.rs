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
#[allow(clippy::result_large_err)] // figment::Jail's own error type
fn later_layers_override_earlier_ones() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "orders.toml",
            "http_addr = \"127.0.0.1:9000\"\ncheckout_ttl_secs = 60\n",
        )?;
        jail.set_env("ORDERS_CHECKOUT_TTL_SECS", "120");
        jail.set_env("ORDERS_ARCHIVE_WINDOW", "22:00-01:30");
        jail.set_env("ORDERS_POSTGRES_MAX_CONNECTIONS", "12");
        jail.set_env("DATABASE_URL", "postgres://postgres@localhost/x");
        let overrides = Overrides {
            database_url: Some("sqlite:/tmp/o.db".to_owned()),
            ..Overrides::default()
        };
        let settings = Settings::load(Some(Path::new("orders.toml")), &overrides)
            .map_err(|e| e.to_string())?;
        assert_eq!(settings.http_addr.port(), 9000);
        assert_eq!(settings.checkout_ttl_secs, 120);
        assert_eq!(settings.database_url, "sqlite:/tmp/o.db");
        assert_eq!(settings.payment_timeout_secs, 900);
        assert_eq!(settings.archive_window.to_string(), "22:00-01:30");
        assert_eq!(settings.archive_after_days, 90);
        assert_eq!(settings.postgres_max_connections, 12);
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's own error type
fn a_malformed_archive_window_is_refused_naming_the_setting() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("ORDERS_ARCHIVE_WINDOW", "2am-5am");
        let err = Settings::load(None, &Overrides::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.to_lowercase().contains("archive_window"), "{err}");
        Ok(())
    });
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

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's own error type
fn the_payment_provider_and_callback_secret_come_from_the_environment() {
    figment::Jail::expect_with(|jail| {
        let settings = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
        assert_eq!(settings.payment_provider, None);
        jail.set_env("ORDERS_PAYMENT_PROVIDER", "none");
        jail.set_env("ORDERS_PAYMENT_CALLBACK_SECRET", "whsec");
        let settings = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
        assert_eq!(settings.payment_provider, Some(PaymentProvider::Disabled));
        assert_eq!(settings.payment_callback_secret, "whsec");
        jail.set_env("ORDERS_PAYMENT_PROVIDER", "simulator");
        let settings = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
        assert_eq!(settings.payment_provider, Some(PaymentProvider::Simulator));
        jail.set_env("ORDERS_PAYMENT_PROVIDER", "stripe");
        let err = Settings::load(None, &Overrides::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.to_lowercase().contains("payment_provider"), "{err}");
        Ok(())
    });
}
