-- wrk script for the `ratelimit-shared-keys` scenario: every request names one of 100,000 clients
-- in `X-Client` (the route's limit key), so requests of one loop turn almost never share a key and
-- each is its own Redis script call: the shared limiter's cost without coalescing.
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  return wrk.format("GET", nil, { ["X-Client"] = "client-" .. math.random(1, 100000) })
end
