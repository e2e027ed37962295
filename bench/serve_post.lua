-- wrk: every request POSTs the body in the file $EMBER_BENCH_BODY (bench/serve_load.py), JSON
-- unless $EMBER_BENCH_CONTENT_TYPE says otherwise; $EMBER_BENCH_HEADER_LENGTH, when set, is
-- the Inference-Header-Content-Length of a binary tensor data request.
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("EMBER_BENCH_CONTENT_TYPE") or "application/json"
local headerLength = os.getenv("EMBER_BENCH_HEADER_LENGTH")
if headerLength then wrk.headers["Inference-Header-Content-Length"] = headerLength end
local file = assert(io.open(os.getenv("EMBER_BENCH_BODY"), "rb"))
wrk.body = file:read("*a")
file:close()
