-- wrk script of the benchmarks: POST the body in $BENCH_BODY with the headers in
-- $BENCH_HEADERS ("name: value" lines); stop each thread after $BENCH_MAX_REQUESTS
-- responses when set (divided among the threads); print the summary as one JSON line.

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^%s*([^:]+):%s*(.-)%s*$")
  if name then
    wrk.headers[name] = value
  end
end

local limit = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0")
local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
local quota = 0
if limit > 0 then
  quota = math.ceil(limit / threads)
end
local seen = 0

-- Defined only when needed: wrk parses responses for Lua only if `response` exists.
if quota > 0 then
  function response(status, headers, body)
    seen = seen + 1
    if seen >= quota then
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nBENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
