#!/usr/bin/env bash
# Data-parallel training across machines, for real, on this one: two Linux network
# namespaces joined by a veth pair stand for two hosts with their own network stacks. Open
# MPI starts the ranks on them through an rsh agent that enters the host's namespace
# (ip netns exec) instead of ssh, and the ranks talk TCP over the veth link only (no shared
# memory). `ember train` runs 2 ranks (one per host, started by `mpirun -n 2 --host`) and 4
# ranks (two per host, started by `ember train --nproc 4 --hosts`), and each run's metrics
# must equal those of the same job on one host (`ember train --nproc N`).
#
#   scripts/check-multihost.sh [--if-possible] [EMBER]
#
# EMBER is the ember binary (default .build/debug/ember). Needs root (CAP_SYS_ADMIN and
# CAP_NET_ADMIN), iproute2 and Open MPI. With --if-possible, a machine where namespaces
# cannot be created is reported and skipped (exit 0) instead of failing.
set -euo pipefail
cd "$(dirname "$0")/.."

if_possible=false
if [ "${1:-}" = --if-possible ]; then if_possible=true; shift; fi
ember=$(realpath "${1:-.build/debug/ember}")

skip() {
    if $if_possible; then echo "check-multihost: skipped: $1"; exit 0; fi
    echo "check-multihost: $1" >&2
    exit 1
}

[ -x "$ember" ] || { echo "check-multihost: $ember is not an executable (build it: swift build --product ember)" >&2; exit 1; }
command -v ip >/dev/null || skip "the ip command is missing (Debian: iproute2; scripts/install-deps.sh installs it)"
command -v mpirun >/dev/null || skip "Open MPI's mpirun is missing (Debian: openmpi-bin; scripts/install-deps.sh installs it)"

