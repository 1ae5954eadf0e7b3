-- wrk script for the `logmask` scenario: GET /logged/... with personal data in the path, the
-- query and both logged headers, so every access line runs the masker over each (email, card,
-- phone, IBAN, SSN, JWT, bearer, API key and a secret-named parameter).
-- The URL names the route: /logged/small (logged) or /plain/small (the same request, unlogged:
-- the `logmask-off` baseline); "small" is replaced by the path below.
wrk.method = "GET"
wrk.path = wrk.path:gsub("/small$", "") .. "/users/alice.smith@example.com/orders/ORD-2024-000123"
  .. "?card=4111111111111111&phone=%2B14155552671&iban=GB82WEST12345698765432"
  .. "&ssn=123-45-6789&token=abc123secret&at=2026-12-07T15:58:07Z&amount=1234.56"
wrk.headers["User-Agent"] = "bench/1.0 (contact: ops@example.com; build 2026.12.07)"
wrk.headers["Referer"] = "https://shop.example/cb?jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2ln"
  .. "&key=sk_live_51HxYzAbCdEfGhIjKlMn"
