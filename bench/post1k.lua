-- wrk script for the `post1k` scenario: POST /post with a 1 KiB JSON body.
-- The URL given to wrk must end in /post (run.sh does this).
-- Body is exactly 1024 bytes: {"pad":"xxx...x"}  (8 + 1014 + 2).
wrk.method = "POST"
wrk.body = '{"pad":"' .. string.rep("x", 1014) .. '"}'
wrk.headers["Content-Type"] = "application/json"
assert(#wrk.body == 1024, "post1k body must be 1024 bytes")
