-- wrk script for bench/forward_auth.py: GET with the headers given on the command line; counts
-- answers other than 200 (a forward-auth refusal would show here) and prints one RESULT line.
non200, answered = 0, 0

response = function(status, headers, body)
  answered = answered + 1
  if status ~= 200 then
    non200 = non200 + 1
    if non200 <= 3 then io.stderr:write("non200 " .. status .. "\n") end
  end
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end

done = function(summary, latency, requests)
  local n2, an = 0, 0
  for _, t in ipairs(threads) do n2 = n2 + t:get("non200"); an = an + t:get("answered") end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f non200=%d socket_errors=%d answered=%d\n",
    summary.requests, summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, n2,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, an))
end
