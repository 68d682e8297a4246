#!/bin/sh
# kennel fence watchdog: kills this node's fenceable containers once the agent's fence deadline
# has passed without the agent pushing it back — also when the agent is dead. The agent starts it
# (src/agent/fence-watchdog.ts) as `/bin/sh <this file> <dir>`, detached, and a restarted agent
# reuses it. POSIX sh with builtins only (read, kill, case, printf); `sleep` and `date` are the
# only programs it runs (date only to log).
#
# <dir>/state — written by the agent, atomically (temp file + rename), after every lease renewal
# that succeeded:
#   armed <cs> <boot_id>   kill once /proc/uptime >= <cs> (centiseconds since boot); a deadline
#                          of another boot (/proc/sys/kernel/random/boot_id) counts as passed
#   disarmed | stop        kill nothing | exit
#   linger <s>             exit once the deadline has been past this long (0: never)
#   pidfiles <dir>         each <dir>/*/pgid holds "<pgid> <starttime>" (process runtime)
#   pg <pgid> <starttime>  one process group, its leader's /proc start time (PID-reuse guard)
#   cgroup <dir>           a cgroup: every process in it and below it (containerd)
# <dir>/watchdog.log — one line for each thing it did.
#
# Past the deadline it kills every target (SIGKILL), and again every half second whatever
# appears, until the agent writes a later deadline.

dir=$1
[ -n "$dir" ] || exit 2
state=$dir/state
logf=$dir/watchdog.log
cd / || exit 2
rp=')'
boot=
{ read -r boot </proc/sys/kernel/random/boot_id; } 2>/dev/null
frac=0
sleep 0.01 2>/dev/null && frac=1

# now: /proc/uptime in centiseconds (the kernel prints two decimals).
now_cs() {
  { read -r up _ </proc/uptime; } 2>/dev/null || return 1
  now=${up%%.*}${up#*.}
  while :; do case $now in 0?*) now=${now#0} ;; *) break ;; esac; done
}

log() {
  now_cs
  printf '%s uptime=%s pid=%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ 2>/dev/null)" "$now" "$$" "$*" >>"$logf" 2>/dev/null
}

# Read the state file; a file that does not parse leaves the last good state in place.
mode=none deadline=0 sboot= linger=600 cgs=
load() {
  [ -f "$state" ] || { mode=none; return; }
  m= d= b= l=600 c=
  { while read -r k v w _; do
      case $k in
        armed) m=armed d=$v b=$w ;;
        disarmed) m=disarmed ;;
        stop) m=stop ;;
        linger) l=$v ;;
        cgroup) c="$c $v" ;;
      esac
    done <"$state"; } 2>/dev/null
  case $m in '') return ;; esac
  case $d in '' | *[!0-9]*) [ "$m" = armed ] && return ;; esac
  case $l in '' | *[!0-9]*) l=600 ;; esac
  [ "$b" = - ] && b=
  mode=$m deadline=${d:-0} sboot=$b linger=$l
  [ -n "$c" ] && cgs=$c
}

# The start time (field 22) of /proc/$1/stat, in $st ('' when gone).
start_of() {
  st=
  { read -r line </proc/"$1"/stat; } 2>/dev/null || return 1
  set -- ${line##*"$rp"}
  [ $# -ge 20 ] || return 1
  shift 19
  st=$1
}

# A process group to kill: its leader is alive with the start time recorded, or the leader is
# gone and members remain (a pid stays in use while it is a group's id, so no other group can
# have taken it).
groups= roots=
add_group() {
  case $1 in '' | *[!0-9]* | 0 | 1 | "$$") return ;; esac
  case " $groups " in *" $1 "*) return ;; esac
  if start_of "$1"; then
    [ "$st" = "$2" ] || return
    roots="$roots $1"
  else
    kill -0 -"$1" 2>/dev/null || return
  fi
  groups="$groups $1"
}

# Freeze the groups, then every descendant of their leaders (a program may have moved to a group
# or session of its own: a terminal program under script, setsid) until no new one appears, then
# SIGKILL them all. One pass over /proc collects "pid:ppid:pgrp" of every process; the
# descendants are found in that list. A frozen process cannot fork, so only a descendant found
# outside the groups (not frozen while the pass ran) calls for another pass.
kill_groups() {
  for g in $groups; do kill -STOP -"$g" 2>/dev/null; done
  all=" $roots "
  again=1
  while [ $again = 1 ]; do
    again=0
    tree=
    for s in /proc/[0-9]*/stat; do
      { read -r line <"$s"; } 2>/dev/null || continue
      set -- ${line##*"$rp"}
      p=${s#/proc/}
      tree="$tree ${p%/stat}:$2:$3"
    done
    more=1
    while [ $more = 1 ]; do
      more=0
      for e in $tree; do
        p=${e%%:*}
        case $all in *" $p "*) continue ;; esac
        pp=${e#*:}
        case $all in
          *" ${pp%%:*} "*)
            all="$all$p "
            more=1
            case " $groups " in
              *" ${pp#*:} "*) ;;
              *)
                kill -STOP "$p" 2>/dev/null
                again=1
                ;;
            esac
            ;;
        esac
      done
    done
  done
  for g in $groups; do kill -KILL -"$g" 2>/dev/null && killed="$killed pg:$g"; done
  for p in $all; do
    case " $groups " in *" $p "*) continue ;; esac
    kill -KILL "$p" 2>/dev/null && killed="$killed pid:$p"
  done
}

