-- POST /api/v1/access/decide with varied bodies, for wrk (https://github.com/wg/wrk, Debian's `wrk`).
--
--   GATEHOUSE_BOOTSTRAP_TOKEN=ghb_... wrk -t2 -c64 -d20s --latency \
--       -s crates/gatehouse-bench/wrk/decide.lua http://127.0.0.1:8080 -- BODIES_FILE [TENANT]
--
-- BODIES_FILE holds one JSON decision body per line (written by `gatehouse-bench wrk-seed`);
-- TENANT is the `Gatehouse-Tenant` slug (default `bench`). The token is the server's bootstrap
-- token, read from the environment so it is never on a command line. Every request is formatted
-- once, in `init`; `request` hands them out round-robin, each thread from its own offset. No
-- `response` function: wrk then parses only the status line and framing, and counts every
-- non-2xx answer ("Non-2xx or 3xx responses"), which a clean run must not print.

local requests = {}
local next_index = 0
local thread_count = 0

function setup(thread)
  thread:set("thread_number", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  local path = args[1]
  if not path then
    error("usage: wrk ... -s decide.lua URL -- BODIES_FILE [TENANT]")
  end
  local token = os.getenv("GATEHOUSE_BOOTSTRAP_TOKEN")
  if not token or token == "" then
    error("set GATEHOUSE_BOOTSTRAP_TOKEN to the server's bootstrap token")
  end
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Gatehouse-Tenant"] = args[2] or "bench",
    ["Content-Type"] = "application/json",
  }
  for line in io.lines(path) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", "/api/v1/access/decide", headers, line)
    end
  end
  if #requests == 0 then
    error("no bodies in " .. path)
  end
  next_index = ((thread_number or 0) * 7919) % #requests
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function done(summary, latency, _)
  local errors = summary.errors
  io.write(string.format(
    "decide (wrk): %.0f decisions/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; %d requests, %d non-2xx, %d socket errors\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency:percentile(99.9) / 1e3, latency.max / 1e3,
    summary.requests, errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
