#!/usr/bin/env bash
# The README's Slurm job, run: a one-node Slurm cluster on 127.0.0.1 (Debian's slurmctld, slurmd
# and munge, set up in a scratch folder with their own ports, key and state, and torn down at the
# end), scripts/scale.sbatch submitted with `sbatch --wait` as a user submits it: srun starts one
# torchrun agent, which starts 2 ranks on Gloo. The job must finish, write its run (world size 2),
# and end where one process ends (the same run, losses and weights within 1e-5).
# Skipped (77) where the Slurm and munge daemons are not installed or this is not root (slurmd
# runs jobs as their user and must be root to do so).
set -u
MABERT="$1"; TORCHRUN="$2"; DEMO="$3"; ROOT="$4"
for b in slurmctld slurmd munged sbatch scontrol; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || { echo "no $b (Debian: slurmctld slurmd slurm-client munge)"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "not root: slurmd cannot start jobs"; exit 77; }
[ -x "$TORCHRUN" ] || { echo "no torchrun at $TORCHRUN"; exit 77; }
. "$(dirname "$0")/lib.sh"
export PATH="$PATH:/usr/sbin"
S="$W/slurm"; mkdir -p "$S/state" "$S/spool"
teardown() {
  for p in slurmd slurmctld munged; do [ -f "$S/$p.pid" ] && kill "$(cat "$S/$p.pid")" 2>/dev/null; done
  sleep 0.5; rm -rf "$W"
}
trap teardown EXIT

# munge: its own key and socket.
dd if=/dev/urandom of="$S/munge.key" bs=1024 count=1 status=none && chmod 400 "$S/munge.key"
munged --force --key-file "$S/munge.key" --socket "$S/munge.sock" --pid-file "$S/munged.pid" \
  --log-file "$S/munged.log" --seed-file "$S/munged.seed" || { bad "munged did not start"; exit 1; }

# Slurm: one node, "localhost" at 127.0.0.1, with this machine's CPUs and memory.
read -r cpus mem < <(slurmd -C | python3 -c 'import sys,re; t=sys.stdin.read(); print(re.search(r"CPUs=(\d+)", t)[1], re.search(r"RealMemory=(\d+)", t)[1])')
cat >"$S/slurm.conf" <<CONF
ClusterName=mabert-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$(port)
SlurmdPort=$(port)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge.sock
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$S/slurm.conf"
slurmctld -i || { bad "slurmctld did not start"; tail "$S/slurmctld.log"; exit 1; }
slurmd -N localhost || { bad "slurmd did not start"; tail "$S/slurmd.log"; exit 1; }
for _ in $(seq 100); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 0.2; done
sinfo -h -o %T | grep -q idle && ok "a one-node Slurm on 127.0.0.1: $(sinfo -h -o '%P %D node(s) %c CPUs %T')" \
  || { bad "the Slurm node never became idle: $(sinfo -h 2>&1)"; tail -5 "$S/slurmctld.log" "$S/slurmd.log"; exit 1; }

# The job: the README's script, 2 ranks on the node, the CTest equivalence run's settings.
"$MABERT" tokenizer train --input "$DEMO" --out "$W/tok" --vocab 800 >/dev/null 2>&1 || bad "tokenizer"
cat >"$W/cfg.json" <<'JSON'
{"schedule": "MMTMMT", "d_model": 64, "n_heads": 4, "d_ffn": 128, "d_state": 8, "max_len": 64, "dropout": 0.1}
JSON
pre=(pretrain --corpus "$DEMO" --tokenizer "$W/tok.model" --config "$W/cfg.json" --max-len 32 --max-sentences 400
     --log-every 1 --steps 20 --batch 8 --lr 2e-3 --save-every 5)
"$MABERT" "${pre[@]}" --out "$W/one" --threads 2 --quiet >/dev/null 2>"$W/one.err" || { bad "1-process run"; tail "$W/one.err"; }
t0=$(date +%s)
if (cd "$ROOT" && NPROC_PER_NODE=2 MABERT_RDZV_PORT=$(port) MAX_RESTARTS=0 timeout 600 \
      sbatch --wait --nodes=1 --cpus-per-task="$cpus" --output="$W/job.out" scripts/scale.sbatch "${pre[@]}" --out "$W/slurm-run" \
      >"$W/sbatch.out" 2>&1); then
  ok "sbatch --wait scripts/scale.sbatch: $(cat "$W/sbatch.out" | tr '\n' ' ')— finished in $(( $(date +%s) - t0 )) s"
else
  bad "the Slurm job failed: $(tr '\n' ' ' <"$W/sbatch.out")"; tail -20 "$W/job.out"; tail -5 "$S/slurmd.log"
fi
python3 - "$W/slurm-run/run.json" <<'PY' && ok "the job's run: world size 2 on gloo, finished at step 20" || bad "the job's run.json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["world_size"] == 2 and d["backend"] == "gloo", (d["world_size"], d["backend"])
PY
"$MABERT" runs check "$W/slurm-run" --json | python3 -c "import json,sys; assert json.load(sys.stdin)['step']==20" \
  || bad "the job's run did not reach step 20"
compare "$W/one" "$W/slurm-run" 1e-5 1e-5 20 && ok "the Slurm job (2 ranks, dropout 0.1) = 1 process" || bad "the Slurm job differs from 1 process"
exit $fail
