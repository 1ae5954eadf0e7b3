-- wrk script for the `webhook1k` scenario (Palisade only): POST /hook with the same 1 KiB JSON
-- body as post1k, signed the way GitHub signs (X-Hub-Signature-256: sha256=<hex HMAC-SHA256>).
-- run.sh computes the signature with Python's hmac and passes it in WEBHOOK_SIGNATURE; GitHub's
-- scheme has no timestamp, so one signature stays valid for the whole run.
wrk.method = "POST"
wrk.body = '{"pad":"' .. string.rep("x", 1014) .. '"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Hub-Signature-256"] = os.getenv("WEBHOOK_SIGNATURE")
assert(#wrk.body == 1024, "webhook1k body must be 1024 bytes")
assert(wrk.headers["X-Hub-Signature-256"], "WEBHOOK_SIGNATURE is not set")
