-- wrk script: POST one pre-generated body per request, never reusing one (a reuse would be a replay).
-- env: BODIES (one body per line), EXPECT (Lua pattern a good answer contains), CONTENT_TYPE,
--      AUTH (optional Authorization header value).
-- Run with -t1 so one Lua state hands out the bodies.
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local idx = 0
local expect = os.getenv("EXPECT") or '"valid":%s*true'
ok, bad, non200, exhausted, answered = 0, 0, 0, 0, 0
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
if os.getenv("AUTH") and os.getenv("AUTH") ~= "" then wrk.headers["Authorization"] = os.getenv("AUTH") end

request = function()
  idx = idx + 1
  if idx > #bodies then
    exhausted = exhausted + 1
    idx = #bodies  -- no fresh body left: resend the last one (counted; a replay answers false)
  end
  return wrk.format(nil, wrk.path, nil, bodies[idx])
end

response = function(status, headers, body)
  answered = answered + 1
  if status ~= 200 then
    non200 = non200 + 1
    if non200 <= 3 then io.stderr:write("non200 " .. status .. ": " .. string.sub(body, 1, 200) .. "\n") end
  elseif string.find(body, expect) then
    ok = ok + 1
  else
    bad = bad + 1
    if bad <= 3 then io.stderr:write("unexpected: " .. string.sub(body, 1, 300) .. "\n") end
  end
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end

done = function(summary, latency, requests)
  local o, b, n2, ex, an = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); b = b + t:get("bad"); n2 = n2 + t:get("non200"); ex = ex + t:get("exhausted")
    an = an + t:get("answered")
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f " ..
    "expected=%d unexpected=%d non200=%d socket_errors=%d bodies_exhausted=%d answered=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000, o, b, n2,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, ex, an))
end
