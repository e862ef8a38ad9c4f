#!/bin/bash
# usage: restart_test.sh MODE(router|pub) TAG
set -u
MODE=$1; TAG=$2; cd /work/wt/nodeclient
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
EP=tcp://127.0.0.1:$PORT
rm -f f_ana_$TAG f_bob_$TAG; mkfifo f_ana_$TAG f_bob_$TAG
startb() { .venv/bin/zchat broker --bind $EP --data-dir data_$TAG --fanout $MODE --log-file logs/broker_$TAG.log >> logs/broker_$TAG.out 2>&1 & BPID=$!; }
startb; sleep 1.5
ZCHAT_DEBUG=1 node minimal.js ana $EP < f_ana_$TAG > logs/ana_$TAG.out 2> logs/ana_$TAG.err & APID=$!
.venv/bin/zchat join bob --connect $EP --lang en < f_bob_$TAG > logs/bob_$TAG.out 2>&1 & RPID=$!
exec 3>f_ana_$TAG 4>f_bob_$TAG
sleep 1.5
echo "before restart: hello from node" >&3; sleep 0.5
echo "before restart: hello from ref" >&4; sleep 0.5
echo "=== kill -9 broker $BPID at $(date +%T.%N)" | tee -a logs/ana_$TAG.out
kill -9 $BPID; sleep ${GAP:-2}
startb; echo "=== restarted broker $BPID at $(date +%T.%N)" | tee -a logs/ana_$TAG.out
sleep 5
echo "after restart: node says hi" >&3; sleep 0.5
echo "@bob after restart: private from node" >&3; sleep 0.5
echo "after restart: ref says hi" >&4; sleep 0.5
echo "@ana after restart: private from ref" >&4; sleep 1
echo "sair" >&3; sleep 2
echo "/quit" >&4; sleep 1.5
exec 3>&- 4>&-
wait $APID; echo "ana exit=$?"
kill $RPID 2>/dev/null; kill $BPID; wait $BPID 2>/dev/null
rm -f f_ana_$TAG f_bob_$TAG
echo ---ana; cat logs/ana_$TAG.out; echo ---bob; cat logs/bob_$TAG.out
echo ---ana.err; grep -v 'PING' logs/ana_$TAG.err
