-- Lesson 14's catalogue: 1000 products, ids 1..1000. Ids above 1000 are "no such product".
CREATE TABLE products (
    id          int PRIMARY KEY,
    name        text NOT NULL,
    price_cents int NOT NULL
);
INSERT INTO products (id, name, price_cents)
SELECT g, 'product ' || g, 100 + (g * 37) % 9900
FROM generate_series(1, 1000) AS g;
