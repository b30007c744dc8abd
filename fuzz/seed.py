"""Seeds the data scripts/fuzz fuzzes around and prints the id and amount of an unpaid order.

    python3 fuzz/seed.py BASE_URL SELLER_TOKEN BUYER_TOKEN

A product with plenty of stock from the seller and an order of one unit by the buyer, so that
signed payment notifications can name an order that exists (fuzz/hooks.py). Standard library
only.
"""

import json
import sys
import urllib.request

SKU = "fuzz-tea"
PRICE_CENTS = 1299
STOCK_UNITS = 1_000_000


def call(base, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def main():
    base, seller, buyer = sys.argv[1:4]
    product = call(base, seller, "POST", "/v1/products", {
        "sku": SKU, "title": "Fuzz tea", "price_cents": PRICE_CENTS, "initial_stock": STOCK_UNITS,
    })
    checkout = call(base, buyer, "POST", "/v1/checkout")
    order = call(base, buyer, "POST", "/v1/orders", {
        "order_id": checkout["order_id"],
        "checkout_token": checkout["checkout_token"],
        "items": [{"sku": SKU, "quantity": 1, "product_version": product["product_version"]}],
    })
    print(order["order_id"], PRICE_CENTS)


if __name__ == "__main__":
    main()
