-- wrk script: rotate every request over many API keys, so the load is keyed by API key.
--   wrk -t1 -c50 -d10s --latency -s bench/wrk/keys.lua URL -- KEYS_FILE [HEADER] [PREFIX]
-- KEYS_FILE holds one key a line; HEADER defaults to X-API-Key; PREFIX (e.g. "Bearer ")
-- goes before the key. Each key gets its own path /api/items/N. The requests are built
-- once in init(), so request() costs one table lookup.

local requests = {}
local count = 0
local next_index = 0

function init(args)
  local file = args[1]
  local header = args[2] or "X-API-Key"
  local prefix = args[3] or ""
  for line in io.lines(file) do
    if line ~= "" then
      count = count + 1
      local headers = {}
      headers[header] = prefix .. line
      requests[count] = wrk.format("GET", "/api/items/" .. count, headers)
    end
  end
  if count == 0 then
    error("no keys in " .. file)
  end
end

function request()
  next_index = next_index % count + 1
  return requests[next_index]
end
