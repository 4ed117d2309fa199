-- wrk script for POST /v1/messages: every request a new message, spread over
-- BENCH_SESSIONS sessions per wrk thread (so turns do not serialize behind one session).
-- At the end it prints one line "WRK_JSON {...}" that bench/throughput.py reads.

local threads = {}
local counter = 0
local sessions = tonumber(os.getenv("BENCH_SESSIONS") or "1000")
local prefix = os.getenv("BENCH_PREFIX") or "w"
-- BENCH_REFUSED=1: every body has an empty session, which Baton refuses (400) before
-- its gateway sees it: what its HTTP layer costs alone.
local refused = os.getenv("BENCH_REFUSED") == "1"

function setup(thread)
   thread:set("thread_id", #threads)
   table.insert(threads, thread)
end

request = function()
   counter = counter + 1
   if refused then
      return wrk.format("POST", "/v1/messages", {["Content-Type"] = "application/json"},
         string.format('{"session":"","user":"bench","text":"message %d"}', counter))
   end
   local body = string.format('{"session":"%s%d-%d","user":"bench","text":"message %d"}',
      prefix, thread_id, counter % sessions, counter)
   return wrk.format("POST", "/v1/messages", {["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
      '"status_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.max))
end
