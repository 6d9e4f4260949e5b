-- wrk script for GET /v1/authorizers/{appid}/token: each request names a
-- random appid of the file $APPIDS, with the bearer key $KEY.
-- Used by bench/run-token-api.sh as a cross-check of bench/http.
local ids = {}
for line in io.lines(os.getenv("APPIDS")) do
  if line ~= "" then ids[#ids + 1] = line end
end
local headers = { ["Authorization"] = "Bearer " .. os.getenv("KEY") }

function setup(thread)
  thread:set("seed", math.random(1, 1e9))
end

function init(args)
  math.randomseed(seed)
end

function request()
  return wrk.format("GET", "/v1/authorizers/" .. ids[math.random(#ids)] .. "/token", headers)
end
