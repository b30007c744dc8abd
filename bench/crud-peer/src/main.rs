//! `crud-peer`: serves the benchmarks' CRUD peer until stopped.

use clap::Parser;
use crud_peer::CrudPeer;
use sqlx::postgres::PgPoolOptions;

/// The benchmarks' CRUD peer (tokens and signatures unverified).
#[derive(Parser)]
#[command(name = "crud-peer", about)]
struct Cli {
    /// Where to listen.
    #[arg(long, env = "PEER_HTTP_ADDR", default_value = "127.0.0.1:8092")]
    http_addr: String,
    /// The PostgreSQL database to keep everything in (its tables are made if missing).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Connections of the pool (the platform's default, so that both use as many).
    #[arg(long, default_value_t = 32)]
    max_connections: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let pool = PgPoolOptions::new()
        .max_connections(cli.max_connections)
        .connect(&cli.database_url)
        .await?;
    let peer = CrudPeer::new(pool).await?;
    peer_http::run_at(&cli.http_addr, peer).await?;
    Ok(())
}
