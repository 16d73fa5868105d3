-- The auth library's rows for the adopt scenarios of scripts/bench-live.sh:
-- one session and one credential account per user of dataset.sql, shaped as
-- BetterAuth writes them (timestamps in UTC, timestamp without time zone).
--   psql -v users=10000 -f auth-rows.sql
\set ON_ERROR_STOP on
SET TimeZone = 'UTC';
INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
SELECT 's' || lpad(n::text, 31, '0'), timestamp '2026-12-01 00:00:00' + n * interval '1 second',
       md5('token' || n), timestamp '2026-11-24 00:00:00', timestamp '2026-11-24 00:00:00',
       '203.0.113.7', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
       'u' || lpad(n::text, 20, '0')
FROM generate_series(0, :users - 1) AS n;
INSERT INTO account (id, "accountId", "providerId", "userId", password, "createdAt", "updatedAt")
SELECT 'a' || lpad(n::text, 31, '0'), 'u' || lpad(n::text, 20, '0'), 'credential',
       'u' || lpad(n::text, 20, '0'), md5('salt' || n) || ':' || md5('key' || n),
       timestamp '2026-01-01 00:00:00', timestamp '2026-01-01 00:00:00'
FROM generate_series(0, :users - 1) AS n;
