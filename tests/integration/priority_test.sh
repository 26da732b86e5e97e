#!/usr/bin/env bash
# call_priority: with a priority the threads a call waits on (the
# signalling loop, the media threads, each worker's loop) run SCHED_FIFO,
# and what they start (the worker's speech engine pool, the worker
# processes) runs with normal scheduling; by default (0) every thread is
# normal. Without the privilege (no CAP_SYS_NICE), the server says why and
# runs normally. Cases: fifo_call_path, normal_by_default.
# Case functions run through vg_case, which shellcheck cannot see.
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

vg_need ps chrt

# classes PID: the scheduling class of each of its threads (FF, TS, ...)
classes() {
	ps -L -o cls= -p "$1" | tr -d ' ' | sort | uniq -c | tr '\n' ' '
}
count_of() { # count_of CLASS PID
	ps -L -o cls= -p "$2" | tr -d ' ' | grep -c -x "$1"
}
worker_pid() {
	pgrep -P "$VG_SERVER_PID" | head -n 1
}

case_fifo_call_path() {
	local line policy w ff ts
	vg_need_server || return 1
	vg_wait_event agent_worker_registered 30 || return 1
	line=$(grep -m1 "\"event\":\"scheduling\"" "$VG_SERVER_LOG")
	policy=$(vg_jfield "$line" policy)
	w=$(worker_pid)
	[ -n "$w" ] || {
		vg_reason "no worker process under the server"
		return 1
	}
	echo "# $VG_CASE: server threads: $(classes "$VG_SERVER_PID"); worker: $(classes "$w")"
	if ! chrt -f 1 true 2>/dev/null; then
		# No privilege here: the reason is told, nothing is FIFO.
		[ "$policy" = normal ] && [[ $line == *CAP_SYS_NICE* ]] || {
			vg_reason "without the privilege the server logged: $line"
			return 1
		}
		[ "$(count_of FF "$VG_SERVER_PID")" = 0 ] || {
			vg_reason "FIFO threads although it was refused"
			return 1
		}
		return 0
	fi
	[ "$policy" = fifo ] || {
		vg_reason "scheduling event says \"$policy\": $line"
		return 1
	}
	# the signalling thread and both media threads
	ff=$(count_of FF "$VG_SERVER_PID")
	[ "$ff" -ge 3 ] || {
		vg_reason "$ff FIFO threads in the server, want the signalling thread and 2 media threads"
		return 1
	}
	# the worker's loop is FIFO, its 2 engine threads are not
	ff=$(count_of FF "$w")
	ts=$(count_of TS "$w")
	[ "$ff" = 1 ] && [ "$ts" -ge 2 ] || {
		vg_reason "worker threads: $(classes "$w"), want one FF (the loop) and the engine pool TS"
		return 1
	}
}

case_normal_by_default() {
	local line w
	vg_need_server || return 1
	vg_wait_event agent_worker_registered 30 || return 1
	line=$(grep -m1 "\"event\":\"scheduling\"" "$VG_SERVER_LOG")
	[ "$(vg_jfield "$line" policy)" = normal ] || {
		vg_reason "scheduling event: $line"
		return 1
	}
	w=$(worker_pid)
	if [ "$(count_of FF "$VG_SERVER_PID")" != 0 ] ||
		{ [ -n "$w" ] && [ "$(count_of FF "$w")" != 0 ]; }; then
		vg_reason "FIFO threads by default: server $(classes "$VG_SERVER_PID"), worker $(classes "$w")"
		return 1
	fi
}

KEYS="devkey: priority-test-secret-0123456789abcdef"
start() {
	vg_pick_port_into http_port 1 || return 1
	vg_server_start --agent pipeline --http_port "$http_port" --keys "$KEYS" \
		--agent_workers 1 --agent_engine_threads 2 --media_threads 2 "$@"
}
if start --call_priority 1; then
	vg_case fifo_call_path case_fifo_call_path
	vg_server_stop_case clean_exit_fifo
else
	vg_skip_cases "server did not start: $VG_REASON" fifo_call_path
fi
if start; then
	vg_case normal_by_default case_normal_by_default
	vg_server_stop_case clean_exit_normal
else
	vg_skip_cases "server did not start: $VG_REASON" normal_by_default
fi
vg_finish
