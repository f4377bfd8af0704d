#!/bin/sh
# The trivial agent of the end-to-end benchmark (tools/bench/e2e10k.js) in POSIX sh: the command adapter's contract
# with the least a process can cost (a node agent's start-up is ~150 ms of CPU per task, which is the agent's cost,
# not nx-vtm's). Reads the prompt from stdin, appends {"taskId","start","end"} to $TRIVIAL_AGENT_LOG (the benchmark
# counts tasks done by its lines) and answers "completed" at once. Changes no file (trivial-agent.js does, with
# --writes). Nothing here comes from task text but $VTM_TASK_ID, which the plugin has validated as a task id.
start=$(date +%s%3N)
cat > /dev/null
if [ -n "$TRIVIAL_AGENT_LOG" ]; then
  printf '{"taskId":"%s","start":%s,"end":%s}\n' "$VTM_TASK_ID" "$start" "$(date +%s%3N)" >> "$TRIVIAL_AGENT_LOG"
fi
printf '{"task_id":"%s","status":"completed","files_modified":[],"blockers":[]}\n' "$VTM_TASK_ID"
