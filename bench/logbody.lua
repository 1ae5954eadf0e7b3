-- wrk script for the `logbody` scenario: POST /logged-body with a 1 KiB JSON body holding personal
-- data; the route logs the body masked (by value, and tax_id by field name).
-- The URL is /logged-body (logged) or /plain-body (the same request, unlogged: the
-- `logbody-off` baseline).
local head = '{"order_id":"ORD-2024-000123","amount":1234.56,"email":"alice.smith@example.com",'
  .. '"tax_id":"DE123456789","card":"4111 1111 1111 1111","phone":"+1 415 555 2671",'
  .. '"created":"2026-12-07T15:58:07Z","note":"'
local tail = '"}'
wrk.method = "POST"
wrk.body = head .. string.rep("x", 1024 - #head - #tail) .. tail
wrk.headers["Content-Type"] = "application/json"
assert(#wrk.body == 1024, "logbody body must be 1024 bytes")
