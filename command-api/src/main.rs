//! The `orders` command line.

fn main() {
    println!("orders: the command API is not built yet; see README.md");
}