# Host names are the namespaces' names, unique to this run (interface names: 15 bytes at most).
hosts=("emh$$a" "emh$$b")
subnet=10.231.0
work=$(mktemp -d)
cleanup() {
    for host in "${hosts[@]}"; do ip netns del "$host" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

if ! error=$(ip netns add "${hosts[0]}" 2>&1); then
    skip "cannot create network namespaces here ($error); needs root with CAP_SYS_ADMIN"
fi
ip netns add "${hosts[1]}"
ip link add "${hosts[0]}" type veth peer name "${hosts[1]}"
for i in 0 1; do
    host=${hosts[$i]}
    ip link set "$host" netns "$host"
    ip -n "$host" addr add "$subnet.$((i + 1))/24" dev "$host"
    ip -n "$host" link set lo up
    ip -n "$host" link set "$host" up
done

# Open MPI calls the agent as `agent HOST COMMAND...`; the command runs in HOST's namespace.
cat > "$work/netns-agent" <<'EOF'
#!/bin/sh
host=$1
shift
exec ip netns exec "$host" sh -c "$*"
EOF
chmod +x "$work/netns-agent"

if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
job=(--model mlp --train-size 64 --val-size 15 --batch-size 8 --schedule none --workers 0 --epochs 2)

# Compares two metrics.csv files: the same rows and header, numbers equal to 1e-5 relative,
# the last column (the epoch's seconds) ignored.
same_metrics() {
    paste -d '\n' "$1" "$2" | awk -F, -v tolerance=1e-5 '
        NR % 2 == 1 { split($0, expected); next }
        {
            if (NF != length(expected)) { print "row " NR / 2 ": " NF " columns, expected " length(expected); bad = 1; next }
            for (i = 1; i < NF; i++) {
                if ($i == expected[i]) continue
                difference = $i - expected[i]; if (difference < 0) difference = -difference
                scale = expected[i] < 0 ? -expected[i] : expected[i]; if (scale < 1) scale = 1
                if ($i !~ /^[-+0-9.eE]+$/ || difference > tolerance * scale) {
                    print "row " NR / 2 ", column " i ": " $i ", expected " expected[i]; bad = 1
                }
            }
        }
        END { exit bad }' && [ "$(wc -l < "$1")" = "$(wc -l < "$2")" ]
}

for ranks in 2 4; do
    per_host=$((ranks / 2))
    echo "check-multihost: $ranks ranks on one host"
    "$ember" train --nproc "$ranks" --out "$work/one-host-$ranks" "${job[@]}" > "$work/one-host-$ranks.log" 2>&1 \
        || { cat "$work/one-host-$ranks.log"; exit 1; }
    echo "check-multihost: $ranks ranks on hosts ${hosts[0]} and ${hosts[1]} ($subnet.1, $subnet.2), $per_host per host, over TCP"
    # Open MPI reads the same settings from OMPI_MCA_* variables: 2 ranks are started with
    # mpirun by hand, 4 by `ember train --nproc 4 --hosts`, in the first host's namespace.
    mca=(plm_rsh_agent="$work/netns-agent" plm_rsh_no_tree_spawn=1 btl=tcp,self
         btl_tcp_if_include="$subnet.0/24" oob_tcp_if_include="$subnet.0/24" rmaps_base_display_map=1)
    if [ "$ranks" = 2 ]; then
        launch=(mpirun -n "$ranks" --host "${hosts[0]}:$per_host,${hosts[1]}:$per_host" --oversubscribe --bind-to none
                -x EMBER_NUM_THREADS=1 -x OMP_NUM_THREADS=1 "$ember" train)
    else
        launch=("$ember" train --nproc "$ranks" --hosts "${hosts[0]}:$per_host,${hosts[1]}:$per_host")
    fi
    # The job takes well under a minute. Open MPI's launcher has been seen to wait forever for
    # a daemon it started through the namespace agent, before mapping the job (no "Data for
    # node" line, no rank started): that launch is stopped after 300 s and tried once more.
    for attempt in 1 2; do
        status=0
        rm -rf "$work/two-hosts-$ranks"
        timeout --kill-after=10 300 ip netns exec "${hosts[0]}" env "${mca[@]/#/OMPI_MCA_}" "${launch[@]}" \
            --out "$work/two-hosts-$ranks" "${job[@]}" > "$work/two-hosts-$ranks.log" 2>&1 || status=$?
        if [ "$status" = 124 ] && [ "$attempt" = 1 ] && ! grep -q "Data for node" "$work/two-hosts-$ranks.log"; then
            echo "check-multihost: Open MPI's launcher mapped no job within 300 s; trying once more" >&2
            # The daemons it started in the namespaces outlive the stopped mpirun.
            pkill -f "orted --daemonize.*$subnet" 2>/dev/null || true
            continue
        fi
        [ "$status" = 0 ] || { cat "$work/two-hosts-$ranks.log"; echo "check-multihost: the two-host job failed ($status)" >&2; exit 1; }
        break
    done
    [ -z "${MULTIHOST_SHOW_LOG:-}" ] || cat "$work/two-hosts-$ranks.log"
    # mpirun's map of the job must place ranks on both hosts.
    for host in "${hosts[@]}"; do
        grep -q "Data for node: $host" "$work/two-hosts-$ranks.log" \
            || { cat "$work/two-hosts-$ranks.log"; echo "check-multihost: no rank ran on $host" >&2; exit 1; }
    done
    grep -q "Data-parallel on $ranks ranks" "$work/two-hosts-$ranks.log" \
        || { cat "$work/two-hosts-$ranks.log"; echo "check-multihost: the two-host job did not train on $ranks ranks" >&2; exit 1; }
    if ! same_metrics "$work/one-host-$ranks/metrics.csv" "$work/two-hosts-$ranks/metrics.csv"; then
        echo "check-multihost: $ranks ranks on two hosts differ from one host:" >&2
        cat "$work/one-host-$ranks/metrics.csv" "$work/two-hosts-$ranks/metrics.csv" >&2
        exit 1
    fi
    echo "check-multihost: $ranks ranks on two hosts: the same metrics as on one host"
done
echo "check-multihost: ok"
