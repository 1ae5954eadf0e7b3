-- wrk script for the `logplain` scenario: the logged route with every mask class on, and an
-- ordinary request with nothing personal in it (an order id, a page number, a timestamp, a
-- browser's User-Agent): what the masker costs on the bulk of real traffic, where it scans and
-- finds nothing. `logmask` is the worst case, every detector firing on every request.
-- The URL names the route: /logged/small (logged) or /plain/small (the same request, unlogged:
-- the `logplain-off` baseline); "small" is replaced by the path below.
wrk.method = "GET"
wrk.path = wrk.path:gsub("/small$", "") .. "/api/v1/orders/ORD-2024-000123/items"
  .. "?page=2&per_page=50&sort=created_at&currency=EUR&since=2026-12-07T15:58:07Z"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
wrk.headers["Referer"] = "https://shop.example/account/orders?tab=open"
