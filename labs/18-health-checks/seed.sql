-- Lab 18's order book: 200 orders, looked up by id. Applied to a fresh database before
-- every run.
CREATE TABLE orders (
    id       integer PRIMARY KEY,
    customer text NOT NULL,
    total    integer NOT NULL,
    status   text NOT NULL
);
INSERT INTO orders (id, customer, total, status)
SELECT n, 'customer-' || (n % 37), 1000 + n * 7, CASE WHEN n % 3 = 0 THEN 'shipped' ELSE 'paid' END
FROM generate_series(1, 200) AS n;
