-- GET PATH?since=CURSOR with HTTP Basic, the cursor drawn at random from [LOW, HIGH]
-- for each request (one page of the revocation feed each).
-- wrk ... -s get_cursor.lua URL -- AUTHORIZATION LOW HIGH
local low, high = 0, 0

function init(args)
  wrk.headers["Authorization"] = args[1]
  low = tonumber(args[2] or "0")
  high = tonumber(args[3] or "0")
  math.randomseed(os.time())
end

function request()
  local cursor = low
  if high > low then
    cursor = math.random(low, high)
  end
  return wrk.format("GET", wrk.path .. "?since=" .. cursor)
end
