-- wrk: every request POSTs the JSON body in the file $EMBER_BENCH_BODY (bench/serve_load.py).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = assert(io.open(os.getenv("EMBER_BENCH_BODY"), "rb"))
wrk.body = file:read("*a")
file:close()
