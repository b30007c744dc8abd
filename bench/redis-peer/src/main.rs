//! `redis-peer`: serves the flash-sale benchmark's Redis peer until stopped.

use clap::Parser;
use redis_peer::RedisPeer;

/// The flash-sale benchmark's Redis peer (not durable; tokens and signatures unverified).
#[derive(Parser)]
#[command(name = "redis-peer", about)]
struct Cli {
    /// Where to listen.
    #[arg(long, env = "PEER_HTTP_ADDR", default_value = "127.0.0.1:8091")]
    http_addr: String,
    /// The Redis to keep everything in.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Prefix of every key the peer writes.
    #[arg(long, default_value = "redis-peer")]
    key_prefix: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let peer = RedisPeer::connect(&cli.redis_url, &cli.key_prefix).await?;
    peer_http::run_at(&cli.http_addr, peer).await?;
    Ok(())
}
