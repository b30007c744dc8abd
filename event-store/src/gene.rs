//! The buyer's partition gene: which of the [`GENE_COUNT`] logical partitions a buyer's orders
//! live in.
//!
//! This function is a contract with every stored order: changing it re-shards them all. The
//! tests pin its values. It lives with the log because the log stores each event's gene at
//! append (the column the shards' fences, copies and clean-ups read, ADR 42), and `ids`, which
//! depends on this crate, re-exports it.

/// Bits of the partition gene: [`GENE_COUNT`] logical partitions. An order id carries its
/// buyer's gene in its lowest bits (the `ids` crate lays the id out around it).
pub const GENE_BITS: u32 = 10;
/// How many logical partitions the gene names; an order's partition is `id & (GENE_COUNT - 1)`.
pub const GENE_COUNT: u16 = 1 << GENE_BITS;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const GENE_MASK: u64 = (1 << GENE_BITS) - 1;
const _: () = assert!(GENE_MASK + 1 == GENE_COUNT as u64);

/// FNV-1a, 64 bits, written out: std's `DefaultHasher` may change between Rust releases, and
/// a gene must not.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// The partition gene of a buyer: the FNV-1a 64 hash of the buyer id's UTF-8 bytes modulo
/// [`GENE_COUNT`].
///
/// The low bits, not the top ones: FNV's multiplier is 2^40 + 435, so the last bytes of a key
/// barely reach the top bits, and ids that differ only at the end (`buyer-1`, `buyer-2`, …)
/// would crowd into a few partitions. The low bits spread them evenly (a test measures it).
pub fn gene_of_buyer(buyer_id: &str) -> u16 {
    // masked to 10 bits: the cast cannot truncate
    (fnv1a_64(buyer_id.as_bytes()) & GENE_MASK) as u16
}

/// The partition gene an order id carries in its lowest [`GENE_BITS`] bits: its shard, with no
/// directory.
pub fn gene_of_order(id: u64) -> u16 {
    // masked to 10 bits: the cast cannot truncate
    (id & GENE_MASK) as u16
}

/// The partition gene of a stream, the one its shard is chosen by (DESIGN section 8, ADR 42):
/// for an order, the gene its id carries ([`gene_of_order`]); for a cart, whose id is the
/// buyer's, the buyer's gene ([`gene_of_buyer`]); for every other aggregate (and an order id
/// that is not a number), the gene of its id's hash, the same FNV-1a as a buyer's. The relay
/// publishes each event under it, so it is a contract with every consumer too.
pub fn gene_of_stream(aggregate_type: &str, aggregate_id: &str) -> u16 {
    match aggregate_type {
        "Order" => aggregate_id
            .parse::<u64>()
            .map_or_else(|_| gene_of_buyer(aggregate_id), gene_of_order),
        _ => gene_of_buyer(aggregate_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_64_matches_the_published_test_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    /// Values computed independently (Python, the published FNV-1a 64 constants).
    #[test]
    fn genes_are_frozen() {
        let pinned = [
            ("", 805),
            ("buyer-1", 234),
            ("buyer-2", 823),
            ("b-42", 514),
            ("买家-7", 53),
        ];
        let actual: Vec<_> = pinned
            .iter()
            .map(|(buyer, _)| (*buyer, gene_of_buyer(buyer)))
            .collect();
        assert_eq!(actual, pinned);
    }

    #[test]
    fn genes_spread_buyers_evenly_over_the_partitions() {
        let buyers = 102_400;
        let mut counts = vec![0_u32; usize::from(GENE_COUNT)];
        for i in 0..buyers {
            counts[usize::from(gene_of_buyer(&format!("buyer-{i}")))] += 1;
        }
        // 100 per partition expected, standard deviation about 10 for a random spread
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min >= 50 && *max <= 150, "min {min}, max {max}");
    }

    #[test]
    fn an_order_stream_is_on_the_gene_its_id_carries() {
        // 123456789012345 & 1023 == 889
        assert_eq!(gene_of_stream("Order", "123456789012345"), 889);
        assert_eq!(
            gene_of_stream("Order", "123456789012345"),
            gene_of_order(123_456_789_012_345)
        );
        // an order id that is not a number falls back to the hash
        assert_eq!(gene_of_stream("Order", "b-42"), 514);
    }

    #[test]
    fn a_cart_is_on_its_buyers_gene_and_other_streams_on_their_ids_hash() {
        assert_eq!(gene_of_stream("Cart", "b-42"), 514);
        assert_eq!(gene_of_stream("Cart", "buyer-1"), gene_of_buyer("buyer-1"));
        assert_eq!(gene_of_stream("Sku", "buyer-2"), 823);
        assert_eq!(gene_of_stream("Product", "p-1"), gene_of_buyer("p-1"));
    }
}
