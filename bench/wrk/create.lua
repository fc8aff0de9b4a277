-- POST /v1/sites/{site}/access-requests on behalf of a new external subject (a fresh account id
-- per request). Environment: BENCH_TOKEN (a site member's token), BENCH_PATH, BENCH_RUN (unique
-- per run).
local counter = 0
local threads = 0
local prefix

-- Account ids unique across threads (index) and runs (BENCH_RUN).
function setup(thread)
    threads = threads + 1
    thread:set("index", threads)
end

function init()
    prefix = "perf-" .. os.getenv("BENCH_RUN") .. "-" .. index
end

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"

function request()
    counter = counter + 1
    local subject = prefix .. "-" .. counter
    local body = '{"product_key":"jira-software","reason":"perf harness","subject":{"account_id":"'
        .. subject .. '","email":"' .. subject .. '@partner.test","display_name":"Perf ' .. counter .. '"}}'
    return wrk.format(nil, nil, nil, body)
end
