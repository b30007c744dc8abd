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

/// The settings `Settings::load` answers, or its error's message.
fn load_shards(
    jail: &mut figment::Jail,
    file: Option<&str>,
    overrides: &Overrides,
) -> Result<Settings, String> {
    let path = std::path::Path::new("orders.toml");
    if let Some(text) = file {
        jail.create_file(path, text).map_err(|e| e.to_string())?;
    }
    Settings::load(file.map(|_| path), overrides).map_err(|e| e.to_string())
}

fn shard_names(settings: &Settings) -> Vec<(String, String)> {
    settings
        .shards
        .iter()
        .map(|(name, url)| (name.to_string(), url.to_owned()))
        .collect()
}

/// The main database, as the tests' own environment may name another (`DATABASE_URL` is
/// read after the file).
const MAIN: &str = "postgres://app@db/main";

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's own error type
fn the_shards_come_from_a_table_a_variable_or_repeated_flags() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("DATABASE_URL", MAIN);
        let table = "[shards]\ns1 = \"postgres://app@db/s1\"\n";
        let settings = load_shards(jail, Some(table), &Overrides::default())?;
        assert_eq!(
            shard_names(&settings),
            [("s1".to_owned(), "postgres://app@db/s1".to_owned())]
        );
        jail.set_env(
            "ORDERS_SHARDS",
            "s2=postgres://app@db/s2,s3=postgres://app@db/s3",
        );
        let settings = load_shards(jail, None, &Overrides::default())?;
        assert_eq!(shard_names(&settings).len(), 2);
        let flags = Overrides::default().flag("shards", "--shard", "s4=postgres://app@db/s4");
        let settings = load_shards(jail, None, &flags)?;
        assert_eq!(
            shard_names(&settings),
            [("s4".to_owned(), "postgres://app@db/s4".to_owned())]
        );
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's own error type
fn a_bad_shard_is_refused_naming_the_key_the_variable_or_the_flag() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("DATABASE_URL", MAIN);
        let table = "[shards]\ns1 = \"mysql://app:pw@db/s1\"\n";
        let err = load_shards(jail, Some(table), &Overrides::default())
            .err()
            .unwrap_or_default();
        assert!(
            err.starts_with("invalid setting shards in orders.toml: shard s1: "),
            "{err}"
        );
        assert!(!err.contains("pw@"), "a password shown: {err}");
        jail.set_env("ORDERS_SHARDS", "s1=postgres://db/a,s1=postgres://db/b");
        let err = load_shards(jail, None, &Overrides::default())
            .err()
            .unwrap_or_default();
        assert_eq!(
            err,
            "invalid setting ORDERS_SHARDS in the environment: shard s1 is given twice"
        );
        let flags = Overrides::default().flag("shards", "--shard", "Big=postgres://db/b");
        let err = load_shards(jail, None, &flags).err().unwrap_or_default();
        assert!(
            err.starts_with("invalid setting --shard in the command line: bad shard name"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's own error type
fn shards_on_the_embedded_store_are_refused_naming_where_they_were_given() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("DATABASE_URL", "sqlite:./data/orders.db");
        let table = "[shards]\ns1 = \"postgres://app@db/s1\"\n";
        let err = load_shards(jail, Some(table), &Overrides::default())
            .err()
            .unwrap_or_default();
        assert!(
            err.starts_with("invalid setting shards in orders.toml: shards need a PostgreSQL"),
            "{err}"
        );
        jail.set_env("ORDERS_SHARDS", "s1=postgres://app@db/s1");
        let err = load_shards(jail, None, &Overrides::default())
            .err()
            .unwrap_or_default();
        assert!(
            err.starts_with("invalid setting ORDERS_SHARDS in the environment: shards need"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn the_shards_passwords_are_never_printed() {
    let settings = Settings {
        database_url: "postgres://app@db/main".to_owned(),
        shards: serde_json::from_str(r#"{"s1": "postgres://app:hunter2@db/s1"}"#)
            .unwrap_or_default(),
        ..Settings::default()
    };
    let printed = format!("{settings:?}");
    assert!(printed.contains("postgres://app:***@db/s1"), "{printed}");
    assert!(!printed.contains("hunter2"), "{printed}");
}
