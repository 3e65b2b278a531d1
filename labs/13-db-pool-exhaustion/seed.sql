-- Lab 13's hotel: 500 rooms and the bookings made against them. Loaded into a fresh
-- database before every run, so every run starts the same.
CREATE TABLE rooms (
    id            int PRIMARY KEY,
    kind          text NOT NULL,
    nightly_rate  int NOT NULL,          -- in cents
    nights_booked int NOT NULL DEFAULT 0
);
INSERT INTO rooms (id, kind, nightly_rate)
SELECT n, CASE WHEN n % 10 = 0 THEN 'suite' ELSE 'double' END, 8000 + (n * 53) % 12000
FROM generate_series(1, 500) AS n;

CREATE TABLE bookings (
    id         bigserial PRIMARY KEY,
    room_id    int NOT NULL REFERENCES rooms (id),
    rate       int NOT NULL,
    card_hold  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
