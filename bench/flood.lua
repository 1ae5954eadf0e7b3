-- A distinct X-Client value on every request: a flood of client keys for bench/flood.sh.
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/flood/small", { ["X-Client"] = string.format("c-%d-%d", math.random(1, 1000000000), counter) })
end
