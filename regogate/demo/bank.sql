-- The demo bank database: deterministic generated data (1,000 customers).
-- Values are derived from the row id with fixed arithmetic, so every run is identical.
CREATE TABLE customers (
    id            bigint PRIMARY KEY,
    full_name     text NOT NULL,
    email         text NOT NULL,
    ssn           text NOT NULL,
    phone         text NOT NULL,
    date_of_birth date NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE TABLE accounts (
    id             bigint PRIMARY KEY,
    customer_id    bigint NOT NULL REFERENCES customers,
    account_number text NOT NULL,
    balance        numeric(14,2) NOT NULL,
    opened_at      date NOT NULL
);
CREATE TABLE transactions (
    id         bigint PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts,
    amount     numeric(14,2) NOT NULL,
    memo       text,
    created_at timestamptz NOT NULL
);

INSERT INTO customers
SELECT i,
       (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Frances','John','Radia','Ken',
              'Margaret','Dennis','Katherine','Niklaus','Shafi','Leslie'])[1 + (i * 7) % 16]
       || ' ' ||
       (ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Allen','Backus',
              'Perlman','Thompson','Hamilton','Ritchie','Johnson','Wirth','Goldwasser',
              'Lamport','Codd','Stonebraker'])[1 + (i * 11) % 18],
       'customer' || i || '@example.com',
       lpad((100 + (i * 37) % 800)::text, 3, '0') || '-' || lpad((10 + (i * 13) % 89)::text, 2, '0')
           || '-' || lpad(((i * 7919) % 10000)::text, 4, '0'),
       '+1-555-' || lpad(((i * 4271) % 10000)::text, 4, '0'),
       date '1950-01-01' + ((i * 9973) % 18000),
       timestamptz '2020-01-01 00:00:00+00' + make_interval(hours => i * 13)
FROM generate_series(1, 1000) AS i;

INSERT INTO accounts
SELECT i,
       1 + (i - 1) % 1000,
       'GB' || lpad(((i * 104729) % 100000000)::text, 8, '0') || lpad(i::text, 6, '0'),
       round(((i * 7877) % 5000000)::numeric / 100, 2),
       date '2015-01-01' + ((i * 389) % 3000)
FROM generate_series(1, 1500) AS i;

INSERT INTO transactions
SELECT i,
       1 + (i * 17) % 1500,
       round((((i * 3571) % 200000) - 100000)::numeric / 100, 2),
       (ARRAY['salary','rent','groceries','transfer','card payment','refund','fee','interest'])
           [1 + (i * 5) % 8],
       timestamptz '2024-01-01 00:00:00+00' + make_interval(mins => i * 47)
FROM generate_series(1, 10000) AS i;

CREATE INDEX ON accounts (customer_id);
CREATE INDEX ON transactions (account_id);
ANALYZE;
