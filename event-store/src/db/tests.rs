use sqlx::PgPool;
use sqlx::sqlite::SqlitePoolOptions;

use super::*;

/// An in-memory SQLite database (one connection: each would be a database of its own).
async fn sqlite_db() -> Db {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    Db::new(Pool::Sqlite(pool))
}

/// One text for both backends, with its parameters out of order and one used twice: sqlx
/// binds `$N` by number on SQLite too (were they bound in order of appearance, `$2` would
/// take the first argument).
const CREATE: &str = "CREATE TABLE handle_probe (id TEXT PRIMARY KEY, n BIGINT NOT NULL, \
                      m BIGINT, note TEXT)";
const INSERT: &str = "INSERT INTO handle_probe (n, id, m, note) VALUES ($2, $1, $2 * 10, $3)";
const SELECT: &str = "SELECT id, n, m, note FROM handle_probe WHERE id = $1";

async fn runs_one_statement_text(db: &Db) {
    db.query(CREATE).execute(db).await.unwrap();
    let inserted = db
        .query(INSERT)
        .bind("a")
        .bind(7_i64)
        .bind(None::<&str>)
        .execute(db)
        .await
        .unwrap();
    assert_eq!(inserted, 1);

    let row = db.query(SELECT).bind("a").fetch_one(db).await.unwrap();
    assert_eq!(row.try_get::<String, _>("id").unwrap(), "a");
    assert_eq!(row.try_get::<i64, _>("n").unwrap(), 7);
    assert_eq!(row.try_get::<i64, _>(2).unwrap(), 70);
    assert_eq!(row.try_get::<Option<String>, _>("note").unwrap(), None);

    // in a transaction: seen inside, gone after a rollback, kept after a commit
    let mut tx = db.begin().await.unwrap();
    tx.query(INSERT)
        .bind("b")
        .bind(8_i64)
        .bind(Some("rolled back"))
        .execute(&mut tx)
        .await
        .unwrap();
    let inside = tx.query(SELECT).bind("b").fetch_optional(&mut tx).await;
    assert!(inside.unwrap().is_some());
    drop(tx);
    let after = db.query(SELECT).bind("b").fetch_optional(db).await.unwrap();
    assert!(after.is_none(), "a dropped transaction rolls back");
    let mut tx = db.begin().await.unwrap();
    tx.query(INSERT)
        .bind("c")
        .bind(9_i64)
        .bind("kept")
        .execute(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let ns = db
        .query("SELECT n FROM handle_probe ORDER BY id")
        .fetch_all_with(db, |row| row.try_get::<i64, _>(0))
        .await
        .unwrap();
    assert_eq!(ns, [7, 9]);
}

#[sqlx::test]
async fn one_statement_text_runs_on_postgres(pool: PgPool) {
    let db = Db::new(Pool::Postgres(pool));
    assert_eq!(db.dialect(), Dialect::Postgres);
    runs_one_statement_text(&db).await;
}

#[tokio::test]
async fn one_statement_text_runs_on_sqlite() {
    let db = sqlite_db().await;
    assert_eq!(db.dialect(), Dialect::Sqlite);
    runs_one_statement_text(&db).await;
}

#[tokio::test]
async fn a_statement_built_for_one_backend_is_refused_by_the_other() {
    let lite = sqlite_db().await;
    let built_for_postgres = Query::new(Dialect::Postgres, "SELECT 1");
    let refused = built_for_postgres.execute(&lite).await;
    assert!(matches!(refused, Err(sqlx::Error::Configuration(_))));
}

#[tokio::test]
async fn every_route_answers_the_one_database() {
    let db = sqlite_db().await;
    for routed in [
        db.for_order("7340032"),
        db.for_buyer("buyer-1"),
        db.for_sku("SKU-1"),
        db.route(Key::Order("1")),
    ] {
        assert!(std::ptr::eq(routed, &db));
    }
    assert_eq!(db.every().len(), 1);

    // what is written through one route is read through another
    db.query(CREATE).execute(&db).await.unwrap();
    let by_buyer = db.for_buyer("buyer-1");
    by_buyer
        .query(INSERT)
        .bind("o-1")
        .bind(1_i64)
        .bind("placed")
        .execute(by_buyer)
        .await
        .unwrap();
    let by_order = db.for_order("o-1");
    let row = by_order.query(SELECT).bind("o-1").fetch_one(by_order).await;
    assert_eq!(row.unwrap().try_get::<String, _>("note").unwrap(), "placed");
}

#[test]
fn a_dialect_picks_its_own_text() {
    assert_eq!(Dialect::Postgres.pick("pg", "lite"), "pg");
    assert_eq!(Dialect::Sqlite.pick("pg", "lite"), "lite");
    assert_eq!(Dialect::Sqlite.name(), "sqlite");
}
