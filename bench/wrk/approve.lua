-- POST .../access-requests/{id}/approve without a body, each pending id once. Environment:
-- BENCH_TOKEN (a site admin's token), BENCH_PATH (the collection path), BENCH_IDS (a file of
-- pending ids, one per line); thread n of N takes every Nth id.
local threads = {}
local ids = {}
local next_index = 1

function setup(thread)
    thread:set("index", #threads)
    table.insert(threads, thread)
end

function init()
    local all = {}
    for line in io.lines(os.getenv("BENCH_IDS")) do
        table.insert(all, line)
    end
    local count = tonumber(os.getenv("BENCH_THREADS"))
    for i = index + 1, #all, count do
        table.insert(ids, all[i])
    end
end

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
local base = os.getenv("BENCH_PATH")

function request()
    local id = ids[next_index]
    next_index = next_index + 1
    if id == nil then
        id = "00000000-0000-0000-0000-000000000000"
    end
    return wrk.format(nil, base .. "/" .. id .. "/approve")
end