# Everything in a cgroup and below: cgroup.kill (cgroup v2, Linux 5.14+) when the subtree is
# populated; otherwise SIGKILL each process listed, again until none is left (a fork racing a
# pass lands in the same cgroup, so the next pass finds it).
kill_cgroup() {
  cg=$1
  [ -d "$cg" ] || return
  if [ -f "$cg/cgroup.kill" ] && [ -f "$cg/cgroup.events" ]; then
    pop=0
    { while read -r k v; do [ "$k" = populated ] && pop=$v; done <"$cg/cgroup.events"; } 2>/dev/null
    [ "$pop" = 1 ] || return
    if { echo 1 >"$cg/cgroup.kill"; } 2>/dev/null; then
      killed="$killed cgroup:$cg"
      return
    fi
  fi
  n=0
  while [ $n -lt 20 ]; do
    found=0
    for f in "$cg/cgroup.procs" "$cg"/*/cgroup.procs "$cg"/*/*/cgroup.procs; do
      [ -f "$f" ] || continue
      { while read -r p; do
          start_of "$p" || continue
          case $line in *"$rp Z "*) continue ;; esac
          kill -KILL "$p" 2>/dev/null && found=1 && killed="$killed pid:$p"
        done <"$f"; } 2>/dev/null
    done
    [ $found = 0 ] && return
    n=$((n + 1))
  done
}

# One pass over the targets (unless the agent has written a later deadline meanwhile).
kill_pass() {
  killed= groups= roots=
  { while read -r k rest; do
      case $k in
        armed)
          set -- $rest
          case $1 in '' | *[!0-9]*) ;; *) [ "$1" -gt "$now" ] && { [ "$2" = "$boot" ] || [ "$2" = - ]; } && return ;; esac
          ;;
        pg) add_group $rest ;;
        pidfiles)
          for f in "$rest"/*/pgid; do
            [ -f "$f" ] || continue
            a= b=
            { read -r a b <"$f"; } 2>/dev/null
            add_group "$a" "$b"
          done
          ;;
        cgroup) kill_cgroup "$rest" ;;
      esac
    done <"$state"; } 2>/dev/null
  [ -n "$groups" ] && kill_groups
  # (A zombie leader, not reaped yet, is signalled again on every pass: logged once.)
  if [ -n "$killed" ] && [ "$killed" != "$logged" ]; then
    log "fence deadline passed: killed$killed"
    logged=$killed
  fi
}

# Sleep $1 centiseconds (whole seconds without fractional sleep).
nap() {
  if [ "$1" -ge 100 ] || [ $frac = 0 ]; then
    sleep 1
  elif [ "$1" -gt 0 ]; then
    sleep "0.$(printf '%02d' "$1")"
  fi
}

log "started (watching $state)"
past=
while :; do
  if [ ! -d "$dir" ]; then
    # The node's data dir is gone (a wiped node, a test's temp dir): so is the node. Its fenced
    # cgroups go too, when empty (and their common parent, when no other node uses it).
    for c in $cgs; do rmdir "$c" 2>/dev/null && rmdir "${c%/*}" 2>/dev/null; done
    exit 0
  fi
  load
  if [ "$mode" = stop ]; then
    log "stopped by the agent"
    exit 0
  fi
  now_cs || { sleep 1; continue; }
  due=0
  if [ "$mode" = armed ]; then
    if [ -n "$sboot" ] && [ -n "$boot" ] && [ "$sboot" != "$boot" ]; then
      due=1
    elif [ "$now" -ge "$deadline" ]; then
      due=1
    fi
  fi
  if [ $due = 1 ]; then
    if [ "$past" != "$deadline" ]; then
      past=$deadline logged=
      since=$now
      log "fence deadline passed (deadline=$deadline boot=${sboot:-?}): killing the fenceable containers"
    fi
    kill_pass
    if [ "$linger" -gt 0 ] && [ $((now - since)) -ge $((linger * 100)) ]; then
      log "exiting: the deadline passed ${linger}s ago and the agent has not renewed since"
      exit 0
    fi
    nap 50
  else
    past=
    if [ "$mode" = armed ]; then nap $((deadline - now)); else sleep 1; fi
  fi
done
