-- POST one fixed form body, with HTTP Basic client authentication when given.
-- wrk ... -s post_form.lua URL -- BODY [AUTHORIZATION]
function init(args)
  wrk.method = "POST"
  wrk.body = args[1]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  if args[2] ~= nil and args[2] ~= "" then
    wrk.headers["Authorization"] = args[2]
  end
end
