#!/usr/bin/env bash
# A failover, end to end, with the `userstore` tool and a local redis-server
# (docs/scaling.md, "Runbook"):
#   1. start redis-server (append-only, fsync per write) on a unix socket;
#   2. a leader replays N user creates, shipping each synchronously to the
#      stream users-p0; a follower follows it;
#   3. the leader is killed (-9);
#   4. the follower is promoted (`replay --promote`) and asked for every user
#      the leader acknowledged: each must be there;
#   5. the old leader, restarted on its directory, must be refused.
#
# Usage: failover.sh USERSTORE_BINARY [N]   (N defaults to 100000)
# Exit status 0 when every step held; it prints what it did.
set -euo pipefail

cli="$1"
count="${2:-100000}"
redis="$(command -v redis-server || echo /usr/bin/redis-server)"
[ -x "$redis" ] || { echo "failover.sh: redis-server is not installed"; exit 77; }

work="$(mktemp -d "${TMPDIR:-/tmp}/userstore-failover.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$redis" --port 0 --unixsocket "$work/redis.sock" --dir "$work" --save "" \
  --appendonly yes --appendfsync always --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/redis.sock" ] && break; sleep 0.1; done
url="redis+unix://$work/redis.sock?stream=users-p0"

# 2. The leader: the creates, then it waits on its input (a live process).
python3 - "$count" >"$work/creates.jsonl" <<'EOF'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"method": "POST", "url": "/v1/Users", "form": {"Identity": "user%d" % i}}))
EOF
mkfifo "$work/leader.in"
"$cli" replay --data-dir "$work/leader" --changelog "$url" --changelog-mode sync \
  <"$work/leader.in" >"$work/leader.out" 2>"$work/leader.err" &
leader=$!
pids+=($leader)
exec 3>"$work/leader.in"   # keeps the leader's input open
cat "$work/creates.jsonl" >&3
for _ in $(seq 600); do
  [ "$(wc -l <"$work/leader.out")" -ge "$count" ] && break
  sleep 0.5
done
acked=$(grep -c '"status":201' "$work/leader.out" || true)
echo "leader: $acked of $count creates acknowledged"

"$cli" follow "$url" --data-dir "$work/follower" --until-caught-up --timeout 600

# 3. The leader dies.
kill -9 "$leader"
wait "$leader" 2>/dev/null || true
exec 3>&-
echo "leader killed"

# 4. The follower is promoted and asked for every acknowledged user.
paste -d '\n' "$work/creates.jsonl" "$work/leader.out" | python3 -c '
import json, sys
lines = sys.stdin.read().splitlines()
for request, answer in zip(lines[0::2], lines[1::2]):
    if json.loads(answer)["status"] == 201:
        identity = json.loads(request)["form"]["Identity"]
        print(json.dumps({"method": "GET", "url": "/v1/Users/" + identity}))
' >"$work/reads.jsonl"
"$cli" replay --data-dir "$work/follower" --changelog "$url" --changelog-mode sync --promote \
  <"$work/reads.jsonl" >"$work/reads.out"
served=$(grep -c '"status":200' "$work/reads.out" || true)
echo "promoted follower: serves $served of $acked acknowledged users"
[ "$served" -eq "$acked" ] || { echo "failover.sh: acknowledged users were lost"; exit 1; }

# 5. The old leader, restarted, cannot lead.
if "$cli" replay --data-dir "$work/leader" --changelog "$url" </dev/null 2>"$work/restart.err"; then
  echo "failover.sh: the deposed leader was allowed to lead"; exit 1
fi
echo "old leader, restarted: $(cat "$work/restart.err")"
echo "ok"
