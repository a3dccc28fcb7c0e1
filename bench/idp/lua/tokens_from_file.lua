-- POST a form whose last field is a single-use value read from a file, one line per
-- request (authorization codes, refresh tokens): each value is sent exactly once.
-- wrk ... -s tokens_from_file.lua URL -- FILE PREFIX AUTHORIZATION SLACK
-- The body is PREFIX .. value. The thread stops when only SLACK values are left, so the
-- requests still being written when it stops never reuse a value (a reused code or
-- refresh token would revoke what it issued and count as a refusal).
local values = {}
local next_index = 0
local prefix = ""
local headers = {}
local stop_at = 0

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then
      values[#values + 1] = line
    end
  end
  prefix = args[2]
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  if args[3] ~= nil and args[3] ~= "" then
    headers["Authorization"] = args[3]
  end
  stop_at = #values - tonumber(args[4] or "0")
end

function request()
  next_index = next_index + 1
  local index = next_index
  if index > #values then
    index = #values
  end
  return wrk.format("POST", nil, headers, prefix .. values[index])
end

function response(status, headers, body)
  if next_index >= stop_at then
    wrk.thread:stop()
  end
end
